import sharp from 'sharp';
import type { JobMessage, JobPreview } from '../../jobs';
import type { PreviewFormat } from '../../jobs/stream-protocol';
import type { QueueDriver } from '../../queue';

type Listener = (message: JobMessage | PositionUpdate) => void;

/** The hub's own message: a queued job's place in the queue changed. */
export interface PositionUpdate {
  readonly type: 'position';
  readonly job_id: string;
  readonly position: number;
}

/** An encoded preview, ready to send. */
export interface EncodedPreview {
  readonly format: PreviewFormat;
  readonly width: number;
  readonly height: number;
  readonly data: Buffer;
  /**
   * Binary frames made from it, by header: every client of a job at the same
   * point gets the same frame, built once rather than copied per socket.
   */
  readonly frames: Map<string, Buffer>;
}

/** One job followed by this process: one bus subscription, any number of stream clients. */
interface Followed {
  readonly listeners: Set<{ readonly listener: Listener }>;
  subscribed: Promise<() => Promise<void>>;
  /** The latest preview's encodings, by `format:size`, shared by every client that asks for the same. */
  previews: Map<string, Promise<EncodedPreview>>;
  /** The `format:size` variants this job's previews are made in (at most MAX_PREVIEW_VARIANTS). */
  readonly variants: Set<string>;
  previewStep: number;
  /** Last position sent to listeners, while the job waits. */
  position?: number;
  /** Whether the job may be waiting (not yet seen to start or end): only those are polled. */
  waiting: boolean;
  /** `queued` events seen: a poll that began before one must not mark the job as not waiting. */
  queuedEvents: number;
}

export interface StreamHubOptions {
  /** How often waiting jobs with listeners have their queue position checked. @defaultValue 500 */
  readonly positionPollMs?: number;
}

/**
 * Where one API process's stream clients meet the event bus: a job has one
 * bus subscription however many clients follow it, a preview is scaled and
 * encoded once per format and size however many clients want it, and the
 * queue positions of waiting jobs are checked on a timer and sent on when
 * they change.
 */
export class StreamHub {
  readonly #driver: QueueDriver;
  readonly #followed = new Map<string, Followed>();
  /** Previews this process sent to stream clients, and dropped for clients too slow to take them. */
  readonly previews = { sent: 0, dropped: 0 };
  readonly #poll: NodeJS.Timeout;
  #polling = false;
  #codecsWarm = false;

  constructor(driver: QueueDriver, options: StreamHubOptions = {}) {
    this.#driver = driver;
    this.#poll = setInterval(() => void this.#pollPositions(), options.positionPollMs ?? 500);
    this.#poll.unref();
  }

