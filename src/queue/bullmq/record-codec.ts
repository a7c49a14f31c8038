import { jobStatuses, type JobRecord, type JobStatus } from '../../jobs';

/** The part of a record that never changes (the record's `spec` field). */
export type JobSpec = Pick<
  JobRecord,
  'id' | 'model' | 'owner' | 'request' | 'priority' | 'created_at' | 'request_id' | 'webhook'
>;

export function specOf(record: JobRecord): JobSpec {
  const { id, model, owner, request, priority, created_at, request_id, webhook } = record;
  return {
    id,
    model,
    owner,
    request,
    priority,
    created_at,
    ...(request_id === undefined ? {} : { request_id }),
    ...(webhook === undefined ? {} : { webhook }),
  };
}

/** Hash fields as HGETALL returns them, or the flat array a Lua HGETALL gives. */
export function fieldsOf(reply: unknown): Record<string, string> | undefined {
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (typeof reply === 'object' && reply !== null) return reply as Record<string, string>;
  return undefined;
}

const statuses: ReadonlySet<string> = new Set(jobStatuses);

/** The record a job hash describes; undefined for a missing or foreign hash. */
export function decodeRecord(fields: Record<string, string> | undefined): JobRecord | undefined {
  if (!fields?.spec || !statuses.has(fields.status)) return undefined;
  const spec = JSON.parse(fields.spec) as JobSpec;
  const json = <T>(name: string): T | undefined =>
    fields[name] ? (JSON.parse(fields[name]) as T) : undefined;
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  // Object.assign onto the fresh spec, not `{ ...spec, … }`: see jobEvent.
  return Object.assign(
    spec,
    { status: fields.status as JobStatus, attempts: Number(fields.attempts ?? 0) },
    optional('started_at', fields.started_at),
    optional('finished_at', fields.finished_at),
    optional('worker', fields.worker),
    optional('progress', json<JobRecord['progress']>('progress')),
    optional('result', json<JobRecord['result']>('result')),
    optional('error', json<JobRecord['error']>('error')),
    { event_seq: Number(fields.seq ?? 0) },
  );
}
