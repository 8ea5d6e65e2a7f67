/**
 * The four alert channels' one attempt each: ntfy (HTTP PUT with the snapshot as the body),
 * Telegram (`sendPhoto`, multipart), e-mail (nodemailer, snapshot inline) and Web Push
 * (web-push builds the aes128gcm body and the VAPID token; the request is sent here so every
 * channel shares one error classification). An attempt resolves or throws an
 * {@link IntegrationsError} whose code names the cause (DNS, TLS, 401, …) and whose `value`
 * says whether it is worth retrying. Secrets never appear in messages.
 */

import { promises as fsp, readFileSync } from 'node:fs';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import webpush from 'web-push';
import { alertText, type AlertText } from './alert-rules';
import type { ClipFollowUp, QueuedAlert } from './alert-outbox';
import { IntegrationsError, type IntegrationsErrorCode } from './errors';
import type { ChannelName, EmailConfig, NtfyConfig, TelegramConfig, WebPushConfig } from './notify-config';
import type { PushSubscriptionRecord, WebPushStore } from './webpush-store';

/** What a channel needs to send one alert. */
export interface AlertDelivery {
  readonly alert: QueuedAlert;
  readonly text: AlertText;
  /** A URL of the snapshot the device can fetch without a session (Web Push notifications show it), or null. */
  readonly snapshotUrl: string | null;
  /** A follow-up's MP4 as an absolute path inside the data directory, or null. */
  readonly clipFile?: string | null;
}

/** One channel: one attempt at a time. */
export interface AlertChannel {
  readonly name: ChannelName;
  /** One attempt; throws an {@link IntegrationsError} (`value.retryable`). For Web Push, updates `alert.pendingSubscriptions`. */
  send(delivery: AlertDelivery, signal: AbortSignal): Promise<void>;
  /** The channel sends a follow-up with the clip once an alerted event's recording is finished (e-mail). */
  readonly clipFollowUps?: boolean;
  /** Frees sockets (SMTP). */
  close(): void;
}

/** The `value` of a channel error. */
export interface ChannelErrorValue {
  readonly channel: ChannelName;
  readonly retryable: boolean;
  readonly status?: number;
}

/** Makes a channel error. */
export function channelError(channel: ChannelName, code: IntegrationsErrorCode, message: string, retryable: boolean, status?: number, cause?: unknown): IntegrationsError {
  const value: ChannelErrorValue = { channel, retryable, ...(status === undefined ? {} : { status }) };
  return new IntegrationsError(code, `${channel}: ${message}`, value, cause === undefined ? undefined : { cause });
}

/** True when a channel error is worth another attempt. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof IntegrationsError)) return true;
  const value = error.value as Partial<ChannelErrorValue> | undefined;
  return value?.retryable ?? true;
}

const TLS_CODES = /^(CERT_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO$|ETLS$|HOSTNAME_MISMATCH)/;

/**
 * Names the cause of a failed connection: DNS, TLS, timeout or another network error. Looks
 * through `cause` chains (fetch wraps the socket error). Pure.
 */
export function classifyConnectionError(channel: ChannelName, error: unknown, host: string, timedOut: boolean): IntegrationsError {
  if (timedOut) return channelError(channel, 'NOTIFY_TIMEOUT', `no answer from ${host} in time`, true, undefined, error);
  let e: unknown = error;
  for (let depth = 0; depth < 5 && e; depth++) {
    const code = String((e as { code?: unknown }).code ?? '');
    const message = (e as Error).message ?? '';
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EDNS') return channelError(channel, 'NOTIFY_DNS', `DNS: cannot resolve ${host} (${code})`, true, undefined, error);
    if (TLS_CODES.test(code) || /certificate|ssl|tls/i.test(message)) return channelError(channel, 'NOTIFY_TLS', `TLS with ${host} failed: ${code || message}`, false, undefined, error);
    if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') return channelError(channel, 'NOTIFY_TIMEOUT', `no answer from ${host} in time (${code})`, true, undefined, error);
    if (/^E[A-Z]+$/.test(code)) return channelError(channel, 'NOTIFY_NETWORK', `cannot reach ${host}: ${code}`, true, undefined, error);
    e = (e as { cause?: unknown }).cause;
  }
  return channelError(channel, 'NOTIFY_NETWORK', `cannot reach ${host}: ${(error as Error)?.message ?? String(error)}`, true, undefined, error);
}

