/**
 * Pure decisions of the alert channels: whether a motion event alerts on a channel, when a
 * "still moving" update is due, quiet hours and weekly ranges in local time, and the text of
 * a message. The notifier keeps the state; these functions only read it.
 */

import type { AlertKind, ArmingMode, ChannelRules, WeeklyRange } from './notify-config';

/** Why an event did not alert on a channel (counted per reason in the channel's stats). */
export type SkipReason = 'kind' | 'camera' | 'mode' | 'schedule' | 'presence' | 'quiet-hours' | 'cooldown' | 'score' | 'label';

/** One object label of an event as the alert rules read it (the store's `EventLabel` fits). */
export interface AlertLabel {
  /** The taxonomy class: `person`, `animal`, `vehicle`, `other`. */
  readonly label: string;
  /** The detector's class, e.g. `cat`, `car`. */
  readonly subLabel: string;
  /** 0..1. */
  readonly confidence: number;
}

/**
 * What is known of an event's labels when a rule looks at it: `pending` (the early
 * classification is still running), `known` (with the labels; none: "motion only") or
 * `unknown` (labels are off, the classification failed, or it came too late).
 */
export type LabelsKnown = { readonly state: 'pending' } | { readonly state: 'unknown' } | { readonly state: 'known'; readonly labels: readonly AlertLabel[] };

/** What the arming state says for one camera at one moment. */
export interface ArmingGate {
  /** The mode in force (presence turns `away` into `home`). */
  readonly mode: ArmingMode;
  /** Alerts are paused although the mode would allow them: outside the alert schedule, or a phone is at home. */
  readonly pausedBy: 'schedule' | 'presence' | null;
}

/** A channel's memory of one camera's visit: the last alert and the last message of the current run of events. */
export interface CameraVisit {
  /** Wall time of the last message sent (alert or update). */
  readonly lastSentMs: number;
  /** Wall time the camera last showed motion while the visit was going on. */
  readonly lastActivityMs: number;
}

/** The decision for one event start or progress on one channel. */
export type AlertDecision =
  | { readonly send: 'alert' | 'update'; readonly label?: string }
  | { readonly send: null; readonly skip: SkipReason | 'not-due' | 'waiting-labels' };

/** Input of {@link decideAlert}. */
export interface AlertInput {
  /** `start`: an event began; `progress`: the event goes on (periodic while active). */
  readonly phase: 'start' | 'progress';
  readonly camera: string;
  readonly kind: AlertKind;
  readonly atMs: number;
  /** Highest score of the event so far (null for kinds without a score). */
  readonly peakScore: number | null;
  /** This event has already alerted (or updated) on this channel. */
  readonly eventAlerted: boolean;
  /** The channel's visit of this camera, if one was seen before. */
  readonly visit: CameraVisit | null;
  readonly arming: ArmingGate;
  /** Minutes since local midnight (for quiet hours). */
  readonly localMinutes: number;
  /** The event's labels as known now; absent: unknown. */
  readonly labels?: LabelsKnown;
}

/** True when the channel's rules look at labels (`labels` or `exceptLabels` set). Pure. */
export function hasLabelRules(rules: Pick<ChannelRules, 'labels' | 'exceptLabels'>): boolean {
  return rules.labels.length > 0 || rules.exceptLabels.length > 0;
}

/**
 * Whether known labels let a motion event alert under a channel's label rules, and the label
 * that did (for the alert's title). A label matches a rule word by its class or its detector
 * class; labels below `minLabelConfidence` are not looked at. Those in `exceptLabels` are set
 * aside first; then with `labels` one of the rest must match, and without it the event alerts
 * unless it had labels and every one was set aside. Pure.
 */
