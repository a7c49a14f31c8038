import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

/** One request the fake Hub (or its storage) received. */
export interface HubRequest {
  readonly server: 'hub' | 'storage';
  readonly path: string;
  readonly range?: string;
  readonly authorization?: string;
}

export interface FakeHubOptions {
  /** Repository id, `owner/name`. */
  readonly repo: string;
  /** Files of the repository: path → content. */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Bearer token the Hub requires; unset: a public repository. */
  readonly token?: string;
  /** Revisions (besides the commit id) that resolve to the commit, e.g. `refs/pr/1`. @defaultValue `['main']` */
  readonly revisions?: readonly string[];
  /** Entries per tree page (the real Hub pages large repositories with a Link header). @defaultValue 1000 */
  readonly pageSize?: number;
}

/**
 * A local stand-in for the Hugging Face Hub, speaking the few endpoints
 * `giraffe models pull` uses the way the Hub does: the revision and tree APIs
 * (LFS files with their sha256), `resolve/` URLs that serve small files and
 * redirect LFS files to a storage server on another origin, and `Range`
 * requests. Tests can make it cut a transfer mid-file or lie about a sha256.
 */
export class FakeHub {
  readonly commit: string;
  readonly requests: HubRequest[] = [];
  /** Paths whose next transfers are cut after half the bytes (the count says how many times). */
  readonly cut = new Map<string, number>();
  /** Paths whose storage goes down (503) once a transfer of them was cut. */
  readonly downAfterCut = new Set<string>();
  /** Paths the storage answers 503 for. */
  readonly down = new Set<string>();
  /** Paths whose tree entry lists a wrong sha256. */
  readonly wrongSha = new Set<string>();
  /** Paths whose ranged answers start this many bytes before the byte asked for (a legal 206). */
  readonly rangeEarlier = new Map<string, number>();
  #hub!: http.Server;
  #storage!: http.Server;
  #hubUrl = '';
  #storageUrl = '';

  private constructor(private readonly options: FakeHubOptions) {
    const h = createHash('sha1');
    for (const [p, c] of [...options.files].sort()) h.update(p).update(c);
    this.commit = h.digest('hex');
  }

  static async start(options: FakeHubOptions): Promise<FakeHub> {
    const hub = new FakeHub(options);
    hub.#hub = http.createServer((req, res) => hub.#serveHub(req, res));
    hub.#storage = http.createServer((req, res) => hub.#serveStorage(req, res));
    hub.#hubUrl = await listen(hub.#hub);
    hub.#storageUrl = await listen(hub.#storage);
    return hub;
  }

  /** What HF_ENDPOINT should be. */
  get endpoint(): string {
    return this.#hubUrl;
  }

  /** Bytes of the repository's files that were asked for (whole files, as served from the start). */
  bytesRequested(): number {
    let total = 0;
    for (const [file, content] of this.options.files) {
      const asked = this.requestsFor(file).filter((r) => r.server === 'storage' || !isLfs(file)).length;
      total += asked * content.length;
    }
    return total;
  }

  /** Requests for one file of the repository, on either server. */
  requestsFor(file: string): HubRequest[] {
    const sha = isLfs(file) ? sha256(this.options.files.get(file)!) : undefined;
    return this.requests.filter(
      (r) =>
        r.path.endsWith(`/resolve/${this.commit}/${file}`) || (sha !== undefined && r.path === `/lfs/${sha}`),
    );
  }

