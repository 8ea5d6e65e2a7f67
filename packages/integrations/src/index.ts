/**
 * @preroll/integrations: MQTT with Home Assistant discovery, signed webhooks and rclone upload
 * of recordings, behind one object per camera. See docs/integrations.md.
 */
export { createIntegrations } from './integrations';
export type { FinishedRecording, Integrations, IntegrationsOptions, IntegrationsStats } from './integrations';
export { PATH_PLACEHOLDERS, UPLOAD_EXTRA_FILES, resolveIntegrationsConfig } from './config';
export type {
  DiscoveryConfig,
  IntegrationsConfig,
  MqttConfig,
  ResolvedDiscoveryConfig,
  ResolvedIntegrationsConfig,
  ResolvedMqttConfig,
  ResolvedUploadConfig,
  ResolvedWebhooksConfig,
  UploadConfig,
  UploadExtraFile,
  WebhooksConfig,
} from './config';
export { IntegrationsError } from './errors';
export type { IntegrationsErrorCode } from './errors';
export type { IntegrationsControl, MqttStats } from './mqtt';
export {
  DISCOVERY_OBJECTS,
  MAX_COMMAND_BYTES,
  TRIGGER_LEVEL_RANGE,
  discoveryMessages,
  discoveryTopic,
  formatNumber,
  mqttTopics,
  parseCommand,
  shouldPublishScore,
} from './mqtt-topics';
export type { DiscoveryMessage, MqttCommand, MqttTopics, ParsedCommand, ScorePublished, ScoreThrottle } from './mqtt-topics';
export { createOutbox } from './outbox';
export type { Outbox, OutboxMessage } from './outbox';
export { eventSummary } from './summary';
export type { EventSummary } from './summary';
export { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhookSignature } from './signature';
export type { VerifyInput } from './signature';
export { isRetryableStatus, parseRetryAfterS, retryDelayMs, webhookRetryDelayMs } from './retry';
export type { RetryPolicy, WebhookOutcome } from './retry';
export { redactWebhookUrl } from './webhooks';
export type { WebhookEndpointStats, WebhookStats } from './webhooks';
export { rcloneCopyArgs, rcloneDestination, redactRcloneArgs, renderPathTemplate, uploadPlan } from './rclone';
export type { UploadFile } from './rclone';
export type { UploadCallbacks, UploadStats } from './uploader';