/** Classifies an HTTP status that is not 2xx: 401/403 are credentials, 429/5xx are retried, other 4xx are not. Pure. */
export function classifyStatus(channel: ChannelName, status: number, host: string, detail: string): IntegrationsError {
  const shown = detail.replace(/\s+/g, ' ').trim().slice(0, 200);
  if (status === 401 || status === 403) return channelError(channel, 'NOTIFY_UNAUTHORIZED', `${host} answered ${status}${shown ? ` (${shown})` : ''}: check the token or password`, false, status);
  const retryable = status === 408 || status === 425 || status === 429 || status >= 500;
  return channelError(channel, 'NOTIFY_HTTP_STATUS', `${host} answered ${status}${shown ? ` (${shown})` : ''}`, retryable, status);
}

/** One HTTP request with a timeout and the shared classification; resolves with the response body text. */
async function httpSend(channel: ChannelName, url: string, init: RequestInit, timeoutMs: number, signal: AbortSignal): Promise<string> {
  const host = new URL(url).host;
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.any([signal, timeout]), redirect: 'error' });
  } catch (error) {
    throw classifyConnectionError(channel, error, host, timeout.aborted);
  }
  let text = '';
  try {
    text = await response.text();
  } catch (error) {
    throw classifyConnectionError(channel, error, host, timeout.aborted);
  }
  if (response.status < 200 || response.status > 299) throw classifyStatus(channel, response.status, host, text);
  return text;
}

/** An ASCII-only header value (HTTP headers cannot carry other bytes). */
function headerText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 1000);
}

/** ntfy: `PUT <server>/<topic>`; the snapshot is the body (an attachment) and the text goes in headers. */
export function createNtfyChannel(config: NtfyConfig): AlertChannel {
  const url = `${config.serverUrl.replace(/\/+$/, '')}/${config.topic}`;
  const auth = config.token
    ? `Bearer ${config.token}`
    : config.username && config.password
      ? `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`
      : null;
  return {
    name: 'ntfy',
    async send({ alert, text }, signal) {
      const headers: Record<string, string> = {
        'X-Title': headerText(text.title),
        'X-Priority': String(alert.facts.type === 'update' ? Math.max(1, config.priority - 1) : config.priority),
        'X-Tags': config.tags.join(','),
      };
      if (alert.link) headers['X-Click'] = alert.link;
      if (auth) headers.Authorization = auth;
      let body: string | Uint8Array;
      if (alert.snapshot) {
        headers['X-Message'] = headerText(alert.link ? `${text.body} ${alert.link}` : text.body);
        headers['X-Filename'] = 'snapshot.jpg';
        headers['Content-Type'] = 'image/jpeg';
        body = new Uint8Array(alert.snapshot);
      } else {
        headers['Content-Type'] = 'text/plain; charset=utf-8';
        body = alert.link ? `${text.body}\n${alert.link}` : text.body;
      }
      await httpSend('ntfy', url, { method: 'PUT', headers, body }, config.timeoutMs, signal);
    },
    close() {},
  };
}

/** Telegram: `sendPhoto` with the snapshot and the caption, or `sendMessage` without one. */
export function createTelegramChannel(config: TelegramConfig): AlertChannel {
  const base = `${config.apiBaseUrl.replace(/\/+$/, '')}/bot${config.botToken}`;
  const host = new URL(config.apiBaseUrl).host;
  const call = async (method: string, init: RequestInit, signal: AbortSignal): Promise<void> => {
    try {
      await httpSend('telegram', `${base}/${method}`, { ...init, method: 'POST' }, config.timeoutMs, signal);
    } catch (error) {
      // The Bot API's JSON error says why ("Unauthorized", "chat not found"); keep it, never the URL (it holds the token).
      if (error instanceof IntegrationsError) throw error;
      throw channelError('telegram', 'NOTIFY_NETWORK', `cannot reach ${host}`, true, undefined, error);
    }
  };
  return {
    name: 'telegram',
    async send({ alert, text }, signal) {
      const caption = `${text.title}\n${text.body}${alert.link ? `\n${alert.link}` : ''}`.slice(0, 1024);
      if (alert.snapshot) {
        const form = new FormData();
        form.set('chat_id', String(config.chatId));
        form.set('caption', caption);
        form.set('photo', new Blob([new Uint8Array(alert.snapshot)], { type: 'image/jpeg' }), 'snapshot.jpg');
        await call('sendPhoto', { body: form }, signal);
      } else {
        await call('sendMessage', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ chat_id: config.chatId, text: caption }) }, signal);
      }
    },
    close() {},
  };
}

