import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp } from '../../src/api';
import { loadConfig } from '../../src/config';
import { redactedPaths, requestSerializers } from '../../src/logging';
import { createQueueDriver } from '../../src/queue';
import { WorkerService } from '../../src/worker';
import { formBody, gradientPng } from '../helpers/edit-images';
import { describeWithShared, sharedPath } from '../helpers/shared';

// Input images never reach a log line: not the API's request logs (at trace
// level, for accepted and refused edits, JSON and multipart), not the job's
// events, not the worker's lines. The job record names them by hash only.
describeWithShared(['goldens', 'e2e2', 'img2img-diffusers'], 'edit logging', () => {
  it('never logs an input image, in base64 or otherwise, at any level', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-edit-logs-'));
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const config = loadConfig({ DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'trace' });
    const driver = createQueueDriver({ dataDir: config.DATA_DIR });
    const logger = pino(
      {
        level: 'trace',
        redact: { paths: redactedPaths, censor: '[redacted]' },
        serializers: requestSerializers,
      },
      sink,
    );
    const model = sharedPath('goldens', 'e2e2', 'img2img-diffusers');
    const app = await buildApp({ config, driver, logger, extraModels: { img2img: model } });
    const worker = await WorkerService.start({ driver, models: [{ id: 'img2img', dir: model }], logger });
    const png = await gradientPng(64, 64);
    const b64 = png.toString('base64');
    const events: string[] = [];
    try {
      const json = await app.inject({
        method: 'POST',
        url: '/v1/generate?wait=true',
        payload: { prompt: 'log me', model: 'img2img', steps: 2, image: b64 },
      });
      expect(json.json().status).toBe('succeeded');
      const form = await app.inject({
        method: 'POST',
        url: '/v1/generate?wait=true',
        ...(await formBody({ prompt: 'log me too', model: 'img2img', steps: 2, image: png })),
      });
      expect(form.json().status).toBe('succeeded');
      // Refused: a truncated PNG, as base64 and as a file part.
      const cut = png.subarray(0, png.length - 40);
      const refused = await app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: 'x', model: 'img2img', image: cut.toString('base64') },
      });
      expect(refused.statusCode).toBe(400);
      expect(refused.body).not.toContain(cut.toString('base64').slice(0, 40));
      await app.inject({
        method: 'POST',
        url: '/v1/generate',
        ...(await formBody({ prompt: 'x', model: 'img2img', image: cut })),
      });
      for (const job of await driver.queue.list()) {
        events.push(JSON.stringify(job), JSON.stringify(await driver.events.history(job.id, 0)));
      }
    } finally {
      await app.close();
      await worker.stop(0);
      await driver.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const all = lines.join('');
    expect(all).toContain('request completed');
    expect(all).toContain('job succeeded');
    for (const text of [all, ...events]) {
      // Any 40-character run of the base64, the PNG's bytes as hex, or as a JSON byte array.
      for (let i = 0; i + 40 <= b64.length; i += 40) expect(text).not.toContain(b64.slice(i, i + 40));
      expect(text).not.toContain(png.subarray(16, 48).toString('hex'));
      expect(text).not.toContain(`[${[...png.subarray(0, 16)].join(',')}`);
    }
  }, 120_000);
});
