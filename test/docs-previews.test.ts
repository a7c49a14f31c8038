import * as fs from 'node:fs';
import * as path from 'node:path';
import { serveUsage } from '../src/cli/serve-command';
import { taesdFiles } from '../src/pipeline/preview/taesd-preview';

// The docs say where a TAESD decoder goes and what `giraffe serve --device` does: kept in step
// with the code that looks for the files and parses the flag.
const root = path.resolve(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

it('docs/previews.md names every place a worker looks for a TAESD decoder, and where to get one', () => {
  const doc = read('docs/previews.md');
  for (const file of taesdFiles) expect(doc).toContain(`<model>/${file}`);
  expect(doc).toContain('madebyollin/taesd');
  expect(doc).toMatch(/deinferno\/taesd-onnx[\s\S]*vae_decoder\/model\.onnx/);
  expect(read('README.md')).toContain('[docs/previews.md](docs/previews.md)');
});

it('the README documents `giraffe serve --device` as serve --help gives it', () => {
  const flags = /\[--device ([^\]]+)\]/.exec(serveUsage)![1];
  expect(read('README.md')).toContain(`giraffe serve [--host HOST] [--port PORT] [--device ${flags}]`);
});

it('docs/models.md names known-good repositories, with their revision and layout, for every family giraffe runs', () => {
  const doc = read('docs/models.md');
  const table = doc.slice(doc.indexOf('### Real exports, per family'));
  const rows = table
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| family') && !line.startsWith('| ---'))
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const families = rows.map((cells) => cells[1]);
  for (const family of ['SD 1.5', 'SD 2.1', 'SD-Turbo', 'SDXL base 1.0', 'SDXL-Turbo'])
    expect(families.some((f) => f.startsWith(family))).toBe(true);
  for (const cells of rows) {
    // A Hub id `giraffe models pull` takes, a pinned revision, and the layout it was checked in.
    expect(cells[2]).toMatch(/^`[\w.-]+\/[\w.-]+`/);
    expect(cells[3]).toMatch(/commit `[0-9a-f]{7}`/);
    expect(cells[6]).not.toBe('');
  }
  expect(read('README.md')).toContain('docs/models.md');
});
