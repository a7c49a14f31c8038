import Redis from 'ioredis';
import { RedisKeys } from '../../../src/queue/bullmq/redis-keys';
import { ScriptBatch } from '../../../src/queue/bullmq/script-batch';
import { deleteKeys, REDIS_URL, testPrefix } from '../../helpers/redis';

describe('script batch', () => {
  let prefix = '';
  let redis: Redis;

  beforeEach(() => {
    prefix = testPrefix('batch');
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  });

  afterEach(async () => {
    await redis.quit();
    await deleteKeys(prefix);
  });

  it('sends the transitions asked for in one tick as one command, in order, each with its own reply', async () => {
    const keys = new RedisKeys(prefix);
    const batch = new ScriptBatch(redis);
    const evalsha = jest.spyOn(redis, 'evalsha');
    await redis.hset(keys.job('a'), 'spec', '{}', 'status', 'running', 'attempts', 1);

    const replies = await Promise.all([
      batch.run(
        'recordProgress',
        [keys.job('a'), keys.stream('a')],
        ['1', '{"step":1}', keys.events('a'), '{"type":"progress","job_id":"a"}', '10', '60000'],
      ),
      batch.run('requestCancel', [keys.job('a')], [keys.cancel, 'a']),
      batch.run('requestCancel', [keys.job('missing')], [keys.cancel, 'missing']),
      batch.run(
        'jobPosition',
        [keys.bullmq('m', 'wait'), keys.bullmq('m', 'prioritized'), keys.bullmq('m', 'delayed')],
        ['a'],
      ),
    ]);

    expect(replies).toEqual([1, 'cancel_requested', 'not_found', -1]);
    expect(evalsha).toHaveBeenCalledTimes(1);
    expect(await redis.hmget(keys.job('a'), 'progress', 'cancel')).toEqual(['{"step":1}', '1']);

    // A later tick is a batch of its own.
    expect(
      await batch.run(
        'recordProgress',
        [keys.job('a'), keys.stream('a')],
        ['2', '{"step":2}', keys.events('a'), '{"type":"progress","job_id":"a"}', '10', '60000'],
      ),
    ).toBe(0);
    expect(evalsha).toHaveBeenCalledTimes(2);
  });

  it('rejects only the caller whose transition failed', async () => {
    const keys = new RedisKeys(prefix);
    const batch = new ScriptBatch(redis);
    await redis.set(keys.job('not-a-hash'), 'x');

    const [broken, fine] = await Promise.allSettled([
      batch.run('requestCancel', [keys.job('not-a-hash')], [keys.cancel, 'not-a-hash']),
      batch.run('requestCancel', [keys.job('missing')], [keys.cancel, 'missing']),
    ]);

    expect(broken).toMatchObject({
      status: 'rejected',
      reason: { message: expect.stringMatching(/WRONGTYPE/) },
    });
    expect(fine).toEqual({ status: 'fulfilled', value: 'not_found' });
  });
});
