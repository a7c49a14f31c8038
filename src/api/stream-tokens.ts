import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { GiraffeError } from '../errors';

interface Claims {
  /** Job id. */
  readonly j: string;
  /** Owner (API key id), or null when the API is open. */
  readonly o: string | null;
  /** Expiry, unix seconds. */
  readonly e: number;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Short-lived, job-scoped tokens for the progress streams: browsers cannot
 * set an Authorization header on a WebSocket, so the 202 for a new job
 * carries a token that opens that job's stream (as `?token=`), and nothing
 * else. The claims (the job, its owner and an expiry) are sealed with
 * AES-256-GCM, so the token is opaque: it is authenticated as a signature
 * would be, and it does not show who made the job. A signed-only token showed
 * the owner's key id, a prefix of the key's SHA-256, to whoever held a URL
 * that carried it (issue 17, item 15).
 */
export class StreamTokens {
  readonly #key: Buffer;

  constructor(
    secret: string | undefined,
    readonly ttlSeconds: number,
  ) {
    // A key of its own, derived from the setting, so the secret is never used raw for two purposes.
    const master = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
    this.#key = createHmac('sha256', master).update('giraffe stream token v2').digest();
  }

  issue(jobId: string, owner: string | null, now = Date.now()): { token: string; expires_at: string } {
    const e = Math.floor(now / 1000) + this.ttlSeconds;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const sealed = Buffer.concat([
      cipher.update(JSON.stringify({ j: jobId, o: owner, e } satisfies Claims), 'utf8'),
      cipher.final(),
    ]);
    const token = Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
    return { token, expires_at: new Date(e * 1000).toISOString() };
  }

  /** The owner the token speaks for, when it is genuine, unexpired and made for this job; otherwise a 401. */
  verify(token: string, jobId: string, now = Date.now()): string | null {
    const invalid = (why: string): never => {
      throw new GiraffeError('GIRAFFE_ERR_AUTH_REQUIRED', `stream token ${why}`);
    };
    if (!/^[A-Za-z0-9_-]+$/.test(token)) return invalid('is malformed');
    const bytes = Buffer.from(token, 'base64url');
    if (bytes.length <= IV_BYTES + TAG_BYTES) return invalid('is malformed');
    let claims: Claims;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, bytes.subarray(0, IV_BYTES));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ]);
      claims = JSON.parse(plain.toString('utf8')) as Claims;
    } catch {
      return invalid('is not valid');
    }
    if (claims.j !== jobId) return invalid('is for another job');
    if (!(claims.e * 1000 > now)) return invalid('has expired');
    return claims.o;
  }
}
