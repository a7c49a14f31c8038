import {
  finalEventTypes,
  isFinal,
  type JobEvent,
  type JobMessage,
  type JobPreview,
  type JobRecord,
} from '../../jobs';
import {
  streamCloseCodes,
  type PreviewCadence,
  type PreviewFormat,
  type PreviewFrameHeader,
  type StreamMessage,
} from '../../jobs/stream-protocol';
import type { QueueDriver } from '../../queue';
import { jobView } from '../job-view';
import type { EncodedPreview, PositionUpdate, StreamHub } from './stream-hub';

/** Where a feed writes: a WebSocket, an SSE response, or one job's share of a multiplexed socket. */
export interface StreamSink {
  /** Sends a JSON message; `id` is the `seq` of a kept event (SSE's event id). */
  send(message: StreamMessage, id?: number): void;
  sendPreview(header: PreviewFrameHeader, preview: EncodedPreview): void;
  /** What sending this preview would add to the client's unread bytes. */
  previewBytes(preview: EncodedPreview): number;
  /** Bytes written to the client and not yet taken by it. */
  readonly buffered: number;
  /** The job has ended and its final state went out. */
  end(): void;
  /** Gives up on the client (it reads too slowly), with a close code and reason. */
  abort(code: number, reason: string): void;
}

export interface FeedOptions {
  readonly cadence: PreviewCadence;
  readonly format: PreviewFormat;
  /** Longest side of previews; capped at the job's image size. */
  readonly size: number;
  /** Resume after this event (`?after=`, `Last-Event-ID`); undefined: start from a snapshot. */
  readonly after?: number;
}

export interface FeedLimits {
  /** Unread bytes beyond which previews are dropped for this client. */
  readonly previewDropBytes: number;
  /** Unread bytes beyond which the client is disconnected. */
  readonly closeBytes: number;
  /**
   * How often a live feed reads its job's state again, to end streams whose
   * events will never come (the job expired or the store lost it). In ms;
   * undefined: never.
   */
  readonly recheckMs?: number;
}

/** How long a job's final event may wait for the preview being made before it. */
const PREVIEW_SETTLE_MS = 1000;

/** A job event as the stream shows it: result images carry their URLs. */
function eventMessage(event: JobEvent): StreamMessage {
  if (event.type !== 'succeeded') return { ...event };
  const base = `/v1/jobs/${event.job_id}/images`;
  return {
    ...event,
    result: {
      ...event.result,
      images: event.result.images.map((img) => ({ ...img, url: `${base}/${img.index}` })),
    },
  };
}

/**
 * One client's view of one job: a snapshot (or, on resume, exactly the
 * events it missed), then the live events in `seq` order with none lost or
 * repeated, and previews at the cadence, format and size it asked for.
 * It subscribes before it reads the state, holds live messages back until
 * the state is out, and drops any event the state already covered.
 */
export class JobFeed {
  #cursor = 0;
  #live = false;
  #ended = false;
  #held: (JobMessage | PositionUpdate)[] = [];
  #events: Promise<void> = Promise.resolve();
  #detach: (() => void) | undefined;
  #position: number | undefined;
  #status: JobRecord['status'];
  #previewBusy = false;
  #previewWork: Promise<void> = Promise.resolve();
  #previewNext: JobPreview | undefined;
  #lastPreviewAt = -Infinity;
  #size: number;
  #recheck: NodeJS.Timeout | undefined;

