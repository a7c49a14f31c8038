import type { JobEvent, JobPreview } from '../../../src/jobs';
import { decodeMessage, encodePreview } from '../../../src/queue/bullmq/event-codec';

describe('event codec', () => {
  it('decodes numbered events as they were published', () => {
    const event: JobEvent = {
      type: 'progress',
      job_id: 'j',
      at: '2026-01-01T00:00:00.000Z',
      seq: 4,
      step: 1,
      steps: 2,
      elapsed_ms: 3,
      eta_ms: 4,
    };
    expect(decodeMessage(JSON.stringify(event))).toEqual(event);
  });

  it('round-trips previews, their pixels as base64', () => {
    const preview: JobPreview = {
      type: 'preview',
      job_id: 'j',
      at: '2026-01-01T00:00:00.000Z',
      step: 2,
      steps: 5,
      width: 2,
      height: 1,
      rgb: Buffer.from([0, 255, 1, 2, 3, 128]),
    };
    const wire = encodePreview(preview);
    expect(JSON.parse(wire).rgb_base64).toBe(preview.rgb.toString('base64'));
    expect(decodeMessage(wire)).toEqual(preview);
  });

  it('ignores messages that are not events', () => {
    expect(decodeMessage('not json')).toBeUndefined();
    expect(decodeMessage('42')).toBeUndefined();
    expect(decodeMessage('{"type":"queued"}')).toBeUndefined();
    // An event without its number is not one a subscriber can place.
    expect(decodeMessage('{"type":"queued","job_id":"j"}')).toBeUndefined();
    expect(decodeMessage('{"type":"preview","job_id":"j"}')).toBeUndefined();
  });
});
