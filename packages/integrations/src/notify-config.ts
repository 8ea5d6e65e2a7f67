/**
 * The alert channels' configuration (`integrations.notify`): one zod schema, strict and
 * bounded, with units in the names. The server's config schema embeds it, so
 * docs/configuration.md is generated from the descriptions below.
 */

import { z } from 'zod';

/** Kinds of recording an alert can be about (continuous segments and photos never alert). */
export const ALERT_KINDS = ['motion', 'manual', 'memory'] as const;
/** One of {@link ALERT_KINDS}. */
export type AlertKind = (typeof ALERT_KINDS)[number];
/** The arming modes. */
export const ARMING_MODES = ['home', 'away', 'off'] as const;
/** One of {@link ARMING_MODES}. */
export type ArmingMode = (typeof ARMING_MODES)[number];
/** The channel names, in a stable order. */
export const CHANNEL_NAMES = ['ntfy', 'telegram', 'email', 'webpush'] as const;
/** One of {@link CHANNEL_NAMES}. */
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** A label an alert rule names: a class of the taxonomy (`person`, `animal`, `vehicle`, `other`) or a detector class (`cat`, `car`). */
const LABEL_WORD = z.string().regex(/^[a-z][a-z ]{0,29}$/, 'must be a label such as "person", "animal", "vehicle", "other" or a detector class such as "cat" (lower case)');

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be "HH:MM" (24 h)');
const CAMERA_ID = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/);

/** Quiet hours: no alerts from `from` to `to` (local time; may wrap past midnight). */
const quietHours = z
  .strictObject({
    from: HHMM.describe('Start of the quiet hours, local time `HH:MM`.'),
    to: HHMM.describe('End of the quiet hours, local time `HH:MM` (earlier than `from`: the quiet hours wrap past midnight).'),
  })
  .describe('Hours without alerts on this channel, every day (local time zone of the machine).');

/** What every channel shares: the rules that decide whether an event is sent, and the delivery bounds. */
const common = {
  enabled: z.boolean().default(true).describe('Default true: a present section is on.'),
  kinds: z.array(z.enum(ALERT_KINDS)).min(1).max(3).default(['motion', 'manual']).describe('Kinds of recording that alert: `motion` (at the trigger), `manual` (when a manual recording starts), `memory` (when "save the last N minutes" is saved).'),
  cameras: z.array(CAMERA_ID).max(4).default([]).describe('Camera ids that alert on this channel; empty: every camera.'),
  minPeakScore: z.number().min(0).max(65025).default(0).describe('A motion event alerts only once its score reached this (0: at the trigger). An event that reaches it later alerts then.'),
  modes: z.array(z.enum(ARMING_MODES)).min(1).max(3).default(['away']).describe('Arming modes in which this channel alerts (`arming`); `off` in the list is ignored: off never alerts.'),
  cooldownS: z.int().min(0).max(86_400).default(300).describe('After an alert of a camera, further motion events of that camera within this many seconds do not alert again, seconds.'),
  updateIntervalS: z.int().min(0).max(86_400).default(600).describe('While one motion event goes on, at most one "still moving" update every this many seconds, seconds (0: no updates).'),
  quietHours: quietHours.optional(),
  labels: z
    .array(LABEL_WORD)
    .max(20)
    .default([])
    .describe('Motion events alert only when one of these labels was seen (`person`, `animal`, `vehicle`, `other`, or a detector class such as `cat`, `car`; see docs/labels.md), e.g. `["person"]`; empty: any event, labelled or not. The alert then waits for the early classification (at most `labelWaitMs`). Other kinds (manual, memory) are not filtered.'),
  exceptLabels: z
    .array(LABEL_WORD)
    .max(20)
    .default([])
    .describe('Labels that never make a motion event alert, e.g. `["cat"]` (your own cat): they are set aside before `labels` is matched, and an event whose every label is set aside does not alert. An event with no label at all ("motion only") still alerts when `labels` is empty.'),
  minLabelConfidence: z.number().min(0).max(1).default(0).describe('A label counts for `labels` and `exceptLabels` only from this detector confidence (0..1); 0: every label the event carries (they already passed `labels.minConfidence`).'),
  labelWaitMs: z
    .int()
    .min(0)
    .max(30_000)
    .default(8000)
    .describe('With `labels` or `exceptLabels`, how long an alert waits after the trigger for the early classification, milliseconds; past it (or when labels are off or failed) `unknownLabels` decides.'),
  unknownLabels: z
    .enum(['alert', 'skip'])
    .default('alert')
    .describe('With `labels` or `exceptLabels`: what an event whose labels are not known in time does: `alert` (rather a needless alert than a missed one) or `skip`.'),
  timeoutMs: z.int().min(500).max(120_000).default(15_000).describe('Timeout of one delivery attempt, milliseconds.'),
  maxAttempts: z.int().min(1).max(20).default(6).describe('Attempts per alert, including the first.'),
  retryInitialMs: z.int().min(10).max(3_600_000).default(2000).describe('Delay before the first retry, milliseconds; doubles per retry.'),
  retryMaxMs: z.int().min(10).max(3_600_000).default(120_000).describe('Longest delay between retries, milliseconds.'),
  queueMax: z.int().min(1).max(1000).default(50).describe('Alerts waiting on this channel (kept on disk across restarts); beyond, the oldest is dropped.'),
  maxAgeS: z.int().min(10).max(86_400).default(3600).describe('An alert still undelivered after this many seconds (e.g. across a long outage) is dropped: it is no news any more, seconds.'),
};

