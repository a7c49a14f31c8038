import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Job } from '../../src/client';
import {
  freePort,
  killAll,
  listeningAddress,
  readyWorkerId,
  startGiraffe,
  type Child,
} from '../helpers/processes';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';
import { writeSlowModel } from '../helpers/slow-model';
import { finalTypes, keptEvents, openSocket } from '../helpers/stream-clients';

// Two real `giraffe serve` processes and a `giraffe worker` on one Redis: any replica serves any
// job's stream, a client of each sees the same numbered events, and a client whose replica dies
// resumes on the other (and on the restarted one) with exactly what it missed.
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-replicas-'));
const prefix = testPrefix('replicas');
const MODEL = 'slow';

const env = (): Record<string, string> => ({
  REDIS_URL,
  REDIS_PREFIX: prefix,
  DATA_DIR: path.join(tmp, 'data'),
  MODELS_DIR: path.join(tmp, 'models'),
  DEFAULT_MODEL: MODEL,
  ORT_INTRA_OP_THREADS: '1',
  // Shared, so a token one replica issued opens the stream on the other.
  STREAM_TOKEN_SECRET: 'replica-test-secret-0123456789',
  LOG_LEVEL: 'info',
});

let portA: number;
let portB: number;
let a: Child;
let b: Child;

const serve = (port: number) => startGiraffe(['serve', '--host', '127.0.0.1', '--port', String(port)], env());
const wsBase = (port: number) => `ws://127.0.0.1:${port}`;

beforeAll(async () => {
  await writeSlowModel(path.join(tmp, 'models', MODEL), path.join(tmp, 'data'), 250);
  [portA, portB] = [await freePort(), await freePort()];
  a = serve(portA);
  b = serve(portB);
  const worker = startGiraffe(['worker', '--model', MODEL], env());
  await Promise.all([listeningAddress(a), listeningAddress(b), readyWorkerId(worker)]);
}, 90_000);

afterAll(async () => {
  await killAll();
  await deleteKeys(prefix);
  fs.rmSync(tmp, { recursive: true, force: true });
});

it('serves one job to clients on two replicas alike, and resumes a client whose replica died', async () => {
  const response = await fetch(`http://127.0.0.1:${portA}/v1/generate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prompt: 'replicated',
      steps: 10,
      width: 64,
      height: 64,
      guidance_scale: 1,
      seed: 3,
    }),
  });
  expect(response.status).toBe(202);
  const job = (await response.json()) as Job;
  const path_ = `/v1/jobs/${job.id}/stream?token=${job.stream_token}&previews=every:1`;

  const onA = openSocket(`${wsBase(portA)}${path_}`);
  const onB = openSocket(`${wsBase(portB)}${path_}`);
  await Promise.all([onA.next((m) => m.type === 'snapshot'), onB.next((m) => m.type === 'snapshot')]);

  // Replica A dies mid-job; its client resumes on B after the last event it saw.
  await onA.next((m) => m.type === 'progress' && (m.step as number) >= 3, 30_000);
  a.process.kill('SIGKILL');
  await onA.closed;
  const seenOnA = keptEvents(onA.messages);
  const lastSeq = seenOnA.at(-1)!.seq!;
  const resumed = openSocket(`${wsBase(portB)}${path_}&after=${lastSeq}`);

  await onB.closed;
  await resumed.closed;
  const full = keptEvents(onB.messages);
  const snapshotSeq = onB.messages[0].seq!;
  expect(full.map((e) => e.seq)).toEqual(full.map((_, i) => snapshotSeq + 1 + i));
  expect(full.at(-1)?.type).toBe('succeeded');
  expect(full.filter((e) => finalTypes.has(e.type))).toHaveLength(1);
  // Both replicas told the same story: the same events under the same numbers.
  const bySeq = new Map(full.map((e) => [e.seq, e]));
  for (const e of seenOnA) if (bySeq.has(e.seq)) expect(e).toEqual(bySeq.get(e.seq));
  // Previews reached clients on both replicas.
  expect(onA.previews.length).toBeGreaterThan(0);
  expect(onB.previews.length).toBeGreaterThan(0);
  // The resumed stream is exactly the rest: no snapshot, nothing twice, nothing missing.
  const rest = keptEvents(resumed.messages);
  expect(resumed.messages[0].type).not.toBe('snapshot');
  expect(rest.map((e) => e.seq)).toEqual(full.filter((e) => e.seq! > lastSeq).map((e) => e.seq));

  // Across an API restart: a new process on A's port replays the job's events from Redis.
  a = serve(portA);
  await listeningAddress(a);
  const replay = openSocket(`${wsBase(portA)}${path_}&after=${snapshotSeq}`);
  await replay.closed;
  expect(keptEvents(replay.messages)).toEqual(full);
}, 120_000);
