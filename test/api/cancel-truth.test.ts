import pino from 'pino';
import { waitForJob } from '../../src/api/wait-for-job';
import type { JobMessage } from '../../src/jobs';
import { WorkerService } from '../../src/worker';
import { startDemoService, type DemoService } from '../helpers/demo-service';
import { announceStandInWorker } from '../helpers/stand-in-worker';
import { deleteKeys, REDIS_URL, testPrefix } from '../helpers/redis';

// Issue 17, item 10: a DELETE that arrived just after a job's last step answered 202
// ("it stops at its next step"), and the job then ended succeeded. The answer must be the truth:
// 202 only for a job that will end canceled, 200 once it has, 409 when it ended otherwise first.
describe.each(['memory', 'bullmq'] as const)('cancel right after the last step on the %s driver', (kind) => {
  const prefix = testPrefix(`cancel-${kind}`);
  let service: DemoService;
  let worker: WorkerService | undefined;
  beforeAll(async () => {
    service = await startDemoService({
      worker: false,
      env: kind === 'bullmq' ? { REDIS_URL, REDIS_PREFIX: prefix } : {},
    });
    // A live worker that takes no jobs: the API accepts jobs only for served models.
    await announceStandInWorker(service.driver, ['demo']);
  });
  afterAll(async () => {
    await worker?.stop(0);
    await service?.close();
    if (kind === 'bullmq') await deleteKeys(prefix);
  });

  it('answers what the job really did', async () => {
    const answers = new Map<string, Promise<{ status: number; body: { status?: string; code?: string } }>>();
    for (let i = 0; i < 3; i++) {
      // Large images: decoding and encoding them after the last step leaves a window to cancel in.
      const created = await service.app.inject({
        method: 'POST',
        url: '/v1/generate',
        payload: { prompt: `a late cancel ${i}`, steps: 2, width: 512, height: 512, scheduler: 'euler' },
      });
      const { id } = created.json();
      let answered: (a: { status: number; body: { status?: string; code?: string } }) => void = () =>
        undefined;
      answers.set(id, new Promise((resolve) => (answered = resolve)));
      let fired = false;
      const stop = await service.driver.events.subscribe(id, (message: JobMessage) => {
        if (fired || message.type !== 'progress' || message.step < message.steps) return;
        fired = true;
        // The moment the last step is reported: the job is past every step boundary.
        void service.app.inject({ method: 'DELETE', url: `/v1/jobs/${id}` }).then((res) => {
          answered({ status: res.statusCode, body: res.json() });
          void stop();
        });
      });
    }
    worker = await WorkerService.start({
      driver: service.driver,
      models: [{ id: 'demo', dir: service.demoDir }],
      logger: pino({ level: 'silent' }),
    });
    const seen: string[] = [];
    for (const [id, answering] of answers) {
      const answer = await answering;
      const final = (await waitForJob(service.driver, id, 60_000))!.status;
      seen.push(`${answer.status} ${final}`);
      if (answer.status === 202 || answer.status === 200) expect(final).toBe('canceled');
      else {
        expect(answer).toMatchObject({ status: 409, body: { code: 'GIRAFFE_ERR_JOB_FINISHED' } });
        expect(final).not.toBe('canceled');
      }
      if (answer.status === 200) expect(answer.body.status).toBe('canceled');
    }
    console.info(`cancel answers and outcomes (${kind}): ${seen.join(', ')}`);
  }, 120_000);
});