const ntfy = z
  .strictObject({
    ...common,
    serverUrl: z.url({ protocol: /^https?$/ }).max(2000).default('https://ntfy.sh').describe('The ntfy server: `https://ntfy.sh` or your own.'),
    topic: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).describe('The topic to publish to (pick a long random one on ntfy.sh: anyone who knows it can read it). Required.'),
    token: z.string().min(1).max(500).optional().describe('An access token (`tk_…`), sent as a Bearer token. Never logged.'),
    username: z.string().min(1).max(200).optional().describe('User name for Basic auth (with `password`), instead of a token.'),
    password: z.string().min(1).max(500).optional().describe('Password for Basic auth. Never logged.'),
    priority: z.int().min(1).max(5).default(4).describe('ntfy priority 1 (min) .. 5 (max).'),
    tags: z.array(z.string().regex(/^[A-Za-z0-9_+-]{1,40}$/)).max(10).default(['camera']).describe('ntfy tags (emoji short codes such as `camera`, `rotating_light`).'),
  })
  .describe('ntfy (https://ntfy.sh or self-hosted): the snapshot as the attachment, the event as the click-through link.');

const telegram = z
  .strictObject({
    ...common,
    botToken: z.string().regex(/^\d{3,20}:[A-Za-z0-9_-]{20,100}$/, 'must be a bot token "123456:ABC…" from @BotFather').describe('The bot token from @BotFather. Never logged. Required.'),
    chatId: z.union([z.int(), z.string().regex(/^(-?\d{1,20}|@[A-Za-z0-9_]{5,64})$/)]).describe('The chat to send to: a user or group id (number) or `@channelname`. Required.'),
    apiBaseUrl: z.url({ protocol: /^https?$/ }).max(2000).default('https://api.telegram.org').describe('The Bot API server: `https://api.telegram.org` or a local Bot API server.'),
  })
  .describe('Telegram: `sendPhoto` with the snapshot and a caption linking to the event.');

