/**
 * @preroll/integrations: MQTT with Home Assistant discovery, signed webhooks and rclone upload
 * of recordings, behind one object per camera; alerts on the phone (ntfy, Telegram, e-mail,
 * Web Push) and arming (modes, schedules, presence) for the whole server. See docs/integrations.md.
 */
export { createIntegrations } from './integrations';
export type { FinishedRecording, Integrations, IntegrationsOptions, IntegrationsStats } from './integrations';
export { PATH_PLACEHOLDERS, UPLOAD_EXTRA_FILES, resolveIntegrationsConfig, resolveNotify } from './config';
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
export type { IntegrationsControl, MqttStats, MqttSubscriptions } from './mqtt';
export {
  ARMING_DISCOVERY_OBJECTS,
  DISCOVERY_OBJECTS,
  LABEL_DISCOVERY_OBJECTS,
  LABEL_OFF_DELAY_S,
  SENSED_LABELS,
  MAX_COMMAND_BYTES,
  TRIGGER_LEVEL_RANGE,
  discoveryMessages,
  discoveryTopic,
  formatNumber,
  mqttTopics,
  parseCommand,
  shouldPublishScore,
} from './mqtt-topics';
export type { DiscoveryMessage, MqttCommand, MqttTopics, ParsedCommand, ScorePublished, ScoreThrottle, SensedLabel } from './mqtt-topics';
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
export { ALERT_KINDS, ARMING_MODES, CHANNEL_NAMES, armingConfigSchema, notifyConfigSchema, weeklyRangeSchema } from './notify-config';
export type { AlertKind, ArmingConfig, ArmingMode, ChannelName, NotifyConfig, ResolvedArmingConfig, ResolvedNotifyConfig, WeeklyRange } from './notify-config';
export { alertText, decideAlert, durationText, hasLabelRules, inDailyRange, inWeeklyRanges, localClock, matchLabels } from './alert-rules';
export type { AlertDecision, AlertFacts, AlertInput, AlertLabel, AlertText, ArmingGate, CameraVisit, LabelsKnown, SkipReason } from './alert-rules';
export { classifyConnectionError, classifySmtpError, classifyStatus } from './alert-channels';
export type { PushPayload } from './alert-channels';
export { createNotifier } from './notifier';
export type { ChannelStats, EventStartNotice, Notifier, NotifierOptions, NotifyStats, RecordingNotice, TestResult } from './notifier';
export { STATE_MAX_THREADS, STATE_MAX_VISITS } from './alert-state';
export { createArming } from './arming';
export type { Arming, ArmingOptions, ArmingStatus, ModeSource } from './arming';
export { createPresence, parseNeighbours, probeHost, seenInNeighbours } from './presence';
export type { DeviceState, Neighbour, Presence } from './presence';
export { parseSubscription } from './webpush-store';
export type { PushSubscriptionRecord, VapidKeys, WebPushStore } from './webpush-store';
