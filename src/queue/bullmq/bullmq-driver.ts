import * as path from 'node:path';
import { GiraffeError } from '../../errors';
import { ConsumerSet } from '../consumer-set';
import { FileResultStore } from '../file-result-store';
import { JobLifecycle, resolveSettings } from '../job-lifecycle';
import type { ConsumerOptions, DriverOptions, JobConsumer, JobHandler, QueueDriver } from '../ports';
import { BullmqConsumer } from './bullmq-consumer';
import { BullmqJobQueue } from './bullmq-job-queue';
import { RedisCheckpointStore } from './redis-checkpoint-store';
import { RedisEventBus } from './redis-event-bus';
import { closeRedis, openRedis, pingRedis } from './redis-connections';
import { RedisJobStore } from './redis-job-store';
import { RedisKeys } from './redis-keys';
import { RedisResultStore } from './redis-result-store';
import { RedisSubscriber } from './redis-subscriber';
import { RedisWorkerRegistry } from './redis-worker-registry';

export interface BullmqDriverOptions extends DriverOptions {
  readonly redisUrl: string;
  /** Start of every key and queue; a Cluster hash tag. */
  readonly prefix: string;
  /** `files`: images under `<dataDir>/results` on a volume every API replica shares. */
  readonly results: 'redis' | 'files';
  readonly dataDir?: string;
}

/**
 * The distributed driver: BullMQ queues and our job records in Redis, events
 * over pub/sub. Opens one command connection and (on first subscribe) one
 * subscriber connection; each consumer opens its own for its BullMQ Worker.
 */
export function createBullmqDriver(options: BullmqDriverOptions): QueueDriver {
  const settings = resolveSettings(options);
  if (options.results === 'files' && options.dataDir === undefined) {
    throw new GiraffeError('GIRAFFE_ERR_CONFIG_INVALID', 'results: "files" needs a data directory');
  }
  const keys = new RedisKeys(options.prefix);
  const redis = openRedis(options.redisUrl, 'api');
  const subscriber = new RedisSubscriber(() => openRedis(options.redisUrl, 'subscriber'));
  const store = new RedisJobStore(redis, keys, settings.retentionMs, settings.eventHistory);
  const queue = new BullmqJobQueue(redis, keys, store, new JobLifecycle(store, settings));
  const results =
    options.results === 'files' && options.dataDir !== undefined
      ? new FileResultStore(path.join(options.dataDir, 'results'), settings.retentionMs)
      : new RedisResultStore(redis, keys, settings.retentionMs);
  const consumers = new Set<BullmqConsumer>();
  let closing: Promise<void> | undefined;

  return {
    name: 'bullmq',
    queue,
    events: new RedisEventBus(store, subscriber, keys),
    results,
    checkpoints: new RedisCheckpointStore(redis, keys, settings.retentionMs),
    workers: new RedisWorkerRegistry(redis, keys),
    consume(
      models: string | readonly string[],
      handler: JobHandler,
      consumerOptions: ConsumerOptions,
    ): JobConsumer {
      if (closing) throw new GiraffeError('GIRAFFE_ERR_QUEUE_UNAVAILABLE', 'the queue driver is closed');
      return new ConsumerSet(typeof models === 'string' ? [models] : models, (model) => {
        const consumer = new BullmqConsumer(
          { url: options.redisUrl, keys, settings, subscriber },
          model,
          handler,
          consumerOptions,
        );
        consumers.add(consumer);
        return consumer;
      });
    },
    ping() {
      return pingRedis(redis);
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...consumers].map((c) => c.close(0)));
        await queue.close();
        await subscriber.close();
        if (results instanceof FileResultStore) await results.close();
        await closeRedis(redis);
      })();
      return closing;
    },
  };
}
