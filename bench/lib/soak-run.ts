import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import type { JobMessage, JobRecord } from '../../dist/jobs';
import { createQueueDriver } from '../../dist/queue';
import { deleteKeys } from './bench-redis';
import { rssBytes, startGiraffe, waitForLog, type GiraffeProcess } from './processes';
import { SoakStreams, streamProblems, type StreamProblem } from './soak-streams';

export interface SoakOptions {
  /** Jobs to run. */
  readonly jobs: number;
  /** `giraffe worker` processes. */
  readonly workers: number;
  /** Jobs submitted but not yet finished, at most (the submitters' concurrency). */
  readonly inflight: number;
  /** Sample every process's RSS after this many finished jobs. */
  readonly sampleEvery: number;
  readonly redisUrl: string;
  readonly steps: number;
  readonly size: number;
  /** Give up on jobs still unfinished this long after the last submission (and on a stream open this long). */
  readonly drainTimeoutMs: number;
  /**
   * WebSocket clients following jobs' streams while the soak runs, each job
   * by ⌈clients / inflight⌉ of them, each stream checked against its job's
   * record. @defaultValue 0
   */
  readonly clients?: number;
  readonly log?: (line: string) => void;
}

export interface RssSample {
  /** Jobs finished when the sample was taken. */
  readonly jobs: number;
  /** Bytes, by process name (`serve`, `worker-1`, …). */
  readonly rss: Readonly<Record<string, number>>;
}

export interface SoakReport {
  readonly jobs: number;
  readonly workers: number;
  readonly seconds: number;
  readonly succeeded: number;
  /** Accepted (202) but not `succeeded` by the end: failed, canceled or never finished. */
  readonly lost: readonly { id: string; status: string }[];
  /** Jobs with more than one final event on the bus. */
  readonly duplicated: readonly { id: string; finals: string[] }[];
  /** Finished before this run's subscription was live, so their events could not be counted. */
  readonly unobserved: number;
  /** Succeeded jobs whose image did not come back as a PNG of the requested size. */
  readonly badImages: readonly string[];
  /** Submissions the API refused (status and body). */
  readonly refused: readonly string[];
  readonly samples: readonly RssSample[];
  /** Per process: RSS at the end over RSS at the first sample, minus one. */
  readonly growth: Readonly<Record<string, number>>;
  /** Processes that exited during the run. */
  readonly crashed: readonly string[];
  /** What the streaming clients saw. */
  readonly streams: {
    readonly clients: number;
    /** Streams read (jobs × clients per job). */
    readonly count: number;
    readonly previews: number;
    readonly problems: readonly StreamProblem[];
  };
}