export function matchLabels(rules: Pick<ChannelRules, 'labels' | 'exceptLabels' | 'minLabelConfidence'>, labels: readonly AlertLabel[]): { readonly match: boolean; readonly label: string | null } {
  const names = (l: AlertLabel): string[] => [l.label, l.subLabel];
  const seen = labels.filter((l) => l.confidence >= rules.minLabelConfidence);
  const kept = seen.filter((l) => !names(l).some((n) => rules.exceptLabels.includes(n)));
  if (rules.labels.length === 0) {
    const match = seen.length === 0 || kept.length > 0;
    return { match, label: match && kept.length > 0 ? kept[0].subLabel : null };
  }
  const hit = kept.find((l) => names(l).some((n) => rules.labels.includes(n)));
  return hit ? { match: true, label: rules.labels.includes(hit.subLabel) ? hit.subLabel : hit.label } : { match: false, label: null };
}

/**
 * Decides whether an event alerts, updates or stays silent on one channel. A visit is one run
 * of motion events of a camera with gaps shorter than `cooldownS`: its first event alerts, and
 * later events or a long event send at most one "still moving" update per `updateIntervalS`.
 * An event below `minPeakScore` alerts as soon as its peak reaches it. Pure.
 */
export function decideAlert(rules: ChannelRules, input: AlertInput): AlertDecision {
  if (!rules.kinds.includes(input.kind)) return { send: null, skip: 'kind' };
  if (rules.cameras.length > 0 && !rules.cameras.includes(input.camera)) return { send: null, skip: 'camera' };
  if (input.arming.mode === 'off' || !rules.modes.includes(input.arming.mode)) {
    return { send: null, skip: input.arming.pausedBy === 'presence' && rules.modes.includes('away') ? 'presence' : 'mode' };
  }
  // Presence already shows in the mode (away became home); the schedule pauses whatever the mode.
  if (input.arming.pausedBy === 'schedule') return { send: null, skip: 'schedule' };
  if (rules.quietHours && inDailyRange(input.localMinutes, rules.quietHours.from, rules.quietHours.to)) return { send: null, skip: 'quiet-hours' };
  if (input.kind === 'motion' && input.peakScore !== null && input.peakScore < rules.minPeakScore) return { send: null, skip: 'score' };
  // Labels are looked at last: everything else that keeps the event silent is known at once, and waits for nothing.
  let label: string | undefined;
  if (input.kind === 'motion' && hasLabelRules(rules) && !input.eventAlerted) {
    const known: LabelsKnown = input.labels ?? { state: 'unknown' };
    if (known.state === 'pending') return { send: null, skip: 'waiting-labels' };
    if (known.state === 'unknown') {
      if (rules.unknownLabels === 'skip') return { send: null, skip: 'label' };
    } else {
      const matched = matchLabels(rules, known.labels);
      if (!matched.match) return { send: null, skip: 'label' };
      label = matched.label ?? undefined;
    }
  } else if (input.kind === 'motion' && input.labels && input.labels.state === 'known') {
    label = input.labels.labels[0]?.subLabel;
  }
  const visit = input.visit;
  const inVisit = visit !== null && input.atMs - visit.lastActivityMs < rules.cooldownS * 1000;
  if (!inVisit && !input.eventAlerted) return label ? { send: 'alert', label } : { send: 'alert' };
  // Within a visit (a later event, or the same event going on): only a rate-limited update.
  const updateDue = rules.updateIntervalS > 0 && visit !== null && input.atMs - visit.lastSentMs >= rules.updateIntervalS * 1000;
  if (updateDue) return label ? { send: 'update', label } : { send: 'update' };
  return { send: null, skip: input.phase === 'start' ? 'cooldown' : 'not-due' };
}

