import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FileResultStore } from '../../src/queue';
import { sleep, waitFor } from './queue-fixtures';

describe('FileResultStore', () => {
  let dir: string;
  const stores: FileResultStore[] = [];
  const open = (retentionMs = 60_000) => {
    const store = new FileResultStore(path.join(dir, 'results'), retentionMs);
    stores.push(store);
    return store;
  };
  const png = { data: Buffer.from([0x89, 0x50, 0x4e, 0x47]), content_type: 'image/png' };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-results-'));
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('stores images with their content type under <dir>/<jobId>/<index>, leaving no temp files', async () => {
    const store = open();
    await store.put('job-1', 0, png);
    await store.put('job-1', 1, { data: Buffer.from('jpeg'), content_type: 'image/jpeg' });
    expect(await store.get('job-1', 0)).toEqual(png);
    expect(await store.get('job-1', 1)).toEqual({ data: Buffer.from('jpeg'), content_type: 'image/jpeg' });
    expect(await store.get('job-1', 2)).toBeUndefined();
    expect(await store.get('job-2', 0)).toBeUndefined();
    expect(fs.readdirSync(path.join(dir, 'results', 'job-1')).sort()).toEqual(['0', '0.json', '1', '1.json']);

    await store.delete('job-1');
    expect(await store.get('job-1', 0)).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'results', 'job-1'))).toBe(false);
  });

  it('refuses ids and indexes that could leave its directory', async () => {
    const store = open();
    fs.writeFileSync(path.join(dir, 'secret'), 'no');
    for (const id of ['..', '../x', 'a/b', '.', '', 'a\\b', '%2e%2e']) {
      await expect(store.put(id, 0, png)).rejects.toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID' });
      expect(await store.get(id, 0)).toBeUndefined();
      await store.delete(id);
    }
    await expect(store.put('job', -1, png)).rejects.toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID' });
    await expect(store.put('job', 1.5, png)).rejects.toMatchObject({ code: 'GIRAFFE_ERR_REQUEST_INVALID' });
    expect(fs.readFileSync(path.join(dir, 'secret'), 'utf8')).toBe('no');
  });

  it('expires images on read and by its sweep', async () => {
    const store = open(150);
    await store.put('job-1', 0, png);
    await store.put('job-2', 0, png);
    expect(await store.get('job-1', 0)).toEqual(png);
    await sleep(200);
    expect(await store.get('job-1', 0)).toBeUndefined();
    // job-2 is never read: the sweep removes it, directory and all.
    await waitFor('the sweep', () => !fs.existsSync(path.join(dir, 'results', 'job-2')), 5000);
  });

  it('sweeps debris of interrupted writes but not writes in progress', async () => {
    const store = open();
    const jobDir = path.join(dir, 'results', 'job-1');
    fs.mkdirSync(jobDir, { recursive: true });
    fs.writeFileSync(path.join(jobDir, '0.tmp-old'), 'x');
    fs.writeFileSync(path.join(jobDir, '1.tmp-new'), 'x');
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(path.join(jobDir, '0.tmp-old'), old, old);
    await store.sweep();
    expect(fs.readdirSync(jobDir)).toEqual(['1.tmp-new']);
  });
});
