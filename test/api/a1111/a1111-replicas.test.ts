import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../../src/api';
import { waitForJob } from '../../../src/api/wait-for-job';
import { createQueueDriver, type QueueDriver } from '../../../src/queue';
import { basicAuth, startA1111Server, type A1111Server } from '../../helpers/a1111';
import { deleteKeys, REDIS_URL, testPrefix } from '../../helpers/redis';

// Distributed mode: two API replicas on one Redis (BullMQ driver) and a worker. An A1111 client's
// calls may land on either replica, as behind a load balancer: its options (Redis), its progress
// and its interrupt must not depend on which one answers.
const KEY = 'replica-key-0123456789';
const prefix = testPrefix('a1111-replicas');
let server: A1111Server;
let second: FastifyInstance;
let secondDriver: QueueDriver;
let secondUrl: string;

beforeAll(async () => {
  server = await startA1111Server([KEY], { slowStepMs: 150, env: { REDIS_URL, REDIS_PREFIX: prefix } });
  const { config } = server.service;
  secondDriver = createQueueDriver({ redisUrl: REDIS_URL, prefix, dataDir: config.DATA_DIR });
  second = await buildApp({
    config,
    driver: secondDriver,
    logger: pino({ level: 'silent' }),
    extraModels: { demo: server.service.demoDir },
  });
  secondUrl = await second.listen({ port: 0, host: '127.0.0.1' });
}, 120_000);
afterAll(async () => {
  second?.server.closeAllConnections();
  await second?.close();
  await secondDriver?.close();
  await server?.close();
  await deleteKeys(prefix);
});

const auth = basicAuth('lb', KEY);
async function call(base: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<Response> {
  return fetch(`${base}/sdapi/v1${route}`, {
    method,
    headers: { authorization: auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

it('shares options, progress and interrupt across replicas', async () => {
  expect(
    (await call(server.url, 'POST', '/options', { sd_model_checkpoint: 'slow', theme: 'dark' })).status,
  ).toBe(200);
  expect(await (await call(secondUrl, 'GET', '/options')).json()).toMatchObject({
    sd_model_checkpoint: 'slow',
    theme: 'dark',
  });

  const pending = call(server.url, 'POST', '/txt2img', {
    prompt: 'far away',
    steps: 100,
    width: 64,
    height: 64,
  });
  let jobId = '';
  for (;;) {
    const p = (await (await call(secondUrl, 'GET', '/progress')).json()) as {
      current_task: string | null;
      progress: number;
      state: { sampling_step: number };
      current_image: string | null;
    };
    if (p.current_task && p.state.sampling_step >= 1 && p.current_image) {
      expect(p.progress).toBeGreaterThan(0);
      jobId = p.current_task;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(await (await call(secondUrl, 'POST', '/interrupt')).json()).toEqual({});
  const res = await pending;
  expect(res.status).toBe(409);
  expect((await waitForJob(server.service.driver, jobId, 30_000))?.status).toBe('canceled');
});
