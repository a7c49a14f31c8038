import * as path from 'node:path';
import { FileResultStore } from '../file-result-store';
import { JobLifecycle, resolveSettings } from '../job-lifecycle';
import type { ConsumerOptions, DriverOptions, JobConsumer, JobHandler, QueueDriver } from '../ports';
import { MemoryCheckpointStore } from './memory-checkpoint-store';
import { MemoryConsumer } from './memory-consumer';
import { MemoryEventBus } from './memory-event-bus';
import { MemoryJobQueue } from './memory-job-queue';
import { MemoryJobStore } from './memory-job-store';
import { MemoryResultStore } from './memory-result-store';
import { MemoryWorkerRegistry } from './memory-worker-registry';

export interface MemoryDriverOptions extends DriverOptions {
  /** Results go under `<dataDir>/results`; without it they stay in memory. */
  readonly dataDir?: string;
}

/** The embedded driver: queue, events, results and workers of one process. */
export function createMemoryDriver(options: MemoryDriverOptions = {}): QueueDriver {
  const settings = resolveSettings(options);
  const events = new MemoryEventBus(settings.eventHistory);
  const store = new MemoryJobStore(events, settings.retentionMs);
  const lifecycle = new JobLifecycle(store, settings);
  const queue = new MemoryJobQueue(store, events, lifecycle);
  const results =
    options.dataDir === undefined
      ? new MemoryResultStore(settings.retentionMs)
      : new FileResultStore(path.join(options.dataDir, 'results'), settings.retentionMs);
  const checkpoints = new MemoryCheckpointStore(settings.retentionMs);
  const consumers = new Set<MemoryConsumer>();
  let closing: Promise<void> | undefined;

  return {
    name: 'memory',
    queue,
    events,
    results,
    checkpoints,
    workers: new MemoryWorkerRegistry(),
    consume(
      models: string | readonly string[],
      handler: JobHandler,
      consumerOptions: ConsumerOptions,
    ): JobConsumer {
      const list = typeof models === 'string' ? [models] : models;
      const consumer = new MemoryConsumer(queue, lifecycle, list, handler, consumerOptions);
      consumers.add(consumer);
      return consumer;
    },
    async ping() {
      return true;
    },
    close() {
      closing ??= (async () => {
        await Promise.all([...consumers].map((c) => c.close(0)));
        queue.close();
        store.close();
        await results.close();
        checkpoints.close();
      })();
      return closing;
    },
  };
}
