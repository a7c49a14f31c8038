import { createHmac } from 'node:crypto';
import { deriveWebhookSecret, signPayload, verifySignature } from '../../src/webhooks';

// The vector is computed here from its definition with node:crypto, not with the code under test.
const secret = 'whsec-test-0123456789';
const body = '{"id":"d1","type":"completed"}';
const t = 1_700_000_000;
const expectedV1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');

describe('webhook signatures', () => {
  it('signs as t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">', () => {
    expect(signPayload(secret, body, t)).toBe(`t=${t},v1=${expectedV1}`);
  });

  it('derives one secret per owner from WEBHOOK_SECRET', () => {
    const master = 'master-secret-0123456789';
    expect(deriveWebhookSecret(master, 'abc123')).toBe(
      createHmac('sha256', master).update('abc123').digest('hex'),
    );
    expect(deriveWebhookSecret(master, null)).toBe(createHmac('sha256', master).update('_').digest('hex'));
    expect(deriveWebhookSecret(master, 'a')).not.toBe(deriveWebhookSecret(master, 'b'));
  });

  it('verifies a good signature within the 5-minute tolerance', () => {
    const header = `t=${t},v1=${expectedV1}`;
    expect(verifySignature(header, body, secret, { nowS: t })).toBe(true);
    expect(verifySignature(header, body, secret, { nowS: t + 300 })).toBe(true);
    expect(verifySignature(header, body, secret, { nowS: t - 300 })).toBe(true);
  });

  it.each([
    ['a replay after the tolerance', `t=${t},v1=${expectedV1}`, body, t + 301],
    ['a timestamp from the future', `t=${t},v1=${expectedV1}`, body, t - 301],
    ['another body', `t=${t},v1=${expectedV1}`, body + ' ', t],
    ['a moved timestamp', `t=${t + 1},v1=${expectedV1}`, body, t],
    ['a wrong digest', `t=${t},v1=${'0'.repeat(64)}`, body, t],
    ['a header without v1', `t=${t}`, body, t],
    ['a header without t', `v1=${expectedV1}`, body, t],
    ['garbage', 'nonsense', body, t],
  ])('refuses %s', (_name, header, payload, now) => {
    expect(verifySignature(header, payload, secret, { nowS: now })).toBe(false);
  });

  it('refuses another secret and an absent header', () => {
    expect(verifySignature(`t=${t},v1=${expectedV1}`, body, 'other-secret', { nowS: t })).toBe(false);
    expect(verifySignature(undefined, body, secret, { nowS: t })).toBe(false);
  });

  it('accepts any of several v1 entries (secret rotation)', () => {
    const header = `t=${t},v1=${'a'.repeat(64)},v1=${expectedV1}`;
    expect(verifySignature(header, body, secret, { nowS: t })).toBe(true);
  });
});
