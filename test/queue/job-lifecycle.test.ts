import { GiraffeError } from '../../src/errors';
import {
  classifyError,
  newJobRecord,
  resolveSettings,
  retryDelay,
  toJobError,
} from '../../src/queue/job-lifecycle';
import { request } from './queue-fixtures';

describe('job lifecycle rules', () => {
  const settings = resolveSettings({ maxAttempts: 3, backoffMs: 100 });
  const live = new AbortController().signal;

  it('fills in a new record', () => {
    const record = newJobRecord({ model: 'demo', request }, new Date('2026-01-02T03:04:05.678Z'));
    expect(record).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      model: 'demo',
      owner: null,
      status: 'queued',
      request,
      priority: 100,
      created_at: '2026-01-02T03:04:05.678Z',
      attempts: 0,
    });
  });

  it('retries what may pass, with exponential back-off, and stops at the limit', () => {
    expect(classifyError(new Error('flaky'), live, { failuresBefore: 0 }, settings)).toEqual({
      status: 'retry',
      error: { code: 'GIRAFFE_ERR_GENERATION_FAILED', message: 'flaky' },
      delayMs: 100,
    });
    expect(classifyError(new Error('flaky'), live, { failuresBefore: 1 }, settings)).toMatchObject({
      status: 'retry',
      delayMs: 200,
    });
    expect(classifyError(new Error('flaky'), live, { failuresBefore: 2 }, settings)).toEqual({
      status: 'failed',
      error: { code: 'GIRAFFE_ERR_GENERATION_FAILED', message: 'flaky' },
    });
    expect(classifyError(new Error('x'), live, { failuresBefore: 0, maxAttempts: 1 }, settings).status).toBe(
      'failed',
    );
    expect(retryDelay(settings, 3)).toBe(800);
  });

  it('ends at once on non-retryable errors and on cancellation', () => {
    const bad = new GiraffeError('GIRAFFE_ERR_REQUEST_INVALID', 'width: must be a multiple of 8');
    expect(classifyError(bad, live, { failuresBefore: 0 }, settings)).toEqual({
      status: 'failed',
      error: { code: 'GIRAFFE_ERR_REQUEST_INVALID', message: 'width: must be a multiple of 8' },
    });
    // As it arrives from an inference thread: plain data.
    expect(classifyError(bad.toJSON(), live, { failuresBefore: 0 }, settings).status).toBe('failed');
    const canceled = new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'stop');
    expect(classifyError(canceled, live, { failuresBefore: 0 }, settings)).toEqual({ status: 'canceled' });
    const controller = new AbortController();
    controller.abort(new GiraffeError('GIRAFFE_ERR_GENERATION_CANCELED', 'canceled by the user'));
    expect(
      classifyError(new Error('AbortError'), controller.signal, { failuresBefore: 0 }, settings),
    ).toEqual({
      status: 'canceled',
    });
  });

  it('describes any thrown value as a job error', () => {
    expect(toJobError('plain string')).toEqual({
      code: 'GIRAFFE_ERR_GENERATION_FAILED',
      message: 'plain string',
    });
    expect(toJobError(new Error(''))).toEqual({
      code: 'GIRAFFE_ERR_GENERATION_FAILED',
      message: 'Generation failed',
    });
  });

  it('validates its settings', () => {
    expect(resolveSettings({})).toEqual({
      retentionMs: 86_400_000,
      maxAttempts: 3,
      backoffMs: 1000,
      eventHistory: 500,
    });
    expect(() => resolveSettings({ maxAttempts: 0 })).toThrow(GiraffeError);
    expect(() => resolveSettings({ retentionMs: 1.5 })).toThrow(GiraffeError);
  });
});
