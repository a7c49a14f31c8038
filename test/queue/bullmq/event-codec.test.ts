import type { JobEvent } from '../../../src/jobs';
import { decodeEvent, encodeEvent } from '../../../src/queue/bullmq/event-codec';

describe('event codec', () => {
  it('round-trips events, latents as base64 float32', () => {
    const data = new Float32Array([0, -1.5, 3.25, Number.MIN_VALUE, 1e30]);
    const event: JobEvent = {
      type: 'progress',
      job_id: 'j',
      at: '2026-01-01T00:00:00.000Z',
      step: 1,
      steps: 2,
      elapsed_ms: 3,
      eta_ms: 4,
      latents: { shape: [1, 1, 1, 5], data },
    };
    const wire = encodeEvent(event);
    expect(JSON.parse(wire).latents.float32_base64).toBe(Buffer.from(data.buffer).toString('base64'));
    const back = decodeEvent(wire);
    expect(back).toEqual(event);
    if (back?.type !== 'progress' || !back.latents) throw new Error('expected latents');
    expect(back.latents.data).toBeInstanceOf(Float32Array);

    const canceled: JobEvent = { type: 'canceled', job_id: 'j', at: event.at };
    expect(decodeEvent(encodeEvent(canceled))).toEqual(canceled);
  });

  it('ignores messages that are not events', () => {
    expect(decodeEvent('not json')).toBeUndefined();
    expect(decodeEvent('42')).toBeUndefined();
    expect(decodeEvent('{"type":"queued"}')).toBeUndefined();
  });
});
