import { z } from 'zod';
import { webhookRequestFields, webhookSubscriptionOf } from '../../src/jobs/job-request';

const schema = z.strictObject(webhookRequestFields);

describe('webhook request fields', () => {
  it('accepts http and https URLs and a subset of events', () => {
    expect(schema.parse({ webhook_url: 'https://hooks.example/x?y=1' })).toEqual({
      webhook_url: 'https://hooks.example/x?y=1',
    });
    expect(
      schema.parse({ webhook_url: 'http://10.0.0.1:8080/', webhook_events: ['progress', 'started'] }),
    ).toEqual({
      webhook_url: 'http://10.0.0.1:8080/',
      webhook_events: ['progress', 'started'],
    });
  });

  it.each([
    [{ webhook_url: 'ftp://hooks.example/' }, 'webhook_url'],
    [{ webhook_url: 'https://user:secret@hooks.example/' }, 'webhook_url'],
    [{ webhook_url: 'hooks.example/x' }, 'webhook_url'],
    [{ webhook_url: `https://hooks.example/${'a'.repeat(2048)}` }, 'webhook_url'],
    [{ webhook_url: 'https://hooks.example/', webhook_events: ['finished'] }, 'webhook_events'],
    [{ webhook_url: 'https://hooks.example/', webhook_events: [] }, 'webhook_events'],
    [{ webhook_url: 'https://hooks.example/', webhook_events: ['started', 'started'] }, 'webhook_events'],
  ])('refuses %j naming %s', (body, field) => {
    const parsed = schema.safeParse(body);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0].path[0]).toBe(field);
  });

  it('defaults the events to completed', () => {
    expect(webhookSubscriptionOf({ webhook_url: 'https://hooks.example/' })).toEqual({
      url: 'https://hooks.example/',
      events: ['completed'],
    });
    expect(webhookSubscriptionOf({})).toBeUndefined();
  });
});