/** E-mail over SMTP with the snapshot inline (`cid:`), one connection per message. */
export function createEmailChannel(config: EmailConfig): AlertChannel {
  let transport: Transporter | null = null;
  const transportOf = (): Transporter => {
    transport ??= nodemailer.createTransport({
      host: config.host,
      port: config.port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      auth: config.username && config.password ? { user: config.username, pass: config.password } : undefined,
      tls: { rejectUnauthorized: config.rejectUnauthorized, ...(config.caPath ? { ca: readFileSync(config.caPath) } : {}) },
      connectionTimeout: config.timeoutMs,
      greetingTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
      logger: false,
      debug: false,
    });
    return transport;
  };
  const sendMail = async (mail: SendMailOptions): Promise<void> => {
    try {
      await transportOf().sendMail({ from: config.from, to: config.to, ...mail });
    } catch (error) {
      throw classifySmtpError(error, config.host);
    }
  };
  return {
    name: 'email',
    clipFollowUps: true,
    async send({ alert, text, clipFile }, signal) {
      if (signal.aborted) throw channelError('email', 'NOTIFY_NETWORK', 'stopped', true);
      if (alert.followUp) return sendMail(await clipMail(config, alert, alert.followUp, clipFile ?? null));
      const link = alert.link ? `<p><a href="${escapeHtml(alert.link)}">Open the event</a></p>` : '';
      const image = alert.snapshot ? '<p><img src="cid:snapshot@preroll" alt="snapshot at the trigger" style="max-width:100%"></p>' : '';
      // A "still moving" update goes into the visit's thread (same subject, In-Reply-To the alert).
      const thread = alert.replyTo ? { inReplyTo: alert.replyTo.messageId, references: [alert.replyTo.messageId] } : {};
      await sendMail({
        ...(alert.messageId ? { messageId: alert.messageId } : {}),
        ...thread,
        subject: alert.replyTo ? `Re: ${alert.replyTo.subject}` : text.title,
        text: `${text.body}${alert.link ? `\n${alert.link}` : ''}`,
        html: `<p>${escapeHtml(text.body)}</p>${image}${link}`,
        attachments: alert.snapshot ? [{ filename: 'snapshot.jpg', content: alert.snapshot, contentType: 'image/jpeg', cid: 'snapshot@preroll' }] : [],
      });
    },
    close() {
      transport?.close();
      transport = null;
    },
  };
}

/**
 * The follow-up mail of an alert: in the alert's thread (`In-Reply-To`/`References`, subject
 * `Re: …`), with the MP4 attached when it is at most `clipMaxBytes`, else the link. A clip
 * deleted while the mail waited is linked, not attached.
 */
async function clipMail(config: EmailConfig, alert: QueuedAlert, followUp: ClipFollowUp, clipFile: string | null): Promise<SendMailOptions> {
  // The size is the finisher's; only whether the clip is still there is asked of the disk (the
  // mail may have waited for hours): gone (retention, deleted in the page) or unreadable, the
  // mail says so instead of failing.
  const present = clipFile !== null && (await fsp.access(clipFile).then(() => true, () => false));
  const bytes = present ? followUp.clipBytes : null;
  const attach = bytes !== null && config.clipMaxBytes > 0 && bytes <= config.clipMaxBytes;
  const size = bytes === null ? '' : `, ${sizeText(bytes)}`;
  const what = `The clip (${followUp.durationS.toFixed(1)} s${size})`;
  const where = alert.link ? ` ${alert.link}` : '';
  const line =
    bytes === null
      ? `The clip is no longer on the camera.${alert.link ? ` The event:${where}` : ''}`
      : attach
        ? `${what} is attached.`
        : `${what} ${config.clipMaxBytes > 0 ? `is larger than ${sizeText(config.clipMaxBytes)}, the limit for mail` : 'is not sent by mail'}${alert.link ? `; open it here:${where}` : '; open it in the page'}.`;
  const body = `${alertText(alert.facts).body}\n${line}${attach && alert.link ? `\nThe event: ${alert.link}` : ''}`;
  const link = alert.link ? `<p><a href="${escapeHtml(alert.link)}">Open the event</a></p>` : '';
  return {
    subject: `Re: ${followUp.subject}`,
    inReplyTo: followUp.inReplyTo,
    references: [followUp.inReplyTo],
    text: body,
    html: body
      .split('\n')
      .map((p) => `<p>${escapeHtml(p)}</p>`)
      .join('') + link,
    attachments: attach && clipFile ? [{ filename: `${followUp.recordingId}.mp4`, path: clipFile, contentType: 'video/mp4' }] : [],
  };
}

/** `3.2 MB`, `640 kB`. Pure. */
function sizeText(bytes: number): string {
  return bytes >= 1_000_000 ? `${(bytes / 1_000_000).toFixed(1)} MB` : `${Math.ceil(bytes / 1000)} kB`;
}

