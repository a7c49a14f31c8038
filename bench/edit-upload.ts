/**
 * What accepting an image edit costs the API: `POST /v1/generate` with a
 * 2048×2048 PNG (a gradient with noise, ~6 MB), sent as multipart and as
 * base64 JSON, over loopback to an API in this process (memory queue, images
 * stored on disk, no worker: jobs only queue). Per request the API parses the
 * body, reads the PNG header (bomb check), decodes the whole image once with
 * sharp on libuv's pool (corrupt files are refused here, not by a worker),
 * hashes it (WebCrypto, off the event loop), stores it once and queues the
 * job. Baselines in the same run: a text-only request (the floor of the
 * route), and sharp's own metadata + decode of the same bytes (the library
 * underneath). Peak RSS is the process's high-water mark after each phase
 * (client buffers included: it shares the process).
 *
 *   npm run build && node --import tsx bench/edit-upload.ts [-- --requests 20 --json FILE]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import sharp from 'sharp';
import { buildApp } from '../dist/api';
import { loadConfig } from '../dist/config';
import { ensureDemoModel } from '../dist/pipeline';
import { createQueueDriver } from '../dist/queue';
import { writeBenchResult, type BenchFigure } from './lib/bench-results';
import { endProcess } from './lib/end-process';

const { values } = parseArgs({
  options: { requests: { type: 'string', default: '20' }, json: { type: 'string' } },
});
const REQUESTS = Number(values.requests);
const SIDE = 2048;

async function uploadPng(): Promise<Buffer> {
  const raw = Buffer.alloc(SIDE * SIDE * 3);
  let seed = 12345;
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = (seed >> 16) % 16;
      const i = (y * SIDE + x) * 3;
      raw[i] = (x >> 3) + noise;
      raw[i + 1] = (y >> 3) + noise;
      raw[i + 2] = 128 + noise;
    }
  return sharp(raw, { raw: { width: SIDE, height: SIDE, channels: 3 } })
    .png()
    .toBuffer();
}

/** A model directory the API takes image edits for: the demo's, with a vae_encoder when it lacks one. */
async function editModel(dataDir: string): Promise<string> {
  const demo = await ensureDemoModel(dataDir);
  if (fs.existsSync(path.join(demo, 'vae_encoder', 'model.onnx'))) return demo;
  // The API reads only which files exist and the U-Net's header; no job runs here.
  const dir = path.join(dataDir, 'edit-model');
  fs.cpSync(demo, dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'vae_encoder'), { recursive: true });
  fs.copyFileSync(path.join(demo, 'vae_decoder', 'model.onnx'), path.join(dir, 'vae_encoder', 'model.onnx'));
  return dir;
}

const rssMb = (): number => process.resourceUsage().maxRSS / 1024;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-bench-edit-'));
  const png = await uploadPng();
  const config = loadConfig({
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: '1000000',
    MAX_QUEUE_DEPTH: '1000000',
  });
  const driver = createQueueDriver({ dataDir: config.DATA_DIR });
  const app = await buildApp({
    config,
    driver,
    logger: pino({ level: 'silent' }),
    extraModels: { edit: await editModel(config.DATA_DIR) },
  });
  // The server's own time per request (body read, checks, storage, queueing), apart from the client's.
  const serverMs: number[] = [];
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'POST') serverMs.push(reply.elapsedTime);
  });
  // A worker announces the model (the API queues only for served models) but takes no job.
  await driver.workers.heartbeat(
    {
      id: 'bench-announcer',
      host: os.hostname(),
      pid: process.pid,
      models: ['edit'],
      device: 'cpu',
      concurrency: 1,
      started_at: new Date().toISOString(),
      current_jobs: [],
    },
    600_000,
  );
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const url = `${base}/v1/generate`;
  const rssStart = rssMb();

  async function time(send: () => Promise<Response>): Promise<number[]> {
    serverMs.length = 0;
    const ms: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const started = performance.now();
      const response = await send();
      await response.arrayBuffer();
      if (response.status !== 202) throw new Error(`expected 202, got ${response.status}`);
      ms.push(performance.now() - started);
    }
    lastServer = [...serverMs];
    return ms;
  }
  let lastServer: number[] = [];

  const text = await time(() =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x', model: 'edit' }),
    }),
  );
  const textServer = lastServer;
  const multipart = await time(() => {
    const form = new FormData();
    form.set('prompt', 'a lighthouse');
    form.set('model', 'edit');
    form.set('image', new Blob([new Uint8Array(png)]), 'photo.png');
    return fetch(url, { method: 'POST', body: form });
  });
  const multipartServer = lastServer;
  const rssMultipart = rssMb();
  const b64 = png.toString('base64');
  const json = await time(() =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a lighthouse', model: 'edit', image: b64 }),
    }),
  );
  const jsonServer = lastServer;
  const rssJson = rssMb();
  const raw: number[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    await sharp(png).metadata();
    await sharp(png).raw().toBuffer();
    raw.push(performance.now() - started);
  }
  await app.close();
  await driver.close();
  fs.rmSync(tmp, { recursive: true, force: true });

  const sharpMs = median(raw);
  const figures: BenchFigure[] = [
    { name: 'text-only POST /v1/generate, median round trip', value: median(text), unit: 'ms' },
    { name: 'text-only POST /v1/generate, median server time', value: median(textServer), unit: 'ms' },
    {
      name: `multipart upload of a ${SIDE}×${SIDE} PNG (${(png.length / 1e6).toFixed(1)} MB), median round trip`,
      value: median(multipart),
      unit: 'ms',
      baseline: { name: 'sharp metadata + decode of the same PNG', value: sharpMs, unit: 'ms' },
    },
    {
      name: 'multipart upload, median server time (onResponse elapsedTime)',
      value: median(multipartServer),
      unit: 'ms',
    },
    {
      name: `base64 JSON upload of the same PNG (${(b64.length / 1e6).toFixed(1)} MB body), median round trip`,
      value: median(json),
      unit: 'ms',
      baseline: { name: 'sharp metadata + decode of the same PNG', value: sharpMs, unit: 'ms' },
    },
    { name: 'base64 JSON upload, median server time', value: median(jsonServer), unit: 'ms' },
    { name: 'peak RSS before uploads', value: rssStart, unit: 'MB' },
    { name: `peak RSS after ${REQUESTS} multipart uploads`, value: rssMultipart, unit: 'MB' },
    { name: `peak RSS after ${REQUESTS} JSON uploads`, value: rssJson, unit: 'MB' },
  ];
  for (const f of figures) {
    const vs = f.baseline ? ` (${f.baseline.name}: ${f.baseline.value.toFixed(1)} ${f.baseline.unit})` : '';
    console.log(`${f.name}: ${f.value.toFixed(1)} ${f.unit}${vs}`);
  }
  writeBenchResult(values.json, {
    bench: 'edit-upload',
    title: `API cost of accepting a ${SIDE}×${SIDE} PNG edit upload (memory queue, file store, no worker)`,
    figures,
    notes: [`${REQUESTS} sequential requests per kind over loopback; client and server share the process`],
  });
}

void main().catch((err: unknown) => {
  console.error(err);
  endProcess(1);
});
