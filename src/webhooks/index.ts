export { classifyAddress, WebhookAllowlist, type AddressClass } from './address-guard';
export { postWebhook, checkDestination, type ResolveHost } from './http-post';
export {
  deriveWebhookSecret,
  signPayload,
  verifySignature,
  SIGNATURE_HEADER,
  DEFAULT_TOLERANCE_S,
  type VerifyOptions,
} from './signature';
export {
  WebhookNotifier,
  type WebhookNotifierOptions,
  type WebhookPayload,
  type WebhookJob,
} from './webhook-notifier';
export {
  webhookEventTypes,
  webhookRequestFields,
  webhookSubscriptionOf,
  webhookUrlProblem,
  MAX_WEBHOOK_URL_CHARS,
  type WebhookEventType,
  type WebhookSubscription,
} from '../jobs/job-request';
export { parseWebhookUrl } from './webhook-url';
