import { createHmac } from 'node:crypto';
import { StreamTokens } from '../../src/api/stream-tokens';

const secret = 'a-secret-of-sixteen-plus';

it('opens its own job for its owner until it expires', () => {
  const tokens = new StreamTokens(secret, 60);
  const now = Date.UTC(2026, 0, 1);
  const { token, expires_at } = tokens.issue('job-1', 'owner-a', now);
  expect(expires_at).toBe(new Date(now + 60_000).toISOString());
  expect(tokens.verify(token, 'job-1', now + 59_000)).toBe('owner-a');
  expect(() => tokens.verify(token, 'job-1', now + 60_000)).toThrow(/expired/);
  expect(() => tokens.verify(token, 'job-2', now)).toThrow(/another job/);
});

it('is an HMAC-SHA256 over its claims: anyone with the secret can check it, no one without can forge it', () => {
  const tokens = new StreamTokens(secret, 60);
  const { token } = tokens.issue('job-1', null);
  const [payload, signature] = token.split('.');
  expect(signature).toBe(createHmac('sha256', secret).update(payload).digest('base64url'));
  const forged = Buffer.from(JSON.stringify({ j: 'job-1', o: 'owner-b', e: 9e9 })).toString('base64url');
  expect(() => tokens.verify(`${forged}.${signature}`, 'job-1')).toThrow(/not valid/);
  expect(() => new StreamTokens('another-secret-value', 60).verify(token, 'job-1')).toThrow(/not valid/);
  expect(() => tokens.verify('garbage', 'job-1')).toThrow(/malformed/);
});
