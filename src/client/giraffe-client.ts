import type { JobRequest } from '../jobs/job-request';

/** The body of `POST /v1/generate`: a job request, whose images may also be given as bytes. */
export type GenerateBody = Omit<JobRequest, 'image' | 'mask_image'> & {
  readonly image?: string | Uint8Array;
  readonly mask_image?: string | Uint8Array;
};
/**
 * A small client of giraffe's HTTP API (Node 20's fetch). The job stream
 * lives in {@link watchJob}; this is the request/response half.
 */

export interface GiraffeClientOptions {
  /** Where the API is, e.g. `http://localhost:8080`. */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` when set. */
  readonly apiKey?: string;
}

/** The problem+json body of an error answer. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail?: string;
  readonly code?: string;
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

/** An error answer of the API, with its problem body. */
export class GiraffeApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.code ?? problem.title}: ${problem.detail ?? problem.title}`);
    this.name = 'GiraffeApiError';
  }
}

/** A job as the API shows it (the fields clients use most; the rest is there too). */
export interface Job {
  readonly id: string;
  readonly status: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  readonly seed: number;
  readonly position?: number;
  readonly progress?: { readonly step: number; readonly steps: number; readonly eta_ms: number };
  readonly result?: {
    readonly images: readonly {
      readonly index: number;
      readonly url: string;
      readonly content_type: string;
    }[];
  };
  readonly error?: { readonly code: string; readonly message: string };
  readonly stream_token?: string;
  readonly links: { readonly self: string; readonly stream: string; readonly events: string };
  readonly [field: string]: unknown;
}

export class GiraffeClient {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;

  constructor(options: GiraffeClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
  }

  /**
   * `POST /v1/generate`: the queued job (202), with its stream token. A body
   * with bytes in it (`image`, `mask_image` as Buffers) goes as
   * `multipart/form-data`, the bytes as file parts, so nothing is base64-encoded.
   */
  async generate(body: GenerateBody, options: { idempotencyKey?: string } = {}): Promise<Job> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'idempotency-key': options.idempotencyKey }
      : {};
    if (!Object.values(body).some((v) => v instanceof Uint8Array)) {
      return this.#json('POST', '/v1/generate', body, headers);
    }
    const form = new FormData();
    for (const [name, value] of Object.entries(body)) {
      if (value === undefined || value === null) continue;
      if (value instanceof Uint8Array) form.append(name, new Blob([new Uint8Array(value)]), name);
      else if (Array.isArray(value)) for (const item of value) form.append(name, String(item));
      else form.append(name, typeof value === 'string' ? value : JSON.stringify(value));
    }
    const response = await this.fetch('/v1/generate', { method: 'POST', headers, body: form });
    if (!response.ok) throw await apiError(response);
    return (await response.json()) as Job;
  }

  getJob(id: string): Promise<Job> {
    return this.#json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  cancel(id: string): Promise<Job> {
    return this.#json('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  /** An image's bytes and content type (`format` converts: png, jpeg, webp). */
  async image(id: string, index = 0, format?: string): Promise<{ data: Buffer; contentType: string }> {
    const query = format ? `?format=${encodeURIComponent(format)}` : '';
    const response = await this.fetch(`/v1/jobs/${encodeURIComponent(id)}/images/${index}${query}`);
    if (!response.ok) throw await apiError(response);
    return {
      data: Buffer.from(await response.arrayBuffer()),
      contentType: response.headers.get('content-type') ?? 'application/octet-stream',
    };
  }

  /** A raw request to the API with the client's key. */
  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#apiKey) headers.set('authorization', `Bearer ${this.#apiKey}`);
    return fetch(`${this.baseUrl}${path}`, { ...init, headers });
  }

  async #json<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const response = await this.fetch(path, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok) throw await apiError(response);
    return (await response.json()) as T;
  }
}

async function apiError(response: Response): Promise<GiraffeApiError> {
  const text = await response.text();
  let problem: Problem;
  try {
    problem = JSON.parse(text) as Problem;
  } catch {
    problem = { type: 'about:blank', title: response.statusText, status: response.status, detail: text };
  }
  return new GiraffeApiError(response.status, problem);
}
