import * as fs from 'node:fs/promises';
import type { GenerateBody } from '../client/giraffe-client';
import * as path from 'node:path';
import { GiraffeClient, watchJob } from '../client';
import { outputPaths } from './output-paths';
import { StepProgressBar } from './step-progress-bar';

export interface RemoteGenerateOptions {
  /** The API's address, e.g. `http://localhost:8080`. */
  readonly server: string;
  readonly apiKey?: string;
  /** The request body of `POST /v1/generate`. */
  readonly body: GenerateBody;
  readonly out?: string;
}

/**
 * `giraffe generate --server URL`: the job runs on a giraffe service. It is
 * submitted over HTTP, followed over its WebSocket stream (the progress bar
 * moves with the job's `progress` events, resuming if the connection drops),
 * and its images are downloaded. Returns the exit code.
 */
export async function remoteGenerate(options: RemoteGenerateOptions): Promise<number> {
  const client = new GiraffeClient({ baseUrl: options.server, apiKey: options.apiKey });
  const job = await client.generate(options.body);
  process.stderr.write(
    `job ${job.id} queued${job.position === undefined ? '' : ` at position ${job.position}`}\n`,
  );
  const bar = new StepProgressBar();
  const interrupt = new AbortController();
  const onSigint = (): void => {
    interrupt.abort(new Error('interrupted'));
    void client.cancel(job.id).catch(() => undefined);
  };
  process.once('SIGINT', onSigint);
  let outcome;
  try {
    outcome = await watchJob({
      baseUrl: options.server,
      jobId: job.id,
      // The key, when there is one, outlives the token: a job that waits past the token's lifetime
      // can still be followed after a dropped connection.
      token: job.stream_token,
      apiKey: options.apiKey,
      previews: 'none',
      signal: interrupt.signal,
      // A job already under way (or done) when the stream opens starts the bar where it stands.
      onSnapshot: (snapshot) => {
        if (snapshot.progress) bar.update(snapshot.progress.step, snapshot.progress.steps);
      },
      onEvent: (message) => {
        if (message.type === 'progress') bar.update(message.step as number, message.steps as number);
      },
    });
  } finally {
    process.off('SIGINT', onSigint);
    bar.stop();
  }
  const final = await client.getJob(job.id);
  if (outcome.status !== 'succeeded') {
    process.stderr.write(`job ${job.id} ${outcome.status}${final.error ? `: ${final.error.message}` : ''}\n`);
    return 1;
  }
  const images = final.result?.images ?? [];
  const files: string[] = [];
  for (const [i, image] of images.entries()) {
    const { data, contentType } = await client.image(job.id, image.index);
    const file = outputPaths(options.out, final.seed, contentType.split('/')[1], images.length)[i];
    await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
    await fs.writeFile(file, data);
    files.push(file);
  }
  process.stdout.write(`${files.join('\n')}\nseed ${final.seed} · job ${job.id}\n`);
  return 0;
}
