import { formatSoakReport, runSoak } from '../../bench/lib/soak-run';
import { REDIS_URL } from '../helpers/redis';

// Issue 8: a short run of `npm run soak` (bench/soak.ts, 1,000 jobs by default) for CI: real
// `giraffe serve` and two `giraffe worker` processes on Redis, 60 small jobs over HTTP, each job's
// stream read by two of 20 WebSocket clients. No job may be lost or finish twice; every image
// comes back; every stream opens with a snapshot, has no gap or repeat and ends once, as the record says. RSS is sampled and printed, not judged:
// 60 jobs are too few to tell growth from warm-up (the full soak reports it against 10 %).
it('60 jobs through serve + two workers, streamed by 20 clients: none lost, none duplicated, every image and stream intact', async () => {
  const report = await runSoak({
    jobs: 60,
    workers: 2,
    inflight: 16,
    clients: 20,
    steps: 8,
    size: 64,
    sampleEvery: 20,
    redisUrl: REDIS_URL,
    drainTimeoutMs: 60_000,
  });
  console.log(formatSoakReport(report));
  expect({
    succeeded: report.succeeded,
    lost: report.lost,
    duplicated: report.duplicated,
    badImages: report.badImages,
    refused: report.refused,
    crashed: report.crashed,
    streams: report.streams.count,
    streamProblems: report.streams.problems,
  }).toEqual({
    succeeded: 60,
    lost: [],
    duplicated: [],
    badImages: [],
    refused: [],
    crashed: [],
    streams: 120,
    streamProblems: [],
  });
  expect(report.samples.map((s) => s.jobs)).toEqual([20, 40, 60]);
  for (const sample of report.samples) {
    expect(Object.values(sample.rss).every((bytes) => bytes > 0)).toBe(true);
  }
}, 120_000);
