/**
 * The one error catalogue. Every error giraffe raises on purpose carries a
 * stable code, the HTTP status the API answers with, and whether retrying the
 * same work can help (bad input never can; a transient runtime failure may).
 */
export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  readonly retryable: boolean;
}

export const errorCatalogue = {
  GIRAFFE_ERR_CONFIG_INVALID: { status: 500, title: 'Invalid configuration', retryable: false },
  GIRAFFE_ERR_REQUEST_INVALID: { status: 400, title: 'Invalid request', retryable: false },
  GIRAFFE_ERR_REQUEST_MALFORMED: { status: 400, title: 'Malformed request body', retryable: false },
  GIRAFFE_ERR_REQUEST_TOO_LARGE: { status: 413, title: 'Request body too large', retryable: false },
  GIRAFFE_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type', retryable: false },
  GIRAFFE_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such route', retryable: false },
  GIRAFFE_ERR_AUTH_REQUIRED: { status: 401, title: 'API key required', retryable: false },
  GIRAFFE_ERR_JOB_NOT_FOUND: { status: 404, title: 'Job not found', retryable: false },
  GIRAFFE_ERR_IMAGE_NOT_FOUND: { status: 404, title: 'Image not found', retryable: false },
  GIRAFFE_ERR_JOB_FINISHED: { status: 409, title: 'Job already finished', retryable: false },
  GIRAFFE_ERR_JOB_EXISTS: { status: 409, title: 'Job id already taken', retryable: false },
  GIRAFFE_ERR_JOB_NOT_FINISHED: { status: 409, title: 'Job has no images yet', retryable: true },
  GIRAFFE_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests', retryable: true },
  GIRAFFE_ERR_QUEUE_FULL: { status: 503, title: 'Queue is full', retryable: true },
  GIRAFFE_ERR_TOO_MANY_JOBS: { status: 429, title: 'Too many unfinished jobs', retryable: true },
  GIRAFFE_ERR_IDEMPOTENCY_CONFLICT: {
    status: 409,
    title: 'Idempotency key reused with a different request',
    retryable: false,
  },
  GIRAFFE_ERR_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    title: 'Request with this idempotency key in progress',
    retryable: true,
  },
  GIRAFFE_ERR_MODEL_UNKNOWN: { status: 400, title: 'Unknown model', retryable: false },
  GIRAFFE_ERR_MODEL_UNSERVED: { status: 503, title: 'No worker serves the model', retryable: true },
  GIRAFFE_ERR_INTERNAL: { status: 500, title: 'Internal server error', retryable: true },
  GIRAFFE_ERR_MODEL_NOT_FOUND: { status: 404, title: 'Model not found', retryable: false },
  GIRAFFE_ERR_MODEL_FILE_MISSING: { status: 500, title: 'Model directory is incomplete', retryable: false },
  GIRAFFE_ERR_MODEL_CONTRACT: {
    status: 500,
    title: 'Model breaks the ONNX export contract',
    retryable: false,
  },
  GIRAFFE_ERR_MODEL_LOAD_FAILED: { status: 500, title: 'Model could not be loaded', retryable: false },
  GIRAFFE_ERR_DEVICE_UNAVAILABLE: { status: 500, title: 'Execution provider unavailable', retryable: false },
  GIRAFFE_ERR_DEVICE_UNSUPPORTED: {
    status: 500,
    title: 'Model not supported on this device',
    retryable: false,
  },
  GIRAFFE_ERR_GENERATION_CANCELED: { status: 409, title: 'Generation canceled', retryable: false },
  GIRAFFE_ERR_GENERATION_FAILED: { status: 500, title: 'Generation failed', retryable: true },
  GIRAFFE_ERR_MODEL_OUTPUT_INVALID: { status: 500, title: 'Model produced invalid output', retryable: false },
  GIRAFFE_ERR_CHECKPOINT_INVALID: { status: 500, title: 'Checkpoint unreadable', retryable: false },
  GIRAFFE_ERR_PIPELINE_CLOSED: { status: 503, title: 'Pipeline is closed', retryable: true },
  GIRAFFE_ERR_QUEUE_UNAVAILABLE: { status: 503, title: 'Job queue unavailable', retryable: true },
  GIRAFFE_ERR_WEBHOOK_URL_INVALID: { status: 400, title: 'Invalid webhook URL', retryable: false },
  GIRAFFE_ERR_WEBHOOKS_DISABLED: { status: 400, title: 'Webhooks are not enabled', retryable: false },
  GIRAFFE_ERR_WEBHOOK_ADDRESS_REFUSED: {
    status: 400,
    title: 'Webhook destination refused',
    retryable: false,
  },
  GIRAFFE_ERR_WEBHOOK_DELIVERY_FAILED: { status: 502, title: 'Webhook delivery failed', retryable: true },
  GIRAFFE_ERR_UPGRADE_REQUIRED: { status: 426, title: 'WebSocket upgrade required', retryable: false },
  GIRAFFE_ERR_STREAM_MESSAGE_INVALID: { status: 400, title: 'Invalid stream message', retryable: false },
  GIRAFFE_ERR_STREAM_TOO_SLOW: { status: 429, title: 'Stream client too slow', retryable: true },
  GIRAFFE_ERR_HUB_UNAUTHORIZED: {
    status: 401,
    title: 'Hugging Face Hub refused the request',
    retryable: false,
  },
  GIRAFFE_ERR_HUB_NOT_FOUND: {
    status: 404,
    title: 'Repository, revision or file not found on the Hub',
    retryable: false,
  },
  GIRAFFE_ERR_HUB_UNAVAILABLE: { status: 502, title: 'Hugging Face Hub unreachable', retryable: true },
  GIRAFFE_ERR_MODEL_NOT_A_PIPELINE: {
    status: 422,
    title: 'Not a Stable Diffusion ONNX export',
    retryable: false,
  },
  GIRAFFE_ERR_MODEL_UNSUPPORTED: { status: 422, title: 'Model not supported', retryable: false },
  GIRAFFE_ERR_MODEL_CHECKSUM_MISMATCH: {
    status: 502,
    title: 'Model file checksum mismatch',
    retryable: true,
  },
  GIRAFFE_ERR_MODEL_EXISTS: { status: 409, title: 'Model already exists', retryable: false },
  GIRAFFE_ERR_MODEL_PATH_REFUSED: { status: 400, title: 'Path outside MODELS_DIR', retryable: false },
  GIRAFFE_ERR_INPUT_IMAGE_INVALID: { status: 400, title: 'Input image unreadable', retryable: false },
  GIRAFFE_ERR_INPUT_IMAGE_TOO_LARGE: { status: 413, title: 'Input image too large', retryable: false },
  GIRAFFE_ERR_MODEL_MODE_UNSUPPORTED: {
    status: 400,
    title: 'Model cannot do this kind of generation',
    retryable: false,
  },
  GIRAFFE_ERR_SDAPI_UNSUPPORTED: {
    status: 422,
    title: 'AUTOMATIC1111 option not supported',
    retryable: false,
  },
  GIRAFFE_ERR_SDAPI_IMAGE_INVALID: { status: 422, title: 'Not a readable image', retryable: false },
  GIRAFFE_ERR_SDAPI_TIMEOUT: { status: 504, title: 'Job did not finish in time', retryable: true },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalogue;

/** Base class of every catalogued giraffe error. */
export class GiraffeError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra structured facts (field path, file name …) for problem+json bodies and logs. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'GiraffeError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.retryable = errorCatalogue[code].retryable;
    this.details = Object.freeze({ ...details });
  }

  /** Plain data that survives `postMessage` and JSON (class identity does not). */
  toJSON(): SerializedGiraffeError {
    return { name: 'GiraffeError', code: this.code, message: this.message, details: { ...this.details } };
  }

  /** Rebuilds an error that crossed a thread or process boundary. */
  static fromJSON(data: SerializedGiraffeError): GiraffeError {
    return new GiraffeError(data.code, data.message, data.details);
  }

  static isSerialized(value: unknown): value is SerializedGiraffeError {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { name?: unknown }).name === 'GiraffeError' &&
      typeof (value as { code?: unknown }).code === 'string' &&
      (value as { code: string }).code in errorCatalogue
    );
  }
}

export interface SerializedGiraffeError {
  name: 'GiraffeError';
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export function isGiraffeError(value: unknown, code?: ErrorCode): value is GiraffeError {
  return value instanceof GiraffeError && (code === undefined || value.code === code);
}