/**
 * The distributed deployment under a long steady load: `giraffe serve` and
 * `workers` × `giraffe worker` on the demo model over Redis, `jobs` jobs
 * submitted over HTTP with at most `inflight` unfinished at once, each job's
 * events counted on the event bus and its image fetched and decoded, the
 * processes' RSS sampled every `sampleEvery` finished jobs.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const prefix = `{giraffe-soak-${randomBytes(4).toString('hex')}}`;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'giraffe-soak-'));
  const env = {
    REDIS_URL: options.redisUrl,
    REDIS_PREFIX: prefix,
    DATA_DIR: path.join(tmp, 'data'),
    MODELS_DIR: path.join(tmp, 'models'),
    LOG_LEVEL: 'info',
    ORT_INTRA_OP_THREADS: '1',
    RATE_LIMIT_MAX: '1000000',
    // One client submits every job: the per-key job limit would refuse most of them.
    MAX_JOBS_PER_KEY: '1000000',
    MAX_QUEUE_DEPTH: String(Math.max(1000, options.inflight * 2)),
  };
  const processes = new Map<string, GiraffeProcess>();
  const driver = createQueueDriver({ redisUrl: options.redisUrl, prefix });
  const stops: (() => Promise<void>)[] = [];
  const clients = options.clients ?? 0;
  const streams = new SoakStreams(
    clients,
    Math.max(1, Math.ceil(clients / Math.max(1, options.inflight))),
    options.drainTimeoutMs,
  );
  try {
    const serve = startGiraffe(['serve', '--host', '127.0.0.1', '--port', '0'], env);
    processes.set('serve', serve);
    for (let i = 1; i <= options.workers; i++) {
      processes.set(`worker-${i}`, startGiraffe(['worker', '--model', 'demo'], env));
    }
    const base = await waitForLog(serve, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
    for (const [name, proc] of processes) {
      if (name !== 'serve') await waitForLog(proc, /"msg":"worker ready"/);
    }
    log(`serve at ${base}, ${options.workers} worker(s), ${clients} streaming client(s), prefix ${prefix}`);

    const finals = new Map<string, { events: string[]; counted: boolean; assumed: boolean }>();
    const accepted: string[] = [];
    const refused: string[] = [];
    const samples: RssSample[] = [];
    let finished = 0;
    let unobserved = 0;
    const waiters = new Set<() => void>();
    const sample = (): void => {
      const rss: Record<string, number> = {};
      for (const [name, proc] of processes) rss[name] = rssBytes(proc.pid) ?? 0;
      samples.push({ jobs: finished, rss });
      const mib = Object.entries(rss).map(([n, b]) => `${n} ${(b / 2 ** 20).toFixed(0)} MiB`);
      log(`${finished} jobs: ${mib.join(', ')}`);
    };
    const onFinal = (): void => {
      finished++;
      if (finished % options.sampleEvery === 0) sample();
      for (const wake of waiters) wake();
      waiters.clear();
    };

    const started = performance.now();
    let next = 0;
    const submitter = async (): Promise<void> => {
      while (next < options.jobs) {
        const seed = next++;
        while (accepted.length - finished >= options.inflight) {
          await new Promise<void>((resolve) => waiters.add(resolve));
        }
        const response = await fetch(`${base}/v1/generate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            prompt: `soak giraffe ${seed}`,
            steps: options.steps,
            width: options.size,
            height: options.size,
            seed,
          }),
        });
        if (response.status !== 202) {
          refused.push(`${response.status} ${await response.text()}`);
          continue;
        }
        const job = (await response.json()) as {
          id: string;
          links: { stream: string };
          stream_token: string;
        };
        const { id } = job;
        accepted.push(id);
        streams.add(base, job);
        const seen = { events: [] as string[], counted: false, assumed: false };
        finals.set(id, seen);
        stops.push(
          await driver.events.subscribe(id, (event: JobMessage) => {
            if (event.type !== 'succeeded' && event.type !== 'failed' && event.type !== 'canceled') return;
            seen.events.push(event.type);
            if (seen.assumed) {
              // Its event was only late, not missed.
              seen.assumed = false;
              unobserved--;
            }
            if (!seen.counted) {
              seen.counted = true;
              onFinal();
            }
          }),
        );
        // It may have finished between the 202 and the subscription: count it as finished, with its
        // events uncounted (the record turns final just before the event goes out, so a late one
        // may still come and is then counted).
        const record = await driver.queue.get(id);
        if (!seen.counted && record && ['succeeded', 'failed', 'canceled'].includes(record.status)) {
          unobserved++;
          seen.assumed = true;
          seen.counted = true;
          onFinal();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.inflight) }, submitter));
    const deadline = Date.now() + options.drainTimeoutMs;
    while (finished < accepted.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Late duplicates would arrive now.
    await new Promise((r) => setTimeout(r, 500));
    await streams.finish();
    const seconds = (performance.now() - started) / 1000;
    if (samples.at(-1)?.jobs !== finished) sample();

    const lost: { id: string; status: string }[] = [];
    const badImages: string[] = [];
    let succeeded = 0;
    const records = new Map<string, JobRecord | undefined>();
    for (const id of accepted) {
      const record = await driver.queue.get(id);
      records.set(id, record);
      if (record?.status !== 'succeeded') {
        lost.push({ id, status: record?.status ?? 'missing' });
        continue;
      }
      succeeded++;
      const image = await fetch(`${base}/v1/jobs/${id}/images/0`);
      const meta = image.ok ? await sharp(Buffer.from(await image.arrayBuffer())).metadata() : undefined;
      if (meta?.format !== 'png' || meta.width !== options.size || meta.height !== options.size)
        badImages.push(id);
    }
    const duplicated = [...finals]
      .filter(([, seen]) => seen.events.length > 1)
      .map(([id, seen]) => ({ id, finals: seen.events }));
    const first = samples[0]?.rss ?? {};
    const last = samples.at(-1)?.rss ?? {};
    const growth = Object.fromEntries(Object.keys(first).map((name) => [name, last[name] / first[name] - 1]));
    const crashed = [...processes].filter(([, p]) => !p.alive()).map(([name]) => name);
    const problems = streams.records.flatMap((stream) =>
      streamProblems(stream, records.get(stream.jobId)).map((problem) => ({ jobId: stream.jobId, problem })),
    );
    return {
      jobs: options.jobs,
      workers: options.workers,
      seconds,
      succeeded,
      lost,
      duplicated,
      unobserved,
      badImages,
      refused,
      samples,
      growth,
      crashed,
      streams: {
        clients,
        count: streams.records.length,
        previews: streams.records.reduce((n, r) => n + r.previews.length, 0),
        problems,
      },
    };
  } finally {
    await streams.finish();
    await Promise.allSettled(stops.map((stop) => stop()));
    await Promise.allSettled([...processes.values()].map((p) => p.stop()));
    await driver.close();
    await deleteKeys(prefix, options.redisUrl);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The report as Markdown-ish text: the RSS curve, then the verdicts. */
export function formatSoakReport(report: SoakReport): string {
  const names = Object.keys(report.samples[0]?.rss ?? {});
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const lines = [
    `soak: ${report.jobs} jobs, ${report.workers} worker(s), ${report.seconds.toFixed(1)} s`,
    '',
    `| jobs finished | ${names.map((n) => `${n} RSS (MiB)`).join(' | ')} |`,
    `|---:|${names.map(() => '---:').join('|')}|`,
    ...report.samples.map((s) => `| ${s.jobs} | ${names.map((n) => mib(s.rss[n])).join(' | ')} |`),
    '',
    `succeeded ${report.succeeded}/${report.jobs}; lost ${report.lost.length}; duplicated ${report.duplicated.length}; ` +
      `bad images ${report.badImages.length}; refused ${report.refused.length}; finished before subscribing ${report.unobserved}`,
    `RSS end vs first sample: ${names.map((n) => `${n} ${(report.growth[n] * 100).toFixed(1)} %`).join(', ')} (target within 10 %)`,
    `crashed: ${report.crashed.length === 0 ? 'none' : report.crashed.join(', ')}`,
    `streams: ${report.streams.count} read by ${report.streams.clients} WebSocket client(s), ` +
      `${report.streams.previews} preview frames; problems ${report.streams.problems.length}`,
  ];
  for (const p of report.streams.problems.slice(0, 10)) lines.push(`  stream of ${p.jobId}: ${p.problem}`);
  for (const l of report.lost.slice(0, 10)) lines.push(`  lost ${l.id}: ${l.status}`);
  for (const d of report.duplicated.slice(0, 10)) lines.push(`  duplicated ${d.id}: ${d.finals.join(', ')}`);
  for (const r of report.refused.slice(0, 5)) lines.push(`  refused: ${r.slice(0, 200)}`);
  return lines.join('\n');
}