const email = z
  .strictObject({
    ...common,
    host: z.string().min(1).max(255).describe('SMTP server host name. Required.'),
    port: z.int().min(1).max(65_535).default(587).describe('SMTP port: 587 (STARTTLS), 465 (TLS) or 25.'),
    security: z.enum(['starttls', 'tls', 'none']).default('starttls').describe('`starttls` (upgrade required), `tls` (implicit TLS, port 465) or `none` (only on a network you trust).'),
    username: z.string().min(1).max(500).optional().describe('SMTP user name.'),
    password: z.string().min(1).max(500).optional().describe('SMTP password (an app password for Gmail). Never logged.'),
    from: z.string().min(3).max(500).describe('Sender, e.g. `Preroll <camera@example.com>`. Required.'),
    to: z.array(z.email()).min(1).max(20).describe('Recipients. Required.'),
    rejectUnauthorized: z.boolean().default(true).describe('Check the server\'s certificate and host name; false only for a server with a self-signed certificate on a network you trust.'),
    caPath: z.string().min(1).max(4096).optional().describe('A PEM CA file to trust for the SMTP server (e.g. a home server\'s own CA).'),
    clipMaxBytes: z
      .int()
      .min(0)
      .max(26_214_400)
      .default(7_000_000)
      .describe(
        'When the recording of an alerted event is finished, a follow-up mail in the same thread carries the MP4 if it is at most this big, else a link to the event, bytes (0: always the link). The default keeps the mail under the 10 MB that many providers and relays accept (attachments grow by a third in a mail).',
      ),
  })
  .describe('E-mail over SMTP (nodemailer): the snapshot inline in an HTML mail at the trigger, then the clip (or its link) in a follow-up mail in the same thread.');

const webpush = z
  .strictObject({
    ...common,
    subject: z
      .string()
      .regex(/^(mailto:.+@.+|https:\/\/.+)$/, 'must be a mailto: address or an https: URL')
      .max(500)
      .describe('Contact of this server for the push services (`mailto:you@example.com`), sent in the VAPID token. Required.'),
    ttlS: z.int().min(0).max(2_419_200).default(3600).describe('How long the push service keeps an alert for a phone that is offline, seconds.'),
    maxSubscriptions: z.int().min(1).max(100).default(20).describe('Devices that may enable notifications; beyond, the oldest subscription is dropped.'),
  })
  .describe('Web Push to the devices that pressed "Enable notifications on this device" (needs HTTPS; on iOS the web app added to the home screen). VAPID keys are made at the first start and kept in `<dataDir>/webpush-vapid.json`.');

/** `integrations.notify`: the alert channels. */
export const notifyConfigSchema = z
  .strictObject({
    publicUrl: z
      .url({ protocol: /^https?$/ })
      .max(2000)
      .optional()
      .describe('How phones reach this server, e.g. `https://camera.home.example:8080`: alerts link to the event under it. Without it alerts carry no link.'),
    snapshotMaxBytes: z.int().min(1024).max(10_485_760).default(1_048_576).describe('A larger trigger snapshot is not attached, bytes.'),
    ntfy: ntfy.optional(),
    telegram: telegram.optional(),
    email: email.optional(),
    webpush: webpush.optional(),
  })
  .superRefine((value, ctx) => {
    for (const name of CHANNEL_NAMES) {
      const channel = value[name];
      if (channel && channel.retryMaxMs < channel.retryInitialMs) ctx.addIssue({ code: 'custom', path: [name, 'retryMaxMs'], message: 'must be at least retryInitialMs' });
    }
    if (value.ntfy && (value.ntfy.username === undefined) !== (value.ntfy.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['ntfy', 'password'], message: 'username and password go together' });
    }
    if (value.ntfy?.token && value.ntfy.username) ctx.addIssue({ code: 'custom', path: ['ntfy', 'token'], message: 'give a token or username/password, not both' });
    if (value.email && (value.email.username === undefined) !== (value.email.password === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['email', 'password'], message: 'username and password go together' });
    }
  })
  .describe('Alerts on the phone at the trigger, with the snapshot: ntfy, Telegram, e-mail and Web Push; see docs/integrations.md.');

/** What the user writes under `integrations.notify`. */
export type NotifyConfig = z.input<typeof notifyConfigSchema>;
/** The parsed `integrations.notify`, defaults filled in. */
export type ResolvedNotifyConfig = z.output<typeof notifyConfigSchema>;
/** Options of one channel, as parsed. */
export type NtfyConfig = NonNullable<ResolvedNotifyConfig['ntfy']>;
/** Options of the Telegram channel, as parsed. */
export type TelegramConfig = NonNullable<ResolvedNotifyConfig['telegram']>;
/** Options of the e-mail channel, as parsed. */
export type EmailConfig = NonNullable<ResolvedNotifyConfig['email']>;
/** Options of the Web Push channel, as parsed. */
export type WebPushConfig = NonNullable<ResolvedNotifyConfig['webpush']>;
/** What every channel has: the rules and the delivery bounds. */
export type ChannelRules = Pick<NtfyConfig, keyof typeof common>;

