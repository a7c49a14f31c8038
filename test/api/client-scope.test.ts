import type { FastifyInstance } from 'fastify';
import { startDemoService, type DemoService } from '../helpers/demo-service';

// Per-client state on an open API (no API_KEYS): each client address is its own scope (issue 17).
describe('an open API scopes per client address', () => {
  let service: DemoService;
  let app: FastifyInstance;
  beforeAll(async () => {
    service = await startDemoService({ worker: false });
    app = service.app;
  });
  afterAll(async () => service?.close());

  const body = { prompt: 'scoped giraffe', steps: 2, width: 64, height: 64, seed: 3 };
  const submit = (remoteAddress: string, key: string, payload: object = body) =>
    app.inject({
      method: 'POST',
      url: '/v1/generate',
      remoteAddress,
      headers: { 'idempotency-key': key },
      payload,
    });

  // Item 16: with no keys configured, every client shared one Idempotency-Key space: another client
  // replaying "order-1" got the first client's job (and its stream token), or a 409 for its own body.
  it('keeps Idempotency-Keys per client address', async () => {
    const first = await submit('198.51.100.7', 'order-1');
    expect(first.statusCode).toBe(202);
    const again = await submit('198.51.100.7', 'order-1');
    expect(again.json().id).toBe(first.json().id);
    expect(again.headers['idempotent-replayed']).toBe('true');

    const stranger = await submit('203.0.113.9', 'order-1');
    expect(stranger.statusCode).toBe(202);
    expect(stranger.headers['idempotent-replayed']).toBeUndefined();
    expect(stranger.json().id).not.toBe(first.json().id);
    const strangerOther = await submit('203.0.113.9', 'order-2', { ...body, prompt: 'another body' });
    expect(strangerOther.statusCode).toBe(202);
    const strangerOwnBody = await submit('203.0.113.10', 'order-1', { ...body, prompt: 'its own body' });
    expect(strangerOwnBody.statusCode).toBe(202);
  });
});