  constructor(
    private readonly hub: StreamHub,
    private readonly driver: QueueDriver,
    private readonly job: JobRecord,
    private readonly sink: StreamSink,
    private readonly options: FeedOptions,
    private readonly limits: FeedLimits,
  ) {
    this.#size = Math.max(1, Math.min(options.size, Math.max(job.request.width, job.request.height)));
    // As read before the feed subscribed; a resume's replayed events move it on.
    this.#status = job.status;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends the state and starts the live feed; rejects when the bus or the store is unreachable. */
  async start(): Promise<void> {
    const id = this.job.id;
    this.#detach = await this.hub.follow(id, (message) => {
      if (this.#live) this.#accept(message);
      else this.#held.push(message);
    });
    const after = await this.#checkedAfter();
    const missed = after === undefined ? undefined : await this.driver.events.history(id, after);
    if (missed) {
      this.#cursor = this.options.after!;
      for (const event of missed) this.#sendEvent(event);
      // Resumed at or past the final event (a reconnect after the end): nothing is missed or to come.
      if (isFinal(this.job.status) && this.#cursor >= (this.job.event_seq ?? 0)) this.#finish();
      if (!this.#ended && this.#status === 'running') await this.#sendLatestPreview();
    } else {
      await this.#sendSnapshot(this.options.after !== undefined);
    }
    this.#live = true;
    const held = this.#held;
    this.#held = [];
    for (const message of held) this.#accept(message);
    const every = this.limits.recheckMs;
    if (every !== undefined && !this.#ended) {
      this.#recheck = setInterval(() => {
        this.#events = this.#events.then(() => this.#recheckJob()).catch(() => undefined);
      }, every);
      this.#recheck.unref();
    }
  }

