import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import { buildApp } from '../../src/api';
import { loadConfig } from '../../src/config';
import { redactedPaths, requestSerializers } from '../../src/logging';
import { ensureDemoModel } from '../../src/pipeline';
import { createQueueDriver } from '../../src/queue';
import { announceStandInWorker } from '../helpers/stand-in-worker';

// Secrets must never reach a log line: API keys (headers) and stream tokens (query strings).
it('logs requests with their ids but never an API key or a stream token', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-logs-'));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const key = 'sk-secret-key-0123456789';
  const config = loadConfig({ DATA_DIR: path.join(tmp, 'data'), API_KEYS: key, LOG_LEVEL: 'info' });
  const driver = createQueueDriver({ dataDir: config.DATA_DIR });
  // A live worker for demo (it takes no jobs), so the job below is accepted and has a stream token.
  await announceStandInWorker(driver, ['demo']);
  const logger = pino(
    {
      level: 'info',
      redact: { paths: redactedPaths, censor: '[redacted]' },
      serializers: requestSerializers,
    },
    sink,
  );
  const app = await buildApp({
    config,
    driver,
    logger,
    extraModels: { demo: await ensureDemoModel(config.DATA_DIR) },
  });
  try {
    const created = await app.inject({
      method: 'POST',
      url: '/v1/generate',
      headers: { authorization: `Bearer ${key}` },
      payload: { prompt: 'log me', steps: 2, width: 64, height: 64 },
    });
    expect(created.statusCode).toBe(202);
    const token = created.json().stream_token as string;
    await app.inject({
      method: 'GET',
      url: `/v1/jobs/${created.json().id}?token=${token}`,
      headers: { 'x-api-key': key },
    });
    await app.inject({
      method: 'GET',
      url: '/v1/jobs',
      headers: { authorization: 'Bearer wrong-key-987654321' },
    });
  } finally {
    await app.close();
    await driver.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const all = lines.join('');
  expect(all).toContain('request completed');
  expect(all).toContain('"reqId"');
  expect(all).not.toContain(key);
  expect(all).not.toContain('wrong-key-987654321');
  expect(all).not.toMatch(/token=[A-Za-z0-9_-]{20}/);
});

// Issue 17, item 18: a client's oversized WebSocket frame was logged at error level with a stack trace.
it('logs a WebSocket frame over the size limit as a warning without a stack', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-logs-'));
  const entries: Record<string, unknown>[] = [];
  let logged: () => void = () => undefined;
  const warned = new Promise<void>((resolve) => (logged = resolve));
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      const entry = JSON.parse(chunk.toString()) as Record<string, unknown>;
      entries.push(entry);
      // The first warning or worse about a request (the socket's): what the server said about the frame.
      if (Number(entry.level) >= 40 && entry.reqId !== undefined) logged();
      done();
    },
  });
  const config = loadConfig({ DATA_DIR: path.join(tmp, 'data'), LOG_LEVEL: 'info' });
  const driver = createQueueDriver({ dataDir: config.DATA_DIR });
  const logger = pino({ level: 'info', serializers: requestSerializers }, sink);
  const app = await buildApp({ config, driver, logger, extraModels: {} });
  try {
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const socket = new WebSocket(`${base.replace('http:', 'ws:')}/v1/stream`);
    await new Promise((resolve) => socket.once('open', resolve));
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send('x'.repeat(64 * 1024 + 1));
    expect(await closed).toBe(1009);
    await warned;
    const line = entries.find((e) => Number(e.level) >= 40 && e.reqId !== undefined)!;
    expect(line.level).toBe(40);
    expect(JSON.stringify(line)).not.toMatch(/"stack"/);
    expect(line).toMatchObject({ ws_error: { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' } });
    expect(entries.filter((e) => Number(e.level) >= 50)).toEqual([]);
  } finally {
    await app.close();
    await driver.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
