import { z } from 'zod';
import { GiraffeError } from './errors';

/**
 * Every setting giraffe reads, with its default. This is the only module that
 * reads `process.env`; everything else receives a frozen {@link Config}.
 */
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const configSchema = z.object({
  /** Interface the HTTP API binds to. @defaultValue `0.0.0.0` */
  HOST: z.string().min(1).default('0.0.0.0'),
  /** TCP port of the HTTP API. @defaultValue `8080` */
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Redis connection URL. Unset: embedded mode (in-process queue, one process). */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /**
   * Prefix of every Redis key and BullMQ queue. Keep the braces: they are a
   * Redis Cluster hash tag that puts all of giraffe's keys in one slot.
   * @defaultValue `{giraffe}`
   */
  REDIS_PREFIX: z
    .string()
    .regex(/^\{[A-Za-z0-9_.:-]+\}$/, 'must look like {name}: a Redis Cluster hash tag')
    .default('{giraffe}'),
  /** Directory holding one sub-directory per model (diffusers ONNX layout). @defaultValue `./models` */
  MODELS_DIR: z.string().min(1).default('./models'),
  /** Model used when a request names none; `demo` is the built-in demo model. @defaultValue `demo` */
  DEFAULT_MODEL: z.string().min(1).default('demo'),
  /** Where results and the generated demo model are kept. @defaultValue `./data` */
  DATA_DIR: z.string().min(1).default('./data'),
  /** Comma-separated API keys (or `sha256:<hex>` hashes of them). Unset: the API is open. */
  API_KEYS: z
    .string()
    .optional()
    .transform((s) =>
      (s ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
  /** pino log level. @defaultValue `info` */
  LOG_LEVEL: z.enum(logLevels).default('info'),
  /** How long finished jobs and their images are kept, in seconds. @defaultValue `86400` (24 h) */
  RETENTION_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(86_400),
  /** Distributed mode: keep result images in Redis (`redis`) or under DATA_DIR on a shared volume (`files`). @defaultValue `redis` */
  RESULTS_STORE: z.enum(['redis', 'files']).default('redis'),
  /** Attempts per job before it fails for good: failed runs and runs lost with a crashed worker both count. The API process's value goes with each job it queues. @defaultValue `3` */
  JOB_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  /**
   * A worker that stops renewing a job's lock for this long loses the job to another worker, in ms; the
   * lock is renewed every half of it and looked for every half of it, so a killed worker's job runs again
   * on another within about twice this. @defaultValue `6000`
   */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).max(600_000).default(6000),
  /**
   * A running job saves its denoising state (latents, scheduler history, random state) this often, in
   * ms, so a worker that takes it over resumes there instead of at step 1; also on SIGTERM. `0`: never.
   * @defaultValue `2000`
   */
  CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(0).max(3_600_000).default(2000),
  /**
   * `giraffe worker`: jobs it claims beyond what its device runs at once. Such a job waits on its inference
   * thread, inputs loaded, and starts the moment the last one's final `session.run` returns (that one's images
   * are encoded and stored meanwhile, on the main thread). A claimed job waits for this worker even
   * when another is idle, so leave it at 0 where several workers serve a model and queues run short; 1 keeps
   * a single worker's device busy. `giraffe serve` (embedded: the only worker) always claims one ahead.
   * @defaultValue `0`
   */
  WORKER_PREFETCH: z.coerce.number().int().min(0).max(4).default(0),
  /** On SIGTERM a worker lets its running job finish for this long before handing it back, in ms. @defaultValue `30000` */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  /** Requests one API key (or, without keys, one client address) may make per window. @defaultValue `300` */
  RATE_LIMIT_MAX: z.coerce.number().int().min(1).max(1_000_000).default(300),
  /** The rate-limit window in ms. @defaultValue `60000` */
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1000).max(86_400_000).default(60_000),
  /**
   * Failed authentications (wrong API keys, bad stream tokens) one client
   * address may make per RATE_LIMIT_WINDOW_MS; beyond it, its requests that
   * need a key get 429 with Retry-After until the window ends. @defaultValue `20`
   */
  AUTH_FAILURE_MAX: z.coerce.number().int().min(1).max(1_000_000).default(20),
  /**
   * Key that signs the short-lived, job-scoped stream tokens (browsers cannot
   * set headers on a WebSocket). Give every API replica the same value; unset,
   * each process makes its own and its tokens work only there.
   */
  STREAM_TOKEN_SECRET: z.string().min(16).optional(),
  /** Lifetime of a stream token, in seconds. @defaultValue `3600` */
  STREAM_TOKEN_TTL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(3600),
  /** Events kept per job for stream clients that reconnect (`Last-Event-ID`, `?after=`). @defaultValue `500` */
  STREAM_HISTORY_MAX: z.coerce.number().int().min(10).max(100_000).default(500),
  /**
   * Bytes a stream client may leave unread before its previews are dropped
   * (status events still go out). @defaultValue `1048576` (1 MiB)
   */
  STREAM_PREVIEW_DROP_BYTES: z.coerce.number().int().min(1024).max(1_073_741_824).default(1_048_576),
  /** Bytes a stream client may leave unread before it is disconnected. @defaultValue `8388608` (8 MiB) */
  STREAM_CLOSE_BYTES: z.coerce.number().int().min(4096).max(1_073_741_824).default(8_388_608),
  /** Interval of WebSocket pings and SSE keep-alive comments; a socket that misses a pong is closed. In ms. @defaultValue `30000` */
  STREAM_PING_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  /** Workers make previews of a job's steps at most this often, in ms (0: every step). @defaultValue `0` */
  PREVIEW_MIN_INTERVAL_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /** Waiting jobs per model beyond which new jobs are refused with 503. @defaultValue `1000` */
  MAX_QUEUE_DEPTH: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /**
   * Unfinished (queued or running) jobs one API key may have at once; without
   * API_KEYS, one client address. Beyond it new jobs get 429 with Retry-After.
   * @defaultValue `100`
   */
  MAX_JOBS_PER_KEY: z.coerce.number().int().min(1).max(1_000_000).default(100),
  /**
   * Serve the AUTOMATIC1111-compatible API (`/sdapi/v1/*`) that open-webui,
   * SillyTavern and other A1111 clients speak (docs/a1111-api.md).
   * @defaultValue `true`
   */
  A1111_API: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  /**
   * How long an A1111 `txt2img`/`img2img` call waits for its job before it is
   * canceled and answered with 504, in ms. A1111 answers when the picture is
   * done; clients wait that long. @defaultValue `600000` (10 minutes)
   */
  A1111_WAIT_TIMEOUT_MS: z.coerce.number().int().min(1000).max(3_600_000).default(600_000),
  /**
   * Where workers run the models (`--device` overrides it): `cpu`, `webgpu`
   * (any GPU with a Vulkan, D3D12 or Metal driver; no index: pin one GPU per
   * worker process, see docs/deployment.md) or `cuda[:N]` (needs onnxruntime-node
   * installed with ONNXRUNTIME_NODE_INSTALL=cuda12). @defaultValue `cpu`
   */
  DEVICE: z
    .string()
    .regex(
      /^(?:cpu|webgpu|cuda(?::\d{1,2})?)$/,
      'must be cpu, webgpu or cuda[:N]; webgpu takes no index: run one worker per GPU and pin it (docs/deployment.md)',
    )
    .default('cpu'),
  /**
   * Largest input image file (`image`, `mask_image` of an edit) the API
   * accepts, in bytes; a JSON body may hold two of them in base64.
   * @defaultValue `20971520` (20 MiB)
   */
  MAX_INPUT_IMAGE_BYTES: z.coerce.number().int().min(1024).max(268_435_456).default(20_971_520),
  /**
   * Most pixels an input image's header may declare; larger ones are refused
   * before they are decoded (decompression bombs). @defaultValue `16777216` (4096×4096)
   */
  MAX_INPUT_IMAGE_PIXELS: z.coerce.number().int().min(4096).max(268_435_456).default(16_777_216),
  /**
   * Embedded mode: memory the loaded models may take together, in MiB,
   * estimated from the size of their files. Models load on first use; to
   * load another, the least recently used idle one is unloaded, and a model
   * in use is waited for rather than loaded beside (only a model larger than
   * the whole budget loads beyond it, alone). `0`: half of the machine's
   * memory. @defaultValue `0`
   */
  MODEL_MEMORY_BUDGET_MB: z.coerce.number().min(0).max(16_777_216).default(0),
  /**
   * A job waiting for a model that no live worker has served for this long
   * fails with GIRAFFE_ERR_MODEL_UNSERVED instead of waiting for ever, in ms.
   * Longer than a worker takes to restart and load its models. @defaultValue `300000`
   */
  UNSERVED_MODEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(86_400_000).default(300_000),
  /** onnxruntime intra-op threads per inference session; 0 lets onnxruntime choose. @defaultValue `0` */
  ORT_INTRA_OP_THREADS: z.coerce.number().int().min(0).max(256).default(0),
  /**
   * Master key of job webhooks: each API key's signing secret is
   * HMAC-SHA256(WEBHOOK_SECRET, owner id), hex (`_` for jobs made without a
   * key). Give every API and worker process the same value. Unset: webhooks
   * are off, and requests that ask for one are refused.
   */
  WEBHOOK_SECRET: z.string().min(16).optional(),
  /**
   * Comma-separated host names, IP addresses and CIDR ranges that webhooks may
   * reach although they are not public (private, loopback, link-local …).
   * @defaultValue empty: public addresses only
   */
  WEBHOOK_ALLOWLIST: z
    .string()
    .optional()
    .transform((s) =>
      (s ?? '')
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
  /** Attempts per webhook delivery, the first included; waits double from 1 s between them. @defaultValue `5` */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** Limit of one webhook attempt (connect, send, answer), in ms. @defaultValue `10000` */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /**
   * OpenAI model names that `POST /v1/images/generations` runs on a model of
   * ours, as `alias=model` pairs separated by commas (`dall-e-3=sd15,gpt-image-1=demo`).
   * `GET /v1/models` lists them. Any other model name that is not served here
   * is OpenAI's 404 `model_not_found`, never a silent substitute.
   * @defaultValue empty: no aliases
   */
  OPENAI_MODEL_ALIASES: z
    .string()
    .optional()
    .transform((s, ctx) => {
      const aliases: Record<string, string> = {};
      for (const pair of (s ?? '').split(',')) {
        if (pair.trim() === '') continue;
        const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*$/.exec(pair);
        if (!m) {
          ctx.addIssue({ code: 'custom', message: `"${pair.trim()}" is not alias=model` });
          return z.NEVER;
        }
        aliases[m[1]] = m[2];
      }
      return aliases;
    }),
  /**
   * Hugging Face Hub (or a mirror of it) that `giraffe models pull` downloads from.
   * @defaultValue `https://huggingface.co`
   */
  HF_ENDPOINT: z.url({ protocol: /^https?$/ }).default('https://huggingface.co'),
  /**
   * Hugging Face access token for gated or private repositories, sent as a
   * bearer token to HF_ENDPOINT only (never to the storage it redirects to).
   */
  HF_TOKEN: z.string().min(1).optional(),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** A setting that failed validation; the message names the variable. */
export class ConfigError extends GiraffeError {
  constructor(message: string, variables: string[]) {
    super('GIRAFFE_ERR_CONFIG_INVALID', message, { variables });
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment once and freezes the result. Empty strings count
 * as unset so that `PORT=` in a `.env` file falls back to the default.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      return `${name}: ${issue.message} (got ${JSON.stringify(input[name] ?? null)})`;
    });
    const variables = parsed.error.issues.map((issue) => issue.path.join('.'));
    throw new ConfigError(`Invalid configuration:\n  ${problems.join('\n  ')}`, variables);
  }
  return Object.freeze(parsed.data);
}
