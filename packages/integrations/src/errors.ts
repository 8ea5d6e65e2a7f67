/** Stable error codes of the integrations package (also used as the `code` field of log lines). */
export type IntegrationsErrorCode =
  /** An option of the integrations config is missing, of the wrong type or out of range; `value` is `{ key, value }`. */
  | 'INTEGRATIONS_BAD_CONFIG'
  /** The MQTT client could not connect, or the broker refused it (bad credentials, not authorised); `value` is the redacted URL. */
  | 'MQTT_CONNECT_FAILED'
  /** The MQTT connection dropped; it is retried with backoff. */
  | 'MQTT_CONNECTION_LOST'
  /** A message waiting for the broker was dropped because the outbox was full; `value` is its topic. */
  | 'MQTT_QUEUE_FULL'
  /** The broker did not accept a publish; `value` is the topic. */
  | 'MQTT_PUBLISH_FAILED'
  /** A command payload was not valid for its topic; `value` is `{ topic, payload }`. */
  | 'MQTT_BAD_PAYLOAD'
  /** A retained message arrived on a command topic and was ignored (replaying it would repeat an old command). */
  | 'MQTT_RETAINED_COMMAND'
  /** A control callback threw while executing an MQTT command; `value` is the topic. */
  | 'MQTT_COMMAND_FAILED'
  /** The broker refused the subscription to the sensor topics; `value` is the topics. */
  | 'MQTT_SUBSCRIBE_FAILED'
  /** The reader of a sensor topic threw on a message; `value` is the topic. */
  | 'MQTT_SUBSCRIBER_FAILED'
  /** The snapshot of a finished recording could not be read or is too large to publish; `value` is its path. */
  | 'MQTT_SNAPSHOT_SKIPPED'
  /** A webhook delivery attempt failed (HTTP status outside 2xx, timeout, network error); `value` is `{ url, status? }`. */
  | 'WEBHOOK_ATTEMPT_FAILED'
  /** A webhook delivery gave up after its last attempt or on a status that is not retried; `value` is `{ url, status? }`. */
  | 'WEBHOOK_GAVE_UP'
  /** A webhook delivery was dropped because the endpoint's queue was full; `value` is the redacted URL. */
  | 'WEBHOOK_QUEUE_FULL'
  /** Upload is not configured (or not enabled) but an upload was asked for. */
  | 'UPLOAD_DISABLED'
  /** The `rclone` program is not on PATH; `value` is the command. */
  | 'UPLOAD_RCLONE_NOT_FOUND'
  /** An `rclone copyto` run failed or timed out; `value` is `{ id, file, exit }`. It is retried with backoff. */
  | 'UPLOAD_ATTEMPT_FAILED'
  /** An upload gave up after its last attempt (state `failed`); `value` is the recording id. */
  | 'UPLOAD_GAVE_UP'
  /** A file of the recording is not on disk, so it cannot be uploaded (not retried); `value` is the path. */
  | 'UPLOAD_FILE_MISSING'
  /** The upload queue is full; `value` is the recording id. */
  | 'UPLOAD_QUEUE_FULL'
  /** `uploads.setUploadState` failed (e.g. the recording was deleted meanwhile); `value` is `{ id, state }`. */
  | 'UPLOAD_STATE_FAILED'
  /** The `deleteLocal` callback failed after a successful upload; `value` is the recording id. */
  | 'UPLOAD_DELETE_LOCAL_FAILED'
  /** An alert channel's server name did not resolve (DNS); `value` is the host. Retried. */
  | 'NOTIFY_DNS'
  /** The TLS handshake with an alert channel's server failed (certificate, host name, protocol). Not retried. */
  | 'NOTIFY_TLS'
  /** The connection to an alert channel's server failed (refused, reset, unreachable). Retried. */
  | 'NOTIFY_NETWORK'
  /** An alert delivery attempt timed out. Retried. */
  | 'NOTIFY_TIMEOUT'
  /** The server refused the credentials (HTTP 401/403, SMTP 535, Telegram "Unauthorized"). Not retried. */
  | 'NOTIFY_UNAUTHORIZED'
  /** The server answered with another error status; `value` is `{ status, body }`. 429 and 5xx are retried. */
  | 'NOTIFY_HTTP_STATUS'
  /** The SMTP server rejected the message or a recipient; `value` is the SMTP response code. */
  | 'NOTIFY_SMTP_REJECTED'
  /** Web Push has no device to send to (nobody pressed "Enable notifications on this device"). */
  | 'NOTIFY_NO_SUBSCRIBERS'
  /** An alert was dropped: the channel's queue was full or the alert grew older than `maxAgeS`; `value` is the channel. */
  | 'NOTIFY_DROPPED'
  /** An alert gave up after its last attempt or on an error that is not retried; `value` is the channel. */
  | 'NOTIFY_GAVE_UP'
  /** No such channel is configured (e.g. `preroll notify test NAME`); `value` is the name. */
  | 'NOTIFY_UNKNOWN_CHANNEL'
  /** The alert outbox on disk could not be read or written; `value` is the path. */
  | 'NOTIFY_OUTBOX_FAILED'
  /** The notifier's remembered visits and pending follow-ups (`notify-state.json`) could not be read or written; a corrupt file is set aside and the alerts go on afresh. `value` is the path. */
  | 'NOTIFY_STATE_FAILED'
  /** A push subscription sent by a page is not valid; `value` names the field. */
  | 'NOTIFY_BAD_SUBSCRIPTION'
  /** The arming state file could not be read or written; `value` is the path. */
  | 'ARMING_STATE_FAILED';

/** An error of the integrations package, with a stable code, the offending value and the cause. */
export class IntegrationsError extends Error {
  override readonly name = 'IntegrationsError';
  constructor(
    readonly code: IntegrationsErrorCode,
    message: string,
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