  /** Jobs followed and clients following them, for metrics. */
  get size(): { jobs: number; listeners: number } {
    let listeners = 0;
    for (const f of this.#followed.values()) listeners += f.listeners.size;
    return { jobs: this.#followed.size, listeners };
  }

  /**
   * Starts delivering a job's messages to `listener`; resolves once the bus
   * subscription is live (so a state read after it misses nothing). The
   * result stops the delivery.
   */
  async follow(jobId: string, listener: Listener): Promise<() => void> {
    this.#warmCodecs();
    let followed = this.#followed.get(jobId);
    if (!followed) {
      const created: Followed = {
        listeners: new Set(),
        subscribed: Promise.resolve(async () => undefined),
        previews: new Map(),
        variants: new Set(),
        previewStep: -1,
        waiting: true,
        queuedEvents: 0,
      };
      created.subscribed = this.#driver.events.subscribe(jobId, (message) =>
        this.#dispatch(created, message),
      );
      this.#followed.set(jobId, (followed = created));
      created.subscribed.catch(() => {
        if (this.#followed.get(jobId) === created) this.#followed.delete(jobId);
      });
    }
    const entry = { listener };
    followed.listeners.add(entry);
    try {
      await followed.subscribed;
    } catch (err) {
      followed.listeners.delete(entry);
      throw err;
    }
    const current = followed;
    return () => {
      if (!current.listeners.delete(entry) || current.listeners.size > 0) return;
      if (this.#followed.get(jobId) === current) this.#followed.delete(jobId);
      void current.subscribed.then((stop) => stop()).catch(() => undefined);
    };
  }

  /**
   * The preview scaled to fit `size` (longest side, never beyond the job's
   * image) and encoded; made once per job, step, format and size.
   */
  encodePreview(preview: JobPreview, format: PreviewFormat, size: number): Promise<EncodedPreview> {
    const followed = this.#followed.get(preview.job_id);
    if (followed) [format, size] = variantFor(followed.variants, format, size);
    const key = `${format}:${size}`;
    if (followed && followed.previewStep === preview.step) {
      const cached = followed.previews.get(key);
      if (cached) return cached;
    } else if (followed) {
      followed.previews = new Map();
      followed.previewStep = preview.step;
    }
    const encoding = encode(preview, format, size);
    followed?.previews.set(key, encoding);
    return encoding;
  }

  /**
   * libvips loads its codecs on first use (tens of ms): the first stream client
   * starts that while its snapshot goes out, so its first preview does not wait.
   */
  #warmCodecs(): void {
    if (this.#codecsWarm) return;
    this.#codecsWarm = true;
    void Promise.all(
      (['jpeg', 'webp', 'png'] as const).map((format) =>
        encode(
          {
            type: 'preview',
            job_id: '',
            step: 0,
            steps: 0,
            width: 1,
            height: 1,
            rgb: Buffer.alloc(3),
            at: '',
          },
          format,
          8,
        ),
      ),
    ).catch(() => undefined);
  }

  close(): void {
    clearInterval(this.#poll);
    for (const followed of this.#followed.values())
      void followed.subscribed.then((stop) => stop()).catch(() => undefined);
    this.#followed.clear();
  }

  #dispatch(followed: Followed, message: JobMessage | PositionUpdate): void {
    if (message.type === 'queued') {
      followed.waiting = true;
      followed.queuedEvents += 1;
    } else if (message.type !== 'position' && message.type !== 'preview' && message.type !== 'progress') {
      followed.waiting = false;
      followed.position = undefined;
    }
    for (const { listener } of [...followed.listeners]) {
      try {
        listener(message);
      } catch {
        // One client's failure is its own.
      }
    }
  }

  async #pollPositions(): Promise<void> {
    if (this.#polling || this.#followed.size === 0) return;
    this.#polling = true;
    try {
      for (const [jobId, followed] of [...this.#followed]) {
        if (!followed.waiting) continue;
        const seen = followed.queuedEvents;
        const position = await this.#driver.queue.position(jobId).catch(() => null);
        if (position === undefined) {
          // Not waiting: a job joined mid-run (its start came before the client). Poll it no more
          // until it is queued again.
          if (followed.queuedEvents === seen) followed.waiting = false;
          continue;
        }
        if (position === null || position === followed.position) continue;
        followed.position = position;
        // Each client passes it on only if it differs from what it last told its own client.
        this.#dispatch(followed, { type: 'position', job_id: jobId, position });
      }
    } finally {
      this.#polling = false;
    }
  }
}

/**
 * Distinct preview encodings one job is made in, per API process. Every
 * distinct format and size costs an encode per step, so clients asking for
 * many (a probe asked for dozens) made a 2 s job take 12 s and stalled the
 * process (issue 17, item 1). The first variants asked for are made; a client
 * asking for another gets the nearest of them.
 */
export const MAX_PREVIEW_VARIANTS = 4;

/** The variant a client gets: its own while there is room, else the nearest made (same format first). */
function variantFor(variants: Set<string>, format: PreviewFormat, size: number): [PreviewFormat, number] {
  const key = `${format}:${size}`;
  if (variants.has(key)) return [format, size];
  if (variants.size < MAX_PREVIEW_VARIANTS) {
    variants.add(key);
    return [format, size];
  }
  let best: [PreviewFormat, number] = [format, size];
  let bestCost = Infinity;
  for (const variant of variants) {
    const [f, s] = variant.split(':');
    // A size a pixel away in the asked-for format beats any size in another format.
    const cost = Math.abs(Number(s) - size) + (f === format ? 0 : 1e6);
    if (cost < bestCost) [best, bestCost] = [[f as PreviewFormat, Number(s)], cost];
  }
  return best;
}

async function encode(preview: JobPreview, format: PreviewFormat, size: number): Promise<EncodedPreview> {
  const scale = size / Math.max(preview.width, preview.height);
  const width = Math.max(1, Math.round(preview.width * scale));
  const height = Math.max(1, Math.round(preview.height * scale));
  let image = sharp(preview.rgb, { raw: { width: preview.width, height: preview.height, channels: 3 } });
  if (width !== preview.width || height !== preview.height) image = image.resize(width, height);
  const data =
    format === 'png'
      ? await image.png({ compressionLevel: 3 }).toBuffer()
      : format === 'webp'
        ? await image.webp({ quality: 80, effort: 1 }).toBuffer()
        : await image.jpeg({ quality: 80 }).toBuffer();
  return { format, width, height, data, frames: new Map() };
}
