import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { GiraffeError } from '../errors';

interface Claims {
  /** Job id. */
  readonly j: string;
  /** Owner (API key id), or null when the API is open. */
  readonly o: string | null;
  /** Expiry, unix seconds. */
  readonly e: number;
}

/**
 * Short-lived, job-scoped tokens for the progress streams: browsers cannot
 * set an Authorization header on a WebSocket, so the 202 for a new job
 * carries a token that opens that job's stream (as `?token=`), and nothing
 * else. HMAC-SHA256 signed; the claims are the job, its owner and an expiry.
 */
export class StreamTokens {
  readonly #secret: Buffer;

  constructor(
    secret: string | undefined,
    readonly ttlSeconds: number,
  ) {
    this.#secret = secret ? Buffer.from(secret, 'utf8') : randomBytes(32);
  }

  issue(jobId: string, owner: string | null, now = Date.now()): { token: string; expires_at: string } {
    const e = Math.floor(now / 1000) + this.ttlSeconds;
    const payload = Buffer.from(JSON.stringify({ j: jobId, o: owner, e } satisfies Claims)).toString(
      'base64url',
    );
    return { token: `${payload}.${this.#sign(payload)}`, expires_at: new Date(e * 1000).toISOString() };
  }

  /** The owner the token speaks for, when it is genuine, unexpired and made for this job; otherwise a 401. */
  verify(token: string, jobId: string, now = Date.now()): string | null {
    const [payload, signature, extra] = token.split('.');
    const invalid = (why: string): never => {
      throw new GiraffeError('GIRAFFE_ERR_AUTH_REQUIRED', `stream token ${why}`);
    };
    if (!payload || !signature || extra !== undefined) return invalid('is malformed');
    const expected = Buffer.from(this.#sign(payload));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return invalid('is not valid');
    let claims: Claims;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Claims;
    } catch {
      return invalid('is malformed');
    }
    if (claims.j !== jobId) return invalid('is for another job');
    if (!(claims.e * 1000 > now)) return invalid('has expired');
    return claims.o;
  }

  #sign(payload: string): string {
    return createHmac('sha256', this.#secret).update(payload).digest('base64url');
  }
}