  async close(): Promise<void> {
    for (const server of [this.#hub, this.#storage]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  #record(server: HubRequest['server'], req: http.IncomingMessage): void {
    this.requests.push({
      server,
      path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
    });
  }

  #serveHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#record('hub', req);
    const url = new URL(req.url ?? '/', this.#hubUrl);
    const pathname = decodeURIComponent(url.pathname);
    const { repo, token, files } = this.options;
    const repoPrefix = `/api/models/${repo}/`;
    const known = pathname.startsWith(repoPrefix) || pathname.startsWith(`/${repo}/resolve/`);
    if (!known) return json(res, 404, { error: 'Repository not found' });
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      return json(res, 401, { error: 'Invalid credentials in Authorization header' });
    }
    const revision = /^\/api\/models\/[^/]+\/[^/]+\/revision\/(.+)$/.exec(pathname);
    if (revision) {
      if (!(this.options.revisions ?? ['main']).includes(revision[1]) && revision[1] !== this.commit) {
        return json(res, 404, { error: `Invalid rev id: ${revision[1]}` });
      }
      return json(res, 200, {
        id: repo,
        sha: this.commit,
        siblings: [...files.keys()].map((rfilename) => ({ rfilename })),
      });
    }
    const tree = /^\/api\/models\/[^/]+\/[^/]+\/tree\/([^/]+)$/.exec(pathname);
    if (tree) {
      if (tree[1] !== this.commit && tree[1] !== 'main') return json(res, 404, { error: 'Invalid rev id' });
      const entries = this.#treeEntries();
      const size = this.options.pageSize ?? 1000;
      const start = Number(url.searchParams.get('cursor') ?? 0);
      if (start + size < entries.length) {
        const next = new URL(url);
        next.searchParams.set('cursor', String(start + size));
        res.setHeader('link', `<${next.toString()}>; rel="next"`);
      }
      return json(res, 200, entries.slice(start, start + size));
    }
    const resolve = new RegExp(`^/${repo}/resolve/([^/]+)/(.+)$`).exec(pathname);
    if (resolve) {
      const content = files.get(resolve[2]);
      if (!content || resolve[1] !== this.commit) return json(res, 404, { error: 'Entry not found' });
      if (isLfs(resolve[2])) {
        // Like the Hub: LFS content lives on other storage, reached by a redirect.
        res.writeHead(302, { location: `${this.#storageUrl}/lfs/${sha256(content)}` });
        return void res.end();
      }
      return this.#send(req, res, resolve[2], content);
    }
    json(res, 404, { error: 'Not found' });
  }

  #serveStorage(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.#record('storage', req);
    const sha = /^\/lfs\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const entry = [...this.options.files].find(([, c]) => sha256(c) === sha);
    if (!entry) return json(res, 404, { error: 'no such object' });
    this.#send(req, res, entry[0], entry[1]);
  }

  /** Sends a file, honouring `Range: bytes=N-`, and cuts it in the middle when asked to. */
  #send(req: http.IncomingMessage, res: http.ServerResponse, file: string, content: Buffer): void {
    if (this.down.has(file)) return json(res, 503, { error: 'Service Unavailable' });
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Math.max(0, Number(m[1]) - (this.rangeEarlier.get(file) ?? 0)) : 0;
    if (from >= content.length && content.length > 0) {
      res.writeHead(416, { 'content-range': `bytes */${content.length}` });
      return void res.end();
    }
    const body = content.subarray(from);
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'accept-ranges': 'bytes',
    };
    if (m) headers['content-range'] = `bytes ${from}-${content.length - 1}/${content.length}`;
    res.writeHead(m ? 206 : 200, headers);
    const cuts = this.cut.get(file) ?? 0;
    if (cuts > 0 && body.length > 1) {
      this.cut.set(file, cuts - 1);
      if (this.downAfterCut.has(file)) this.down.add(file);
      // Half the bytes, flushed, then the connection drops mid-body.
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  }

  #treeEntries(): object[] {
    const entries: object[] = [];
    const dirs = new Set<string>();
    for (const [file, content] of [...this.options.files].sort(([a], [b]) => a.localeCompare(b))) {
      const parts = file.split('/');
      for (let i = 1; i < parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (!dirs.has(dir)) {
          dirs.add(dir);
          entries.push({ type: 'directory', oid: sha1(Buffer.from(dir)), size: 0, path: dir });
        }
      }
      const gitOid = sha1(Buffer.concat([Buffer.from(`blob ${content.length}\0`), content]));
      if (isLfs(file)) {
        const sha = this.wrongSha.has(file) ? sha256(Buffer.from('something else')) : sha256(content);
        entries.push({
          type: 'file',
          oid: gitOid,
          size: content.length,
          path: file,
          lfs: { oid: sha, size: content.length, pointerSize: 134 },
        });
      } else {
        entries.push({ type: 'file', oid: gitOid, size: content.length, path: file });
      }
    }
    return entries;
  }
}

/** Which files the fake keeps in LFS: weights and graphs, as on the Hub. */
const isLfs = (file: string): boolean => /\.(onnx|onnx_data|pb|safetensors|bin)$/.test(file);

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Every file under `dir`, keyed by its `/`-separated path relative to `dir`, with `prefix` before it. */
export function readTree(dir: string, prefix = ''): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (sub: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(rel);
      else files.set(`${prefix}${rel}`, fs.readFileSync(path.join(dir, rel)));
    }
  };
  walk('');
  return files;
}
