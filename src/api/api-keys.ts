import { createHash, timingSafeEqual } from 'node:crypto';

/** A configured key, kept only as its SHA-256 digest. */
interface KeyEntry {
  readonly digest: Buffer;
  /** Public, stable id of the key: the first 16 hex digits of its digest. Jobs are owned by it. */
  readonly id: string;
}

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * The API keys from `API_KEYS`: plain keys, or `sha256:<hex>` digests so the
 * config need not hold the secret itself. Lookup compares digests in constant
 * time.
 */
export class ApiKeys {
  readonly #entries: KeyEntry[];

  constructor(configured: readonly string[]) {
    this.#entries = configured.map((k) => {
      const hashed = /^sha256:([0-9a-f]{64})$/i.exec(k);
      const digest = hashed ? Buffer.from(hashed[1], 'hex') : sha256(k);
      return { digest, id: digest.toString('hex').slice(0, 16) };
    });
  }

  get enabled(): boolean {
    return this.#entries.length > 0;
  }

  /** The owner id of a presented key, or undefined when it is not one of ours. */
  identify(presented: string): string | undefined {
    const digest = sha256(presented);
    let found: string | undefined;
    for (const entry of this.#entries) {
      // Check every entry so timing does not reveal which one matched.
      if (timingSafeEqual(entry.digest, digest)) found = entry.id;
    }
    return found;
  }
}

/** The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const header = headers['x-api-key'];
  return typeof header === 'string' && header.length > 0 ? header : undefined;
}
