import { GiraffeError } from '../errors';

/** One file of a Hub repository at one commit, as the tree API lists it. */
export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  readonly path: string;
  readonly size: number;
  /** sha256 of the content, for files stored in LFS (all large weights). */
  readonly sha256?: string;
  /** Git blob id (sha1 of `blob <size>\0<content>`), for every file. */
  readonly gitOid?: string;
}

/** Where to reach the Hub and how to authenticate. */
export interface HubClientOptions {
  /**
   * Base URL of the Hub or of a mirror speaking its API.
   * @defaultValue `https://huggingface.co`
   */
  readonly endpoint?: string;
  /** Access token, sent as `Authorization: Bearer` to `endpoint`'s origin only. */
  readonly token?: string;
  /** The fetch implementation. @defaultValue the global `fetch` */
  readonly fetch?: typeof fetch;
}

/** A repository id: `owner/name` in the Hub's alphabet. */
const repoPattern = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Parses `owner/name[@revision]`; the revision defaults to `main`. */
export function parseRepoRef(ref: string): { repo: string; revision: string } {
  const at = ref.indexOf('@');
  const repo = at < 0 ? ref : ref.slice(0, at);
  const revision = at < 0 ? 'main' : ref.slice(at + 1);
  if (!repoPattern.test(repo) || revision === '') {
    throw new GiraffeError(
      'GIRAFFE_ERR_REQUEST_INVALID',
      `"${ref}" is not a repository: expected OWNER/NAME or OWNER/NAME@REVISION (a branch, tag or commit)`,
      { field: 'repo' },
    );
  }
  return { repo, revision };
}

interface TreeEntry {
  type?: string;
  path?: string;
  size?: number;
  oid?: string;
  lfs?: { oid?: string; sha256?: string; size?: number };
}

/**
 * The few Hub API calls a model download needs: resolve a revision to its
 * commit, list the files at that commit (with the sizes and sha256 the Hub
 * keeps for LFS files), and the URL of a file. Errors carry catalogue codes:
 * 401/403 → HUB_UNAUTHORIZED, 404 → HUB_NOT_FOUND, anything else that fails
 * → HUB_UNAVAILABLE (retryable).
 */
export class HubClient {
  readonly endpoint: string;
  readonly #token: string | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: HubClientOptions = {}) {
    this.endpoint = (options.endpoint ?? 'https://huggingface.co').replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Headers for a request to `url`: the token goes to the Hub's own origin and nowhere else. */
  headersFor(url: string): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': 'giraffe-models' };
    if (this.#token && new URL(url).origin === new URL(this.endpoint).origin) {
      headers.authorization = `Bearer ${this.#token}`;
    }
    return headers;
  }

  /** The commit a branch, tag or commit id names (so every file comes from one commit). */
  async resolveCommit(repo: string, revision: string): Promise<string> {
    const url = `${this.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
    const info = (await this.#getJson(url, `${repo}@${revision}`)) as { sha?: unknown };
    if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) {
      throw new GiraffeError('GIRAFFE_ERR_HUB_UNAVAILABLE', `${url}: the answer names no commit`, { url });
    }
    return info.sha;
  }

  /** Every file of the repository at `commit`, following the tree API's pages. */
  async listFiles(repo: string, commit: string): Promise<HubFile[]> {
    const files: HubFile[] = [];
    let url: string | undefined = `${this.endpoint}/api/models/${repo}/tree/${commit}?recursive=1`;
    while (url) {
      const response = await this.#get(url, `${repo}@${commit}`);
      const entries = (await response.json()) as TreeEntry[];
      if (!Array.isArray(entries)) {
        throw new GiraffeError('GIRAFFE_ERR_HUB_UNAVAILABLE', `${url}: expected a list of files`, { url });
      }
      for (const e of entries) {
        if (e.type !== 'file' || typeof e.path !== 'string') continue;
        const size = e.lfs?.size ?? e.size;
        if (typeof size !== 'number') continue;
        files.push({
          path: e.path,
          size,
          sha256: e.lfs?.oid ?? e.lfs?.sha256,
          gitOid: e.lfs ? undefined : e.oid,
        });
      }
      url = nextPage(response.headers.get('link'), url);
    }
    return files;
  }

  /** Download URL of one file at one commit. */
  fileUrl(repo: string, commit: string, file: string): string {
    return `${this.endpoint}/${repo}/resolve/${commit}/${file.split('/').map(encodeURIComponent).join('/')}`;
  }

  async #getJson(url: string, what: string): Promise<unknown> {
    const response = await this.#get(url, what);
    try {
      return await response.json();
    } catch (err) {
      throw new GiraffeError('GIRAFFE_ERR_HUB_UNAVAILABLE', `${url}: not JSON`, { url }, { cause: err });
    }
  }

  async #get(url: string, what: string): Promise<Response> {
    let response: Response;
    try {
      response = await this.#fetch(url, { headers: { ...this.headersFor(url), accept: 'application/json' } });
    } catch (err) {
      throw new GiraffeError(
        'GIRAFFE_ERR_HUB_UNAVAILABLE',
        `cannot reach ${this.endpoint} (${(err as Error).message}); check HF_ENDPOINT and the network`,
        { url },
        { cause: err },
      );
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw hubError(response.status, url, what, this.#token !== undefined);
    }
    return response;
  }
}

/** The catalogued error for a Hub answer that is not 2xx. */
export function hubError(status: number, url: string, what: string, hasToken: boolean): GiraffeError {
  if (status === 401 || status === 403) {
    const hint = hasToken
      ? 'HF_TOKEN was sent but does not grant access: accept the repository’s terms on the Hub, or use a token that may read it'
      : 'the repository is gated or private: set HF_TOKEN to an access token that may read it';
    return new GiraffeError('GIRAFFE_ERR_HUB_UNAUTHORIZED', `${what}: the Hub answered ${status} (${hint})`, {
      url,
      status,
    });
  }
  if (status === 404) {
    return new GiraffeError('GIRAFFE_ERR_HUB_NOT_FOUND', `${what}: not found on the Hub (${url})`, {
      url,
      status,
    });
  }
  return new GiraffeError('GIRAFFE_ERR_HUB_UNAVAILABLE', `${what}: the Hub answered ${status} (${url})`, {
    url,
    status,
  });
}

/** The `rel="next"` target of a Link header, resolved against the current URL. */
function nextPage(link: string | null, current: string): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return new URL(m[1], current).toString();
  }
  return undefined;
}
