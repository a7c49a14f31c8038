import type { JobRecord } from '../jobs';

/** Where a job's resources live, relative to the API root. */
export function jobLinks(job: Pick<JobRecord, 'id' | 'result'>): Record<string, unknown> {
  const base = `/v1/jobs/${job.id}`;
  return {
    self: base,
    stream: `${base}/stream`,
    events: `${base}/events`,
    images: (job.result?.images ?? []).map((img) => `${base}/images/${img.index}`),
  };
}

/** A job as the API shows it: the record plus links and, while it waits, its place in the queue. */
export function jobView(job: JobRecord, position?: number): Record<string, unknown> {
  const { owner: _owner, request_id: _rid, event_seq: _seq, ...visible } = job;
  return {
    ...visible,
    seed: job.request.seed,
    ...(position !== undefined ? { position } : {}),
    ...(job.result
      ? {
          result: {
            ...job.result,
            images: job.result.images.map((img) => ({
              ...img,
              url: `/v1/jobs/${job.id}/images/${img.index}`,
            })),
          },
        }
      : {}),
    links: jobLinks(job),
  };
}