/** The `Message-ID` of an alert mail: unique, on the sender's domain (some spam filters frown on others). Pure. */
export function alertMessageId(from: string, id: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'preroll.invalid';
  return `<${id}@${domain}>`;
}

/** Names the cause of a nodemailer failure: auth (535), a rejected message, DNS, TLS, timeout. Pure. */
export function classifySmtpError(error: unknown, host: string): IntegrationsError {
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
  if (e.code === 'EAUTH' || e.responseCode === 535) return channelError('email', 'NOTIFY_UNAUTHORIZED', `${host} refused the login (${e.responseCode ?? e.code}): check username and password`, false, e.responseCode, error);
  if (e.code === 'ETLS' || e.code === 'ESOCKET' && /certificate|ssl|tls/i.test(e.message ?? '')) return channelError('email', 'NOTIFY_TLS', `TLS with ${host} failed: ${e.message ?? ''}`, false, undefined, error);
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE' || (e.responseCode !== undefined && e.responseCode >= 500)) {
    return channelError('email', 'NOTIFY_SMTP_REJECTED', `${host} rejected the message (${e.responseCode ?? e.code}): ${(e.response ?? e.message ?? '').slice(0, 200)}`, false, e.responseCode, error);
  }
  if (e.responseCode !== undefined && e.responseCode >= 400) return channelError('email', 'NOTIFY_SMTP_REJECTED', `${host} deferred the message (${e.responseCode})`, true, e.responseCode, error);
  if (e.code === 'ETIMEDOUT') return channelError('email', 'NOTIFY_TIMEOUT', `no answer from ${host} in time`, true, undefined, error);
  return classifyConnectionError('email', error, host, false);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** The JSON a Preroll push carries (read by web/push-sw.js). */
export interface PushPayload {
  readonly title: string;
  readonly body: string;
  /** Where a tap goes (the event), or null. */
  readonly url: string | null;
  /** The snapshot URL, or null. */
  readonly image: string | null;
  /** Replaces an earlier notification of the same camera on the device. */
  readonly tag: string;
  readonly timestamp: number;
}

/**
 * Web Push to every subscribed device. A device whose subscription is gone (404/410) is
 * removed; the alert counts as delivered when every remaining device took it.
 */
export function createWebPushChannel(config: WebPushConfig, store: WebPushStore): AlertChannel {
  return {
    name: 'webpush',
    async send({ alert, text, snapshotUrl }, signal) {
      const subscriptions = store.list();
      alert.pendingSubscriptions ??= subscriptions.map((s) => s.id);
      const pending = subscriptions.filter((s) => alert.pendingSubscriptions?.includes(s.id));
      if (subscriptions.length === 0) throw channelError('webpush', 'NOTIFY_NO_SUBSCRIBERS', 'no device has enabled notifications (press "Enable notifications on this device" in the page)', false);
      const payload: PushPayload = { title: text.title, body: text.body, url: alert.link, image: snapshotUrl, tag: `preroll-${alert.facts.camera}`, timestamp: alert.facts.atMs };
      let firstError: IntegrationsError | null = null;
      for (const subscription of pending) {
        try {
          await pushOne(config, store, subscription, JSON.stringify(payload), signal);
          alert.pendingSubscriptions = alert.pendingSubscriptions.filter((id) => id !== subscription.id);
        } catch (error) {
          const e = error as IntegrationsError;
          if ((e.value as ChannelErrorValue | undefined)?.status === 404 || (e.value as ChannelErrorValue | undefined)?.status === 410) {
            await store.remove(subscription.id);
            alert.pendingSubscriptions = alert.pendingSubscriptions.filter((id) => id !== subscription.id);
            continue;
          }
          firstError ??= e;
        }
      }
      if (firstError) throw firstError;
    },
    close() {},
  };
}

async function pushOne(config: WebPushConfig, store: WebPushStore, subscription: PushSubscriptionRecord, payload: string, signal: AbortSignal): Promise<void> {
  const keys = store.vapidKeys();
  const details = webpush.generateRequestDetails({ endpoint: subscription.endpoint, keys: subscription.keys }, payload, {
    vapidDetails: { subject: config.subject, publicKey: keys.publicKey, privateKey: keys.privateKey },
    TTL: config.ttlS,
    contentEncoding: 'aes128gcm',
    urgency: 'high',
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(details.headers)) headers[k] = String(v);
  await httpSend('webpush', details.endpoint, { method: details.method, headers, body: details.body ? new Uint8Array(details.body) : undefined }, config.timeoutMs, signal);
}
