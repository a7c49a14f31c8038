import * as fs from 'node:fs';
import * as path from 'node:path';

// A newcomer follows the README into docs/: every relative link there leads
// to a file that exists.
const root = path.join(__dirname, '..');
const pages = [
  'README.md',
  ...fs.readdirSync(path.join(root, 'docs')).map((f) => path.join('docs', f)),
].filter((f) => f.endsWith('.md'));

it.each(pages)('%s links only to files that exist', (page) => {
  const text = fs.readFileSync(path.join(root, page), 'utf8');
  const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1].split('#')[0])
    .filter((t) => t && !/^[a-z]+:/i.test(t));
  for (const target of targets) {
    const file = path.resolve(path.dirname(path.join(root, page)), target);
    expect([target, fs.existsSync(file)]).toEqual([target, true]);
  }
});

it('the README links every page of the operator’s guide', () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  for (const page of pages.filter((p) => p.startsWith('docs'))) expect(readme).toContain(`](${page})`);
});