/** Minutes since midnight of `HH:MM`. Pure. */
export function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** True when `minutes` (since local midnight) is within from..to; a range with to < from wraps past midnight; from == to is the whole day. Pure. */
export function inDailyRange(minutes: number, from: string, to: string): boolean {
  const a = minutesOf(from);
  const b = minutesOf(to);
  if (a === b) return true;
  return a < b ? minutes >= a && minutes < b : minutes >= a || minutes < b;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** The local weekday (`mon`…) and minutes since local midnight of a wall time. */
export function localClock(atMs: number): { readonly day: (typeof DAYS)[number]; readonly minutes: number } {
  const d = new Date(atMs);
  return { day: DAYS[d.getDay()], minutes: d.getHours() * 60 + d.getMinutes() };
}

/**
 * True when `atMs` (local time) falls in one of the ranges that apply to `camera`, or when no
 * range names the camera (no schedule: always). A range that wraps past midnight belongs to
 * the day it starts on. Pure but for the machine's time zone.
 */
export function inWeeklyRanges(ranges: readonly WeeklyRange[], camera: string, atMs: number): boolean {
  const mine = ranges.filter((r) => r.cameras.length === 0 || r.cameras.includes(camera));
  if (mine.length === 0) return true;
  const { day, minutes } = localClock(atMs);
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7];
  return mine.some((r) => {
    const a = minutesOf(r.from);
    const b = minutesOf(r.to);
    if (a === b) return r.days.includes(day);
    if (a < b) return r.days.includes(day) && minutes >= a && minutes < b;
    return (r.days.includes(day) && minutes >= a) || (r.days.includes(yesterday) && minutes < b);
  });
}

/** The text of one alert. */
export interface AlertText {
  readonly title: string;
  readonly body: string;
}

/** What a message is about. */
export interface AlertFacts {
  /** `clip`: the follow-up of an alert once its recording is finished (e-mail only). */
  readonly type: 'alert' | 'update' | 'test' | 'clip';
  readonly camera: string;
  readonly kind: AlertKind;
  /** Wall time the event started (the trigger). */
  readonly startedAtMs: number;
  /** Wall time of this message's news. */
  readonly atMs: number;
  readonly peakScore: number | null;
  /** What was seen (a label or detector class, e.g. `person`, `cat`), when the alert knew it. */
  readonly label?: string;
}

/** Title and body of a message: camera, time, duration so far, peak score. ASCII only, so it fits any header. Pure but for the time zone. */
export function alertText(facts: AlertFacts): AlertText {
  const time = clockText(facts.startedAtMs);
  const what = facts.kind === 'motion' ? 'Motion' : facts.kind === 'manual' ? 'Manual recording' : 'Memory saved';
  if (facts.type === 'test') return { title: `Preroll test (${facts.camera})`, body: `Test alert from camera ${facts.camera} at ${time}. This channel works.` };
  const durationS = Math.max(0, Math.round((facts.atMs - facts.startedAtMs) / 1000));
  const peak = facts.peakScore === null ? '' : `, peak score ${formatScore(facts.peakScore)}`;
  // The follow-up keeps the alert's subject behind "Re:" so every mail program threads it with the alert.
  if (facts.type === 'clip') return { title: `Re: ${what}: ${facts.camera}`, body: `The recording of this event on ${facts.camera} (${time}) is finished${peak}.` };
  if (facts.type === 'update') return { title: `Still moving: ${facts.camera}`, body: `${what} on ${facts.camera} since ${time}, ${durationText(durationS)} so far${peak}.` };
  if (facts.kind === 'motion' && facts.label) {
    // The label is a lower-case word from the detector's class list: ASCII, safe in any header.
    const seen = facts.label.charAt(0).toUpperCase() + facts.label.slice(1);
    return { title: `${seen} at ${facts.camera}`, body: `${seen} seen on ${facts.camera} at ${time}${durationS > 0 ? `, ${durationText(durationS)} so far` : ''}${peak}.` };
  }
  return { title: `${what}: ${facts.camera}`, body: `${what} on ${facts.camera} at ${time}${durationS > 0 ? `, ${durationText(durationS)} so far` : ''}${peak}.` };
}

function clockText(atMs: number): string {
  const d = new Date(atMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** `45 s`, `3 min 5 s`, `2 h 4 min`. Pure. */
export function durationText(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function formatScore(score: number): string {
  return score >= 100 ? String(Math.round(score)) : score.toFixed(1);
}