/** Weekly time ranges (`arming.schedules`): on these days, from..to local time. */
export const weeklyRangeSchema = z.strictObject({
  days: z
    .array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']))
    .min(1)
    .max(7)
    .default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
    .describe('Days the range starts on.'),
  from: HHMM.describe('Start, local time `HH:MM`.'),
  to: HHMM.describe('End, local time `HH:MM`; earlier than `from`: the range ends the next day.'),
  cameras: z.array(CAMERA_ID).max(4).default([]).describe('Cameras it applies to; empty: every camera.'),
});
/** One weekly range, as parsed. */
export type WeeklyRange = z.output<typeof weeklyRangeSchema>;

/** `arming`: modes, schedules and presence. */
export const armingConfigSchema = z
  .strictObject({
    mode: z.enum(ARMING_MODES).default('away').describe('The mode at the first start: `away` (alerts on), `home` (alerts paused, recording goes on) or `off` (no alerts). A mode chosen in the page, the API or MQTT is kept in `<dataDir>/arming.json` and wins at the next start.'),
    schedules: z
      .strictObject({
        alerts: z.array(weeklyRangeSchema).max(50).default([]).describe('Alerts only within these weekly ranges (for the cameras each names); a camera no range names alerts at any time. E.g. `[{"days":["mon","tue","wed","thu","fri"],"from":"22:00","to":"07:00"}]`.'),
        detection: z.array(weeklyRangeSchema).max(50).default([]).describe('Motion detection switched on at the start of these ranges and off at their end (for the cameras each names); the page\'s switch still works in between.'),
      })
      .prefault({})
      .describe('Weekly time ranges, in the local time zone of the machine.'),
    presence: z
      .strictObject({
        devices: z
          .array(
            z.strictObject({
              name: z.string().min(1).max(60).describe('Shown in the status ("home: Anna\'s phone seen").'),
              ip: z.union([z.ipv4(), z.ipv6()]).optional().describe('The phone\'s fixed address on the home network (a DHCP reservation).'),
              mac: z.string().regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/).optional().describe('The phone\'s MAC address (turn off "private address" per network, or use the private one it shows for your Wi-Fi).'),
            }),
          )
          .max(20)
          .default([])
          .describe('Phones whose presence on the home network pauses alerts; each needs `ip` or `mac`.'),
        intervalS: z.int().min(5).max(3600).default(30).describe('How often the phones are looked for, seconds.'),
        graceS: z.int().min(0).max(86_400).default(600).describe('A phone counts as gone only after it was not seen for this long (phones sleep their Wi-Fi), seconds.'),
        probePorts: z.array(z.int().min(1).max(65_535)).min(1).max(5).default([62078, 80]).describe('TCP ports probed on each `ip` to wake it and to see it answer (a refused connection also proves it is there).'),
        probeTimeoutMs: z.int().min(100).max(10_000).default(1500).describe('Wait for one probe, milliseconds.'),
        pauses: z.enum(['alerts', 'alerts-and-detection']).default('alerts').describe('What a present phone pauses: `alerts` (recording goes on) or `alerts-and-detection`.'),
      })
      .prefault({})
      .describe('Presence: alerts pause while a listed phone is on the home network, read from the kernel\'s neighbour table (`ip neigh`) and a TCP probe of the listed addresses; no cloud.'),
  })
  .superRefine((value, ctx) => {
    value.presence.devices.forEach((d, i) => {
      if (!d.ip && !d.mac) ctx.addIssue({ code: 'custom', path: ['presence', 'devices', i], message: 'needs "ip" or "mac"' });
    });
  })
  .describe('Arming: Home / Away / Off from the page, the API, MQTT and Home Assistant; weekly schedules; presence of phones.');

/** What the user writes under `arming`. */
export type ArmingConfig = z.input<typeof armingConfigSchema>;
/** The parsed `arming`. */
export type ResolvedArmingConfig = z.output<typeof armingConfigSchema>;
