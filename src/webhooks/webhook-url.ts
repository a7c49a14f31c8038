import { GiraffeError } from '../errors';
import { webhookUrlProblem } from '../jobs/job-request';

/** Parses a webhook URL or throws GIRAFFE_ERR_WEBHOOK_URL_INVALID naming `webhook_url`. */
export function parseWebhookUrl(url: string): URL {
  const problem = webhookUrlProblem(url);
  if (problem) {
    throw new GiraffeError('GIRAFFE_ERR_WEBHOOK_URL_INVALID', `webhook_url: ${problem}`, {
      field: 'webhook_url',
    });
  }
  return new URL(url);
}
