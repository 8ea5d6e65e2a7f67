/**
 * The alert notifier: the configured channels, each with one worker and one bounded queue kept
 * on disk, fed by the runtime's "event started" notices. Per channel it applies the rules
 * (alert-rules.ts) and the arming gate, so one motion event gives one alert per channel (plus
 * rate-limited "still moving" updates). When an alerted event's recording is finished, a
 * channel with clip follow-ups (e-mail) gets exactly one more message in the alert's thread.
 * The visits and the alerts waiting for their clip are kept in `notify-state.json`
 * (alert-state.ts), so a restart neither repeats a first alert nor loses a follow-up. Every
 * method the runtime calls returns at once: a slow or dead channel never blocks capture or
 * recording.
 */

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { isAbsolute, relative as relativePath, resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { alertText, decideAlert, hasLabelRules, localClock, type AlertFacts, type AlertLabel, type ArmingGate, type LabelsKnown, type SkipReason } from './alert-rules';
import { openAlertOutbox, outboxDir, type AlertOutbox, type ClipFollowUp, type QueuedAlert } from './alert-outbox';
import { boundState, openNotifyState, STATE_MAX_THREADS, type NotifyState, type PendingThread, type StoredVisit } from './alert-state';
import {
  alertMessageId,
  createEmailChannel,
  createNtfyChannel,
  createTelegramChannel,
  createWebPushChannel,
  isRetryable,
  type AlertChannel,
} from './alert-channels';
import { IntegrationsError } from './errors';
import { CHANNEL_NAMES, type AlertKind, type ChannelName, type ChannelRules, type ResolvedNotifyConfig } from './notify-config';
import { retryDelayMs, sleepUnlessAborted } from './retry';
import { createWebPushStore, type WebPushStore } from './webpush-store';

/** "An event started" — from the runtime at the trigger (motion, manual) or when a memory is saved. */
export interface EventStartNotice {
  readonly camera: string;
  readonly kind: AlertKind;
  /** Wall time of the trigger frame. */
  readonly atMs: number;
  /** Score of the trigger frame (null for kinds without one). */
  readonly score: number | null;
  /** The JPEG of the trigger moment, or null. */
  readonly snapshot: Buffer | null;
  /** A memory (or other one-shot kind) has no progress and ends at once. Default false. */
  readonly oneShot?: boolean;
  /** The recording, when it exists already (a memory): its follow-up is matched by id rather than by time. */
  readonly recordingId?: string;
  /**
   * A motion event whose early labels will come through {@link Notifier.eventLabels}: channels
   * with label rules wait for them (at most their `labelWaitMs`). False or absent: the labels
   * stay unknown and `unknownLabels` decides at once.
   */
  readonly awaitLabels?: boolean;
}

/** A recording is finished (indexed and announced): alerted events get their follow-up with the clip. */
export interface RecordingNotice {
  readonly id: string;
  readonly camera: string;
  readonly kind: AlertKind;
  /** Wall times of the first and last frame. */
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  /** The MP4 relative to the data directory (as the store holds it), or null when it has none on this device. */
  readonly clip: string | null;
  readonly clipBytes: number;
  readonly durationS: number;
  readonly peakScore: number | null;
}

/** Counters and health of one channel (the page's System panel, `/api/status`, `/metrics`). */
export interface ChannelStats {
  readonly name: ChannelName;
  /** Alerts (first message of an event) delivered. */
  readonly alerts: number;
  /** "Still moving" updates delivered. */
  readonly updates: number;
  /** Follow-ups with the finished clip (or its link) delivered (e-mail). */
  readonly clips: number;
  /** Messages given up (last attempt failed, or an error that is not retried). */
  readonly failed: number;
  /** Attempts that failed and were retried. */
  readonly retries: number;
  /** Messages dropped: queue full, or older than `maxAgeS`. */
  readonly dropped: number;
  /** Messages waiting or in progress. */
  readonly queued: number;
  /** Events not sent, by reason. */
  readonly skipped: Readonly<Record<SkipReason, number>>;
  readonly lastError: { readonly code: string; readonly message: string; readonly at: string } | null;
  readonly lastSentAt: string | null;
  /** Failed attempts since the last success. */
  readonly consecutiveFailures: number;
  /** The channel keeps failing: 3 failed attempts in a row, or the last message was given up. */
  readonly failing: boolean;
}

/** What {@link Notifier.stats} returns. */
export interface NotifyStats {
  readonly channels: readonly ChannelStats[];
  /** Devices subscribed to Web Push (0 without that channel). */
  readonly pushSubscriptions: number;
}

/** The outcome of one test message. */
export interface TestResult {
  readonly channel: ChannelName;
  readonly ok: boolean;
  readonly ms: number;
  readonly code?: string;
  readonly message?: string;
}

/** Options of {@link createNotifier}. */
export interface NotifierOptions {
  readonly config: ResolvedNotifyConfig;
  readonly dataDir: string;
  /** Whether (and why not) a camera may alert now. */
  readonly arming: (camera: string, atMs: number) => ArmingGate;
  readonly logger?: Logger;
  /** Wall clock (tests inject one). Default `Date.now`. */
  readonly now?: () => number;
  /**
   * Send what the outbox holds from the last run, and remember visits and pending follow-ups in
   * `<dataDir>/notify-state.json`. Default true; false for a one-off test from the command line
   * (which must not touch a running server's files).
   */
  readonly resumeOutbox?: boolean;
}

/** The alert channels of one server (all cameras). */
export interface Notifier {
  readonly channels: readonly ChannelName[];
  /** Opens the Web Push keys and subscriptions and resumes what the outbox holds. */
  start(): Promise<void>;
  /** Stops the workers: what is still queued stays on disk for the next start. Idempotent. */
  stop(): Promise<void>;
  /** An event started. Returns at once. */
  eventStarted(notice: EventStartNotice): void;
  /** The camera's event goes on with this peak so far; `snapshot` is asked for only if an update is due. Cheap to call every frame. */
  eventProgress(camera: string, atMs: number, peakScore: number, snapshot: () => Promise<Buffer | null>): void;
  /** The camera's event ended. */
  eventEnded(camera: string, atMs: number): void;
  /**
   * The early labels of the camera's event that started at `startedAtMs` (its notice's `atMs`);
   * null: they could not be had (the classification failed or had no frame). Channels waiting
   * for them decide now. Returns at once.
   */
  eventLabels(camera: string, startedAtMs: number, labels: readonly AlertLabel[] | null): void;
  /**
   * A recording is finished (from the one announcement path, once per recording). An event
   * that alerted on a channel with clip follow-ups (e-mail) gets exactly one, in the alert's
   * thread; other recordings are ignored. Returns at once.
   */
  recordingFinished(recording: RecordingNotice): void;
  /** Sends a test message now on one channel or every channel, bypassing rules and queue; reports each outcome. Throws `NOTIFY_UNKNOWN_CHANNEL`. */
  test(channel: string | undefined, camera: string, snapshot: Buffer | null): Promise<TestResult[]>;
  /** The Web Push subscriptions and VAPID keys, or null without that channel. */
  readonly webpush: WebPushStore | null;
  /** A recent alert's snapshot for the capability URL in Web Push notifications, or null. */
  snapshot(id: string, key: string): Buffer | null;
  /** Resolves when every queue is empty (tests, benchmarks). */
  idle(): Promise<void>;
  stats(): NotifyStats;
}

interface OpenEvent {
  readonly camera: string;
  readonly kind: AlertKind;
  readonly startedAtMs: number;
  peakScore: number | null;
  /** Channels on which this event has sent its alert. */
  readonly alerted: Set<ChannelName>;
  /** The trigger snapshot (a late alert shows it too). */
  readonly snapshot: Buffer | null;
  readonly recordingId: string | null;
  /** The event's labels as known now. */
  labels: LabelsKnown;
  /** Channels waiting for the labels, with the timer that ends their wait. */
  readonly waiting: Map<ChannelName, NodeJS.Timeout>;
}

interface Worker {
  readonly channel: AlertChannel;
  readonly rules: ChannelRules;
  readonly outbox: AlertOutbox;
  readonly queue: QueuedAlert[];
  readonly visits: Map<string, StoredVisit>;
  running: Promise<void> | null;
  alerts: number;
  updates: number;
  clips: number;
  failed: number;
  retries: number;
  dropped: number;
  skipped: Record<SkipReason, number>;
  lastError: ChannelStats['lastError'];
  lastSentAtMs: number | null;
  consecutiveFailures: number;
  gaveUpLast: boolean;
}

const SKIPS: readonly SkipReason[] = ['kind', 'camera', 'mode', 'schedule', 'presence', 'quiet-hours', 'cooldown', 'score', 'label'];
/** Events whose labels are awaited, per camera: the newest few (an event's labels come within seconds). */
const LABEL_EVENTS_KEPT = 4;
/** Snapshots kept for Web Push's capability URLs. */
const SNAPSHOTS_KEPT = 50;
const SNAPSHOT_TTL_MS = 24 * 3600_000;
/** Motion alone (no message) is saved to the state file at most this often: a crash loses at most this much of a visit's activity. */
const STATE_SAVE_DELAY_MS = 5000;
/** An alert whose recording never came (a crash that lost it) stops waiting for it after this long. */
const THREAD_TTL_MS = 24 * 3600_000;
/** A recording matches an alert whose trigger is within its frames, give or take this (wall clocks of frame and notice differ slightly). */
const MATCH_SLACK_MS = 1000;

/** Creates the notifier (no I/O until `start()`). */
export function createNotifier(options: NotifierOptions): Notifier {
  const { config, logger } = options;
  const now = options.now ?? Date.now;
  const webpushStore = config.webpush?.enabled ? createWebPushStore(options.dataDir, config.webpush.maxSubscriptions) : null;
  const workers = new Map<ChannelName, Worker>();
  for (const name of CHANNEL_NAMES) {
    const c = config[name];
    if (!c?.enabled) continue;
    const channel =
      name === 'ntfy' ? createNtfyChannel(config.ntfy!) : name === 'telegram' ? createTelegramChannel(config.telegram!) : name === 'email' ? createEmailChannel(config.email!) : createWebPushChannel(config.webpush!, webpushStore!);
    workers.set(name, {
      channel,
      rules: c,
      outbox: openAlertOutbox(outboxDir(options.dataDir, name)),
      queue: [],
      visits: new Map(),
      running: null,
      alerts: 0,
      updates: 0,
      clips: 0,
      failed: 0,
      retries: 0,
      dropped: 0,
      skipped: Object.fromEntries(SKIPS.map((s) => [s, 0])) as Record<SkipReason, number>,
      lastError: null,
      lastSentAtMs: null,
      consecutiveFailures: 0,
      gaveUpLast: false,
    });
  }
  const events = new Map<string, OpenEvent>();
  // Events whose early labels may still come, by camera, newest last (they outlive the event's end).
  const awaiting = new Map<string, OpenEvent[]>();
  // Channels waiting for labels, over every event: the notifier is not idle while one waits.
  let waitingLabels = 0;
  const persistent = options.resumeOutbox !== false;
  const stateFile = openNotifyState(options.dataDir);
  // Alerts (on channels with clip follow-ups) waiting for their recording, oldest first.
  let threads: PendingThread[] = [];
  let saveTimer: NodeJS.Timeout | null = null;
  let saveDueMs = Infinity;
  let saveChain: Promise<void> = Promise.resolve();
  // Outbox files being written, by alert id: delivery (and removal) waits for the file.
  const writes = new Map<string, Promise<void>>();
  // True between the end of start() (state loaded) and stop().
  let open = false;
  const snapshots = new Map<string, { jpeg: Buffer; key: string; expiresMs: number }>();
  const stopController = new AbortController();
  let started = false;
  const idleWaiters: (() => void)[] = [];
  // Messages waiting for their snapshot to be encoded (not queued yet, but not idle either).
  let pendingSnapshots = 0;

  const keepSnapshot = (jpeg: Buffer | null): { id: string; key: string } | null => {
    if (!jpeg || !config.publicUrl) return null;
    const id = randomUUID().replace(/-/g, '');
    const key = randomBytes(16).toString('base64url');
    snapshots.set(id, { jpeg, key, expiresMs: now() + SNAPSHOT_TTL_MS });
    while (snapshots.size > SNAPSHOTS_KEPT) snapshots.delete(snapshots.keys().next().value as string);
    return { id, key };
  };

  const linkOf = (camera: string, startedAtMs: number): string | null =>
    config.publicUrl ? `${config.publicUrl.replace(/\/+$/, '')}/api/alerts/open?camera=${encodeURIComponent(camera)}&at=${startedAtMs}` : null;

  const snapshotUrlOf = (alert: QueuedAlert): string | null => {
    const ref = (alert as QueuedAlert & { snapshotRef?: { id: string; key: string } }).snapshotRef;
    return ref && config.publicUrl ? `${config.publicUrl.replace(/\/+$/, '')}/alerts/snapshot/${ref.id}?k=${ref.key}` : null;
  };

  const currentState = (): NotifyState => {
    const t = now();
    const visits: Partial<Record<ChannelName, Record<string, StoredVisit>>> = {};
    for (const [name, worker] of workers) {
      // A visit quiet for longer than the cooldown changes no decision any more: forgotten.
      const live = [...worker.visits].filter(([, v]) => t - v.lastActivityMs < worker.rules.cooldownS * 1000);
      if (live.length > 0) visits[name] = Object.fromEntries(live);
    }
    threads = threads.filter((th) => t - th.startedAtMs < THREAD_TTL_MS).slice(-STATE_MAX_THREADS);
    return boundState({ visits, threads });
  };

  const saveState = (): Promise<void> => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = null;
    saveDueMs = Infinity;
    const state = currentState();
    saveChain = saveChain
      .then(() => stateFile.save(state))
      .catch((error: unknown) => {
        logger?.error({ code: 'NOTIFY_STATE_FAILED', err: (error as Error).message }, 'alerts: visits and follow-ups not saved; a restart may repeat a first alert');
      });
    return saveChain;
  };

  /** Saves soon: on the next tick after a message was decided, within STATE_SAVE_DELAY_MS after motion alone. */
  const stateChanged = (urgent: boolean): void => {
    if (!persistent || !open) return;
    const delayMs = urgent ? 0 : STATE_SAVE_DELAY_MS;
    const dueMs = performance.now() + delayMs;
    if (saveTimer && saveDueMs <= dueMs) return;
    if (saveTimer) clearTimeout(saveTimer);
    saveDueMs = dueMs;
    saveTimer = setTimeout(() => void saveState(), delayMs);
  };

  /**
   * The follow-up's MP4 inside the data directory. The outbox file names it; one that points
   * elsewhere (edited by hand) is linked, never attached, so no file outside recordings is mailed.
   */
  const clipFileOf = (alert: QueuedAlert): string | null => {
    const clip = alert.followUp?.clip;
    if (!clip) return null;
    const root = resolvePath(options.dataDir);
    const file = resolvePath(root, clip);
    const inside = relativePath(root, file);
    if (!clip.endsWith('.mp4') || inside.startsWith('..') || isAbsolute(inside)) {
      logger?.warn({ code: 'NOTIFY_OUTBOX_FAILED', alert: alert.id }, 'a queued follow-up names a clip outside the recordings; it is sent with the link only');
      return null;
    }
    return file;
  };

  const eventLinkOf = (recordingId: string): string | null => (config.publicUrl ? `${config.publicUrl.replace(/\/+$/, '')}/#event=${encodeURIComponent(recordingId)}` : null);

  const checkIdle = (): void => {
    if (pendingSnapshots === 0 && waitingLabels === 0 && [...workers.values()].every((w) => w.queue.length === 0 && w.running === null)) {
      for (const resolve of idleWaiters.splice(0)) resolve();
    }
  };

  // Strictly increasing: the outbox files sort by it, so messages queued in the same millisecond (an alert and its follow-up) resume in order.
  let lastCreatedMs = 0;
  const createdAt = (): number => (lastCreatedMs = Math.max(now(), lastCreatedMs + 1));

  const enqueue = (
    worker: Worker,
    facts: AlertFacts,
    snapshot: Buffer | null,
    snapshotRef: { id: string; key: string } | null,
    extra: { id?: string; messageId?: string; replyTo?: StoredVisit['mail']; followUp?: ClipFollowUp; link?: string | null } = {},
  ): void => {
    const alert: QueuedAlert & { snapshotRef?: { id: string; key: string } } = {
      id: extra.id ?? randomUUID().replace(/-/g, ''),
      createdAtMs: createdAt(),
      facts,
      link: extra.link !== undefined ? extra.link : linkOf(facts.camera, facts.startedAtMs),
      snapshot: snapshot && snapshot.length <= config.snapshotMaxBytes ? snapshot : null,
      pendingSubscriptions: null,
      ...(snapshotRef ? { snapshotRef } : {}),
      ...(extra.messageId ? { messageId: extra.messageId } : {}),
      ...(extra.replyTo ? { replyTo: extra.replyTo } : {}),
      ...(extra.followUp ? { followUp: extra.followUp } : {}),
    };
    // On disk at once (not only when it reaches the head of the queue): what waits behind a
    // retried message survives a restart too.
    writes.set(
      alert.id,
      worker.outbox.put(alert).catch((error: unknown) => {
        // The alert still goes out; only a restart would lose it.
        logger?.warn({ code: 'NOTIFY_OUTBOX_FAILED', channel: worker.channel.name, err: (error as Error).message }, 'alert outbox not written');
      }),
    );
    worker.queue.push(alert);
    while (worker.queue.length > worker.rules.queueMax) {
      const oldest = worker.queue.shift() as QueuedAlert;
      worker.dropped++;
      void removeFile(worker, oldest);
      logger?.warn({ code: 'NOTIFY_DROPPED', channel: worker.channel.name, alert: oldest.id }, `${worker.channel.name}: queue full; dropped the oldest alert`);
    }
    worker.running ??= run(worker);
  };

  /** Deletes an alert's file once it has been written. */
  const removeFile = async (worker: Worker, alert: QueuedAlert): Promise<void> => {
    await writes.get(alert.id);
    writes.delete(alert.id);
    await worker.outbox.remove(alert);
  };

  const run = async (worker: Worker): Promise<void> => {
    while (!stopController.signal.aborted && worker.queue.length > 0) {
      const alert = worker.queue[0];
      // Written before it is sent: a crash after sending at worst repeats it, never loses it.
      await writes.get(alert.id);
      const done = await deliver(worker, alert);
      if (!done) break; // stopped: the file stays for the next start
      worker.queue.shift();
      await removeFile(worker, alert);
    }
    worker.running = null;
    checkIdle();
  };

  /** Attempts until delivered or given up; false when stopped meanwhile. */
  const deliver = async (worker: Worker, alert: QueuedAlert): Promise<boolean> => {
    const name = worker.channel.name;
    let attempts = 0;
    for (;;) {
      if (now() - alert.createdAtMs > worker.rules.maxAgeS * 1000) {
        worker.dropped++;
        logger?.warn({ code: 'NOTIFY_DROPPED', channel: name, alert: alert.id }, `${name}: alert older than maxAgeS, dropped`);
        return true;
      }
      attempts++;
      try {
        await worker.channel.send({ alert, text: alertText(alert.facts), snapshotUrl: snapshotUrlOf(alert), clipFile: clipFileOf(alert) }, stopController.signal);
        if (alert.facts.type === 'update') worker.updates++;
        else if (alert.facts.type === 'clip') worker.clips++;
        else worker.alerts++;
        worker.lastSentAtMs = now();
        worker.consecutiveFailures = 0;
        worker.gaveUpLast = false;
        logger?.info({ channel: name, type: alert.facts.type, camera: alert.facts.camera, attempts, ms: now() - alert.facts.atMs }, `${name}: ${alert.facts.type} sent`);
        return true;
      } catch (error) {
        if (stopController.signal.aborted) return false;
        const e = error instanceof IntegrationsError ? error : new IntegrationsError('NOTIFY_NETWORK', `${name}: ${(error as Error).message}`, { channel: name, retryable: true }, { cause: error });
        worker.consecutiveFailures++;
        worker.lastError = { code: e.code, message: e.message, at: new Date(now()).toISOString() };
        const delayMs = attempts < worker.rules.maxAttempts && isRetryable(e) ? retryDelayMs(attempts, worker.rules) : null;
        if (delayMs === null) {
          worker.failed++;
          worker.gaveUpLast = true;
          logger?.warn({ code: 'NOTIFY_GAVE_UP', cause: e.code, channel: name, attempts }, `${name}: gave up after ${attempts} attempt(s): ${e.message}`);
          return true;
        }
        worker.retries++;
        logger?.info({ code: e.code, channel: name, attempts, delayMs }, `${name}: ${e.message}; retry in ${delayMs} ms`);
        await sleepUnlessAborted(delayMs, stopController.signal);
        if (stopController.signal.aborted) return false;
      }
    }
  };

  /** Ends a channel's wait for an event's labels (they came, the wait ran out, or the notifier stops). */
  const endWait = (event: OpenEvent, name: ChannelName): boolean => {
    const timer = event.waiting.get(name);
    if (!timer) return false;
    clearTimeout(timer);
    event.waiting.delete(name);
    waitingLabels--;
    return true;
  };

  /** A channel with label rules waits for the event's early labels, at most its `labelWaitMs`; then the labels count as unknown for it. */
  const startWait = (event: OpenEvent, worker: Worker): void => {
    const name = worker.channel.name;
    if (event.waiting.has(name)) return;
    waitingLabels++;
    const timer = setTimeout(() => {
      if (!endWait(event, name) || stopController.signal.aborted) return checkIdle();
      logger?.info({ channel: name, camera: event.camera, waitedMs: worker.rules.labelWaitMs }, `${name}: the event's labels did not come in time; unknownLabels decides`);
      consider(event, 'start', now(), event.snapshot, { only: worker, labels: { state: 'unknown' } });
      checkIdle();
    }, worker.rules.labelWaitMs);
    timer.unref();
    event.waiting.set(name, timer);
  };

  /** Runs the rules of every channel (or one) for one event at one moment. */
  const consider = (
    event: OpenEvent,
    phase: 'start' | 'progress',
    atMs: number,
    snapshot: Buffer | null | ((alerting: boolean) => Promise<Buffer | null>),
    scope: { only?: Worker; labels?: LabelsKnown } = {},
  ): void => {
    const gate = options.arming(event.camera, atMs);
    const localMinutes = localClock(atMs).minutes;
    const sendTo: { worker: Worker; type: 'alert' | 'update'; label?: string }[] = [];
    for (const worker of scope.only ? [scope.only] : workers.values()) {
      // A channel waiting for labels decides when they come (or its wait ends), not before.
      if (!scope.only && event.waiting.has(worker.channel.name)) continue;
      const visit = worker.visits.get(event.camera) ?? null;
      const decision = decideAlert(worker.rules, {
        phase,
        camera: event.camera,
        kind: event.kind,
        atMs,
        peakScore: event.peakScore,
        eventAlerted: event.alerted.has(worker.channel.name),
        visit,
        arming: gate,
        localMinutes,
        labels: scope.labels ?? event.labels,
      });
      if (decision.send === null) {
        if (decision.skip === 'waiting-labels') {
          startWait(event, worker);
          continue;
        }
        if (decision.skip !== 'not-due' && phase === 'start') worker.skipped[decision.skip]++;
        // Motion seen during a visit keeps it going (cooldown counts from the last motion).
        if (visit && (decision.skip === 'cooldown' || decision.skip === 'not-due')) {
          worker.visits.set(event.camera, { ...visit, lastActivityMs: atMs });
          stateChanged(false);
        }
        continue;
      }
      event.alerted.add(worker.channel.name);
      // An update stays in the visit (and its mail thread); an alert begins a new one.
      const mail = decision.send === 'update' ? visit?.mail : undefined;
      worker.visits.set(event.camera, { lastSentMs: atMs, lastActivityMs: atMs, ...(mail ? { mail } : {}) });
      sendTo.push({ worker, type: decision.send, ...(decision.label ? { label: decision.label } : {}) });
    }
    if (sendTo.length === 0) return;
    stateChanged(true);
    // The facts of this moment (the event keeps changing while the snapshot is encoded).
    const peakScore = event.peakScore;
    const post = (jpeg: Buffer | null): void => {
      if (stopController.signal.aborted) return;
      const ref = keepSnapshot(jpeg);
      for (const { worker, type, label } of sendTo) {
        const facts: AlertFacts = { type, camera: event.camera, kind: event.kind, startedAtMs: event.startedAtMs, atMs, peakScore, ...(label ? { label } : {}) };
        if (!worker.channel.clipFollowUps || !config.email) {
          enqueue(worker, facts, jpeg, ref);
          continue;
        }
        const visit = worker.visits.get(event.camera);
        if (type === 'update') {
          enqueue(worker, facts, jpeg, ref, visit?.mail ? { replyTo: visit.mail } : {});
          continue;
        }
        // The alert's recording will be followed up in its thread once it is finished; the visit's updates reply to it too.
        const id = randomUUID().replace(/-/g, '');
        const mail = { messageId: alertMessageId(config.email.from, id), subject: alertText(facts).title };
        threads.push({ channel: worker.channel.name, camera: event.camera, kind: event.kind, startedAtMs: event.startedAtMs, recordingId: event.recordingId, ...mail });
        if (visit) worker.visits.set(event.camera, { ...visit, mail });
        stateChanged(true);
        enqueue(worker, facts, jpeg, ref, { id, messageId: mail.messageId });
      }
    };
    if (typeof snapshot === 'function') {
      pendingSnapshots++;
      snapshot(sendTo.some((s) => s.type === 'alert'))
        .then(post, (error: unknown) => {
          logger?.warn({ err: (error as Error).message }, 'alert snapshot failed; sending without it');
          post(null);
        })
        .finally(() => {
          pendingSnapshots--;
          checkIdle();
        });
    } else post(snapshot);
  };

  return {
    channels: [...workers.keys()],
    webpush: webpushStore,
    async start() {
      if (started) return;
      started = true;
      await webpushStore?.open();
      if (persistent) {
        const { state, error } = await stateFile.load();
        if (error) logger?.error({ code: error.code, file: stateFile.path, err: error.message }, 'alerts: the remembered visits could not be read; starting afresh');
        for (const [name, worker] of workers) {
          for (const [camera, visit] of Object.entries(state.visits[name] ?? {})) worker.visits.set(camera, visit);
        }
        threads = state.threads.filter((t) => workers.get(t.channel)?.channel.clipFollowUps === true);
      }
      open = true;
      for (const worker of options.resumeOutbox === false ? [] : workers.values()) {
        const left = await worker.outbox.load((file, error) => logger?.warn({ code: 'NOTIFY_OUTBOX_FAILED', file, err: (error as Error).message }, 'unreadable alert in the outbox removed'));
        worker.queue.push(...left);
        if (left.length) {
          logger?.info({ channel: worker.channel.name, alerts: left.length }, `${worker.channel.name}: resuming alerts queued before the restart`);
          worker.running ??= run(worker);
        }
      }
      logger?.info({ channels: [...workers.keys()] }, 'alerts: started');
    },
    async stop() {
      if (stopController.signal.aborted) return;
      stopController.abort();
      for (const list of awaiting.values()) for (const event of list) for (const name of [...event.waiting.keys()]) endWait(event, name);
      awaiting.clear();
      await Promise.all([...workers.values()].map((w) => w.running));
      await Promise.all(writes.values());
      if (open && persistent) await saveState();
      open = false;
      for (const worker of workers.values()) worker.channel.close();
      for (const resolve of idleWaiters.splice(0)) resolve();
    },
    eventStarted(notice) {
      if (!open || stopController.signal.aborted) return;
      const awaitLabels = notice.kind === 'motion' && notice.awaitLabels === true && [...workers.values()].some((w) => hasLabelRules(w.rules));
      const event: OpenEvent = {
        camera: notice.camera,
        kind: notice.kind,
        startedAtMs: notice.atMs,
        peakScore: notice.score,
        alerted: new Set(),
        snapshot: notice.snapshot,
        recordingId: notice.recordingId ?? null,
        labels: { state: awaitLabels ? 'pending' : 'unknown' },
        waiting: new Map(),
      };
      if (!notice.oneShot) events.set(notice.camera, event);
      if (awaitLabels) {
        const list = awaiting.get(notice.camera) ?? [];
        list.push(event);
        // Older events' waits end by their own timers; only their labels could no longer reach them.
        while (list.length > LABEL_EVENTS_KEPT) list.shift();
        awaiting.set(notice.camera, list);
      }
      consider(event, 'start', notice.atMs, notice.snapshot);
    },
    eventProgress(camera, atMs, peakScore, snapshot) {
      const event = events.get(camera);
      if (!event || stopController.signal.aborted) return;
      if (event.peakScore === null || peakScore > event.peakScore) event.peakScore = peakScore;
      // A late alert (the peak reached minPeakScore only now) shows the trigger; an update shows the scene now.
      const trigger = event.snapshot;
      consider(event, 'progress', atMs, async (alerting) => (alerting && trigger ? trigger : snapshot()));
    },
    eventEnded(camera) {
      events.delete(camera);
    },
    eventLabels(camera, startedAtMs, labels) {
      const event = awaiting.get(camera)?.find((e) => e.startedAtMs === startedAtMs);
      if (!event || event.labels.state !== 'pending' || stopController.signal.aborted) return;
      event.labels = labels === null ? { state: 'unknown' } : { state: 'known', labels: labels.map((l) => ({ label: l.label, subLabel: l.subLabel, confidence: l.confidence })) };
      const waited = [...event.waiting.keys()];
      for (const name of waited) endWait(event, name);
      for (const name of waited) {
        const worker = workers.get(name);
        if (worker) consider(event, 'start', now(), event.snapshot, { only: worker });
      }
      checkIdle();
    },
    recordingFinished(recording) {
      if (!open || stopController.signal.aborted) return;
      const covers = (t: PendingThread): boolean =>
        t.recordingId !== null ? t.recordingId === recording.id : t.startedAtMs >= recording.startedAtMs - MATCH_SLACK_MS && t.startedAtMs <= recording.endedAtMs + MATCH_SLACK_MS;
      const matched = threads.filter((t) => t.camera === recording.camera && t.kind === recording.kind && covers(t));
      if (matched.length === 0) return;
      // Taken out before anything is queued: a recording announced twice still gives one follow-up.
      threads = threads.filter((t) => !matched.includes(t));
      for (const thread of matched) {
        const worker = workers.get(thread.channel);
        if (!worker) continue;
        const followUp: ClipFollowUp = {
          inReplyTo: thread.messageId,
          subject: thread.subject,
          recordingId: recording.id,
          clip: recording.clip,
          clipBytes: recording.clipBytes,
          durationS: recording.durationS,
        };
        const facts: AlertFacts = { type: 'clip', camera: recording.camera, kind: recording.kind, startedAtMs: thread.startedAtMs, atMs: recording.endedAtMs, peakScore: recording.peakScore };
        enqueue(worker, facts, null, null, { followUp, link: eventLinkOf(recording.id) });
      }
      stateChanged(true);
    },
    async test(channelName, camera, snapshot) {
      if (channelName !== undefined && !workers.has(channelName as ChannelName)) {
        throw new IntegrationsError('NOTIFY_UNKNOWN_CHANNEL', `no alert channel "${channelName}" is configured (configured: ${[...workers.keys()].join(', ') || 'none'})`, channelName);
      }
      const chosen = channelName === undefined ? [...workers.values()] : [workers.get(channelName as ChannelName) as Worker];
      const atMs = now();
      const ref = keepSnapshot(snapshot);
      return Promise.all(
        chosen.map(async (worker): Promise<TestResult> => {
          const alert: QueuedAlert & { snapshotRef?: { id: string; key: string } } = {
            id: `test${randomUUID().replace(/-/g, '')}`,
            createdAtMs: atMs,
            facts: { type: 'test', camera, kind: 'motion', startedAtMs: atMs, atMs, peakScore: null },
            link: linkOf(camera, atMs),
            snapshot,
            pendingSubscriptions: null,
            ...(ref ? { snapshotRef: ref } : {}),
          };
          const t0 = performance.now();
          try {
            await worker.channel.send({ alert, text: alertText(alert.facts), snapshotUrl: snapshotUrlOf(alert) }, stopController.signal);
            return { channel: worker.channel.name, ok: true, ms: Math.round(performance.now() - t0) };
          } catch (error) {
            const e = error as IntegrationsError;
            return { channel: worker.channel.name, ok: false, ms: Math.round(performance.now() - t0), code: e.code ?? 'NOTIFY_NETWORK', message: e.message };
          }
        }),
      );
    },
    snapshot(id, key) {
      const entry = snapshots.get(id);
      if (!entry || entry.expiresMs < now()) return null;
      const a = Buffer.from(entry.key);
      const b = Buffer.from(key);
      return a.length === b.length && timingSafeEqual(a, b) ? entry.jpeg : null;
    },
    async idle() {
      await new Promise<void>((resolve) => {
        idleWaiters.push(resolve);
        checkIdle();
      });
      if (saveTimer) await saveState();
      await saveChain;
    },
    stats() {
      return {
        pushSubscriptions: webpushStore?.list().length ?? 0,
        channels: [...workers.values()].map((w) => ({
          name: w.channel.name,
          alerts: w.alerts,
          updates: w.updates,
          clips: w.clips,
          failed: w.failed,
          retries: w.retries,
          dropped: w.dropped,
          queued: w.queue.length,
          skipped: { ...w.skipped },
          lastError: w.lastError,
          lastSentAt: w.lastSentAtMs === null ? null : new Date(w.lastSentAtMs).toISOString(),
          consecutiveFailures: w.consecutiveFailures,
          failing: w.consecutiveFailures >= 3 || w.gaveUpLast,
        })),
      };
    },
  };
}
