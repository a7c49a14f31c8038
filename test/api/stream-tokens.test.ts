import { createHash } from 'node:crypto';
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

it('is sealed: anyone with the secret can check it, no one without can forge or read it', () => {
  const tokens = new StreamTokens(secret, 60);
  const { token } = tokens.issue('job-1', 'owner-a');
  const flipped = Buffer.from(token, 'base64url');
  flipped[20] ^= 1;
  expect(() => tokens.verify(flipped.toString('base64url'), 'job-1')).toThrow(/not valid/);
  const forged = Buffer.from(JSON.stringify({ j: 'job-1', o: 'owner-b', e: 9e9 })).toString('base64url');
  expect(() => tokens.verify(forged, 'job-1')).toThrow(/not valid|malformed/);
  expect(() => new StreamTokens('another-secret-value', 60).verify(token, 'job-1')).toThrow(/not valid/);
  expect(() => tokens.verify('garbage.x', 'job-1')).toThrow(/malformed/);
});

// Issue 17, item 15: the token used to carry its owner's key id (a 64-bit prefix of the key's SHA-256) in
// readable base64url JSON; whoever saw a stream URL learned which key made the job.
it('does not reveal the key id (nor the job) to whoever holds it', () => {
  const tokens = new StreamTokens(secret, 60);
  const owner = createHash('sha256').update('the-api-key').digest('hex').slice(0, 16);
  const { token } = tokens.issue('job-1', owner);
  const decoded = token
    .split('.')
    .map((part) => Buffer.from(part, 'base64url').toString('latin1'))
    .join('\n');
  expect(decoded).not.toContain(owner);
  expect(decoded).not.toContain('job-1');
  expect(token).not.toContain(owner);
  // Two tokens for the same job and owner share nothing a reader could link.
  expect(tokens.issue('job-1', owner).token).not.toBe(token);
  expect(tokens.verify(token, 'job-1')).toBe(owner);
});
