import { createHmac, timingSafeEqual } from 'node:crypto';

/** Name of the header that carries a delivery's signature. */
export const SIGNATURE_HEADER = 'Giraffe-Signature';

/** How far a receiver should let a signature's timestamp drift from its clock, in seconds. */
export const DEFAULT_TOLERANCE_S = 300;

/**
 * The signing secret of one API key's webhooks: HMAC-SHA256(WEBHOOK_SECRET,
 * owner id), hex. Deriving it (rather than storing one per key) keeps every
 * worker able to sign without a shared table, and one key's secret reveals
 * nothing about another's. Jobs made without an API key use the owner `_`.
 */
export function deriveWebhookSecret(masterSecret: string, owner: string | null): string {
  return createHmac('sha256', masterSecret)
    .update(owner ?? '_')
    .digest('hex');
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the Stripe scheme, so existing verifiers fit. */
export function signPayload(secret: string, body: string, timestampS: number): string {
  const v1 = createHmac('sha256', secret).update(`${timestampS}.${body}`).digest('hex');
  return `t=${timestampS},v1=${v1}`;
}

export interface VerifyOptions {
  /** Largest accepted distance between the signature's time and now, in seconds. @defaultValue 300 */
  readonly toleranceS?: number;
  /** Now, in unix seconds. @defaultValue the clock */
  readonly nowS?: number;
}

/**
 * What a receiver does: checks the HMAC in constant time and refuses a
 * timestamp outside the tolerance, so a captured delivery cannot be replayed
 * later. Any `v1` entry may match (several appear while a secret rotates).
 */
export function verifySignature(
  header: string | undefined,
  body: string,
  secret: string,
  options: VerifyOptions = {},
): boolean {
  if (!header) return false;
  let timestamp: number | undefined;
  const candidates: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value !== undefined && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value)) candidates.push(value);
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  const now = options.nowS ?? Math.floor(Date.now() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceS ?? DEFAULT_TOLERANCE_S)) return false;
  const expected = Buffer.from(
    signPayload(secret, body, timestamp).slice(`t=${timestamp},v1=`.length),
    'hex',
  );
  return candidates.some((c) => timingSafeEqual(Buffer.from(c, 'hex'), expected));
}