  /**
   * The `after` to resume from, or undefined to start from a snapshot. An
   * `after` beyond the job's latest event (a client that made it up, or saw
   * events the store has since lost) would skip every event to come and
   * never see the job end: such a client gets a snapshot instead (a job that
   * has ended just ends the stream: nothing is to come). Read after
   * subscribing, so no event it could have seen is newer than this.
   */
  async #checkedAfter(): Promise<number | undefined> {
    const after = this.options.after;
    if (after === undefined || after <= (this.job.event_seq ?? 0) || isFinal(this.job.status)) return after;
    const record = await this.driver.queue.get(this.job.id);
    return record && (after <= (record.event_seq ?? 0) || isFinal(record.status)) ? after : undefined;
  }

  /**
   * Reads the job again (every `recheckMs`, between events): a stream must
   * end even when its events never come. The job gone (expired, or Redis
   * restarted empty): closed with 4404. The job's numbering behind this
   * client's (its events were lost and started again): a fresh snapshot.
   * The job ended but its final event never arrived: the missed events, or
   * a snapshot, and the stream ends.
   */
  async #recheckJob(): Promise<void> {
    if (this.#ended) return;
    const record = await this.driver.queue.get(this.job.id);
    if (this.#ended) return;
    if (!record) return this.#give(streamCloseCodes.jobGone, `job ${this.job.id} no longer exists`);
    const latest = record.event_seq ?? 0;
    if (latest < this.#cursor) {
      this.#cursor = 0;
      return this.#sendSnapshot(true);
    }
    if (!isFinal(record.status) || latest === this.#cursor) return;
    const missed = await this.driver.events.history(this.job.id, this.#cursor);
    if (this.#ended) return;
    if (missed) for (const e of missed) if (!this.#ended && e.seq > this.#cursor) this.#sendEvent(e);
    if (!this.#ended) await this.#sendSnapshot(true);
  }

  /** Stops following (the client left). */
  stop(): void {
    this.#ended = true;
    clearInterval(this.#recheck);
    this.#detach?.();
    this.#detach = undefined;
  }

  async #sendSnapshot(resync: boolean): Promise<void> {
    const record = (await this.driver.queue.get(this.job.id)) ?? this.job;
    const position = record.status === 'queued' ? await this.driver.queue.position(record.id) : undefined;
    this.#cursor = Math.max(this.#cursor, record.event_seq ?? 0);
    this.#status = record.status;
    this.#position = position;
    this.#write({
      type: 'snapshot',
      job_id: record.id,
      seq: this.#cursor,
      ...(resync ? { resync: true } : {}),
      job: jobView(record, position),
    });
    if (isFinal(record.status)) return this.#finish();
    if (record.status === 'running') await this.#sendLatestPreview();
  }

  async #sendLatestPreview(): Promise<void> {
    const preview = await this.driver.events.latestPreview(this.job.id).catch(() => undefined);
    if (preview) this.#offerPreview(preview, true);
  }

  #accept(message: JobMessage | PositionUpdate): void {
    if (this.#ended) return;
    if (message.type === 'preview') return this.#offerPreview(message, false);
    if (message.type === 'position') {
      if (this.#status !== 'queued' || message.position === this.#position) return;
      this.#position = message.position;
      // An update of the last `queued` state: it repeats that event's seq.
      this.#write({
        type: 'queued',
        job_id: this.job.id,
        seq: this.#cursor,
        position: message.position,
        update: true,
      });
      return;
    }
    this.#events = this.#events
      .then(() => this.#onEvent(message))
      .catch(() => this.#give(1011, 'the event bus failed'));
  }

  async #onEvent(event: JobEvent): Promise<void> {
    if (this.#ended || event.seq <= this.#cursor) return;
    if (event.seq > this.#cursor + 1) {
      // A gap (the bus lost messages while reconnecting): fill it from the kept events, or start over.
      const missed = await this.driver.events.history(this.job.id, this.#cursor);
      if (!missed) return this.#sendSnapshot(true);
      for (const e of missed) if (!this.#ended && e.seq > this.#cursor) this.#sendEvent(e);
      return;
    }
    // The last step's preview, when it is being made, goes out before the job's final event.
    if (finalEventTypes.has(event.type)) await this.#settlePreviews();
    this.#sendEvent(event);
  }

  async #settlePreviews(): Promise<void> {
    const deadline = performance.now() + PREVIEW_SETTLE_MS;
    while (this.#previewBusy && performance.now() < deadline) {
      await Promise.race([this.#previewWork, new Promise((r) => setTimeout(r, PREVIEW_SETTLE_MS).unref())]);
    }
  }

  #sendEvent(event: JobEvent): void {
    this.#cursor = event.seq;
    if (event.type === 'queued') {
      this.#status = 'queued';
      this.#position = event.position;
    } else if (event.type === 'started') this.#status = 'running';
    this.#write(eventMessage(event), event.seq);
    if (finalEventTypes.has(event.type)) this.#finish();
  }

  #offerPreview(preview: JobPreview, latest: boolean): void {
    const { cadence } = this.options;
    if (this.#ended || cadence.kind === 'none') return;
    const last = preview.step >= preview.steps;
    if (!latest && !last) {
      if (cadence.kind === 'every' && preview.step % cadence.steps !== 0) return;
      if (cadence.kind === 'interval' && performance.now() - this.#lastPreviewAt < cadence.ms) return;
    }
    if (this.sink.buffered > this.limits.previewDropBytes) {
      this.hub.previews.dropped += 1;
      return;
    }
    if (this.#previewBusy) {
      // Only the newest waits; the one it replaces is dropped, never queued.
      if (this.#previewNext) this.hub.previews.dropped += 1;
      this.#previewNext = preview;
      return;
    }
    this.#previewBusy = true;
    this.#lastPreviewAt = performance.now();
    this.#previewWork = this.hub
      .encodePreview(preview, this.options.format, this.#size)
      .then((encoded) => {
        if (this.#ended) return;
        // The close limit is about a backlog the client leaves unread, not one frame: a preview larger
        // than the limit on its own would cut off even a client that reads everything, so it is dropped.
        if (this.sink.previewBytes(encoded) > this.limits.closeBytes) {
          this.hub.previews.dropped += 1;
          return;
        }
        this.sink.sendPreview(
          {
            format: encoded.format,
            step: preview.step,
            steps: preview.steps,
            width: encoded.width,
            height: encoded.height,
            seq: this.#cursor,
            job_id: this.job.id,
          },
          encoded,
        );
        this.hub.previews.sent += 1;
        this.#checkBuffer();
      })
      .catch(() => void (this.hub.previews.dropped += 1))
      .finally(() => {
        this.#previewBusy = false;
        const next = this.#previewNext;
        this.#previewNext = undefined;
        if (next) this.#offerPreview(next, false);
      });
  }

  #write(message: StreamMessage, id?: number): void {
    if (this.#ended) return;
    this.sink.send(message, id);
    this.#checkBuffer();
  }

  #checkBuffer(): void {
    if (this.sink.buffered > this.limits.closeBytes)
      this.#give(streamCloseCodes.tooSlow, 'client too slow: it left too much unread');
  }

  #give(code: number, reason: string): void {
    if (this.#ended) return;
    this.stop();
    this.sink.abort(code, reason);
  }

  #finish(): void {
    if (this.#ended) return;
    this.stop();
    this.sink.end();
  }
}
