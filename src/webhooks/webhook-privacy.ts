import type { JobEventDraft, JobResult } from '../jobs';

type Reproducibility = NonNullable<JobResult['reproducibility']>;

/** A job result as a webhook shows it: the request's words may be left out. */
export type WebhookResult = Omit<JobResult, 'reproducibility'> & {
  readonly reproducibility?: Omit<Reproducibility, 'request'> & {
    readonly request: Omit<Reproducibility['request'], 'prompt' | 'negative_prompt'> &
      Partial<Pick<Reproducibility['request'], 'prompt' | 'negative_prompt'>>;
  };
};

/** A job event as a webhook shows it. */
export type WebhookEvent =
  | Exclude<JobEventDraft, { readonly type: 'succeeded' }>
  | (Omit<Extract<JobEventDraft, { readonly type: 'succeeded' }>, 'result'> & {
      readonly result: WebhookResult;
    });

/**
 * What a webhook may show of a job's result. Receivers are third parties
 * whose logs we do not control, so the words of a request stay out unless the
 * job asked for them (`webhook_include_prompt`): the A1111 `parameters`
 * infotext (prompt, negative prompt, then the settings line) is cut to its
 * settings line, and the reproducibility record's request loses `prompt` and
 * `negative_prompt`.
 */
export function webhookResult(result: JobResult, includePrompt: boolean): WebhookResult {
  if (includePrompt) return result;
  const { reproducibility, parameters, ...rest } = result;
  // The settings are the last line; everything above it is the prompt and the negative prompt.
  const redacted = { ...rest, parameters: parameters.split('\n').at(-1) ?? '' };
  if (!reproducibility) return redacted;
  const { prompt: _prompt, negative_prompt: _negative, ...request } = reproducibility.request;
  return { ...redacted, reproducibility: { ...reproducibility, request } };
}

/** The job event a webhook carries, its result redacted as {@link webhookResult} says. */
export function webhookEvent(event: JobEventDraft, includePrompt: boolean): WebhookEvent {
  if (event.type !== 'succeeded') return event;
  return { ...event, result: webhookResult(event.result, includePrompt) };
}
