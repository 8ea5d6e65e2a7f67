/**
 * Alert rules by label: the pure decision (table tests), then the notifier waiting for an
 * event's early labels against a local ntfy stand-in, counted exactly.
 */

import { promises as fsp } from 'node:fs';
import { startStandIn, type StandIn } from '@preroll/testkit';
import { alertText, createNotifier, decideAlert, eventSummary, matchLabels, notifyConfigSchema, resolveNotify, type AlertInput, type AlertLabel, type Notifier } from '../src';
import { makeRecord, tempDir, waitFor } from './helpers';

const person = { label: 'person', subLabel: 'person', confidence: 0.8 } as const satisfies AlertLabel;
const cat = { label: 'animal', subLabel: 'cat', confidence: 0.7 } as const satisfies AlertLabel;
const weakDog = { label: 'animal', subLabel: 'dog', confidence: 0.45 } as const satisfies AlertLabel;

describe('matchLabels', () => {
  const rules = (labels: string[], exceptLabels: string[] = [], minLabelConfidence = 0) => ({ labels, exceptLabels, minLabelConfidence });
  test.each([
    ['person rule, person seen', rules(['person']), [person], true, 'person'],
    ['person rule, motion only', rules(['person']), [], false, null],
    ['person rule, a cat', rules(['person']), [cat], false, null],
    ['animal rule matches a cat by its class, titled by the class', rules(['animal']), [cat], true, 'animal'],
    ['cat rule matches by the detector class', rules(['cat']), [person, cat], true, 'cat'],
    ['animals except the cat: the cat alone', rules(['animal'], ['cat']), [cat], false, null],
    ['animals except the cat: a dog too', rules(['animal'], ['cat']), [cat, weakDog], true, 'animal'],
    ['no labels rule, except cat: motion only alerts', rules([], ['cat']), [], true, null],
    ['no labels rule, except cat: only the cat', rules([], ['cat']), [cat], false, null],
    ['no labels rule, except cat: a person and the cat', rules([], ['cat']), [cat, person], true, 'person'],
    ['below the minimum confidence a label does not count', rules(['animal'], [], 0.5), [weakDog], false, null],
  ] as const)('%s', (_name, r, labels, match, label) => {
    expect(matchLabels(r, labels)).toEqual({ match, label });
  });
});

describe('decideAlert with label rules', () => {
  const rules = notifyConfigSchema.parse({ ntfy: { topic: 't', labels: ['person'], modes: ['away'] } }).ntfy!;
  const base: AlertInput = {
    phase: 'start',
    camera: 'door',
    kind: 'motion',
    atMs: 1_000_000,
    peakScore: 50,
    eventAlerted: false,
    visit: null,
    arming: { mode: 'away', pausedBy: null },
    localMinutes: 600,
  };
  test('pending waits; known decides; unknown follows unknownLabels; other kinds are not filtered', () => {
    expect(decideAlert(rules, { ...base, labels: { state: 'pending' } })).toEqual({ send: null, skip: 'waiting-labels' });
    expect(decideAlert(rules, { ...base, labels: { state: 'known', labels: [person] } })).toEqual({ send: 'alert', label: 'person' });
    expect(decideAlert(rules, { ...base, labels: { state: 'known', labels: [] } })).toEqual({ send: null, skip: 'label' });
    expect(decideAlert(rules, { ...base, labels: { state: 'unknown' } })).toEqual({ send: 'alert' });
    expect(decideAlert({ ...rules, unknownLabels: 'skip' }, { ...base, labels: { state: 'unknown' } })).toEqual({ send: null, skip: 'label' });
    expect(decideAlert({ ...rules, kinds: ['motion', 'manual'] }, { ...base, kind: 'manual', peakScore: null, labels: { state: 'pending' } })).toEqual({ send: 'alert' });
    // What is known at once keeps the event silent without waiting: arming off is not "waiting".
    expect(decideAlert(rules, { ...base, arming: { mode: 'home', pausedBy: null }, labels: { state: 'pending' } })).toEqual({ send: null, skip: 'mode' });
  });
  test('a channel without label rules never waits, and names what was seen when it is known', () => {
    const plain = notifyConfigSchema.parse({ ntfy: { topic: 't' } }).ntfy!;
    expect(decideAlert(plain, { ...base, labels: { state: 'pending' } })).toEqual({ send: 'alert' });
    expect(decideAlert(plain, { ...base, labels: { state: 'known', labels: [cat] } })).toEqual({ send: 'alert', label: 'cat' });
  });
  test('the rule keys are validated and bounded', () => {
    expect(() => notifyConfigSchema.parse({ ntfy: { topic: 't', labels: ['Person'] } })).toThrow(/lower case/);
    expect(() => notifyConfigSchema.parse({ ntfy: { topic: 't', labelWaitMs: 60_000 } })).toThrow();
    expect(() => notifyConfigSchema.parse({ ntfy: { topic: 't', minLabelConfidence: 1.5 } })).toThrow();
    expect(() => notifyConfigSchema.parse({ ntfy: { topic: 't', unknownLabels: 'maybe' } })).toThrow();
    expect(notifyConfigSchema.parse({ ntfy: { topic: 't' } }).ntfy).toMatchObject({ labels: [], exceptLabels: [], minLabelConfidence: 0, labelWaitMs: 8000, unknownLabels: 'alert' });
  });
  test('the text says what was seen', () => {
    const text = alertText({ type: 'alert', camera: 'front-door', kind: 'motion', startedAtMs: 1_000_000, atMs: 1_002_000, peakScore: 50, label: 'person' });
    expect(text.title).toBe('Person at front-door');
    expect(text.body).toMatch(/^Person seen on front-door at .*, 2 s so far, peak score 50\.0\.$/);
    expect(alertText({ type: 'alert', camera: 'cam', kind: 'motion', startedAtMs: 0, atMs: 0, peakScore: null }).title).toBe('Motion: cam');
  });
  test('the event summary carries the labels, or null when unknown', () => {
    expect(eventSummary(makeRecord({})).labels).toBeNull();
    expect(eventSummary(makeRecord({}), { labels: [{ ...person, box: [1, 2, 3, 4] }] }).labels).toEqual([{ ...person, box: [1, 2, 3, 4] }]);
    const own = [{ ...cat, box: [0, 0, 5, 5] as const }];
    expect(eventSummary(makeRecord({ labels: own }), { type: 'recording.labelled', labels: null })).toMatchObject({ type: 'recording.labelled', labels: own });
  });
});

describe('the notifier waits for the early labels', () => {
  let dir: string;
  let http: StandIn;
  let notifier: Notifier | null = null;
  beforeEach(async () => {
    dir = await tempDir('preroll-label-rules-');
    http = await startStandIn();
  });
  afterEach(async () => {
    await notifier?.stop();
    notifier = null;
    await http.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const start = async (ntfy: Record<string, unknown>): Promise<Notifier> => {
    const config = resolveNotify({ ntfy: { serverUrl: http.url, topic: 'labels', cooldownS: 0, updateIntervalS: 0, ...ntfy } });
    if (!config) throw new Error('no channel');
    notifier = createNotifier({ config, dataDir: dir, arming: () => ({ mode: 'away', pausedBy: null }) });
    await notifier.start();
    return notifier;
  };

  test('a person event alerts once when its labels come, titled by the label; a "motion only" event does not', async () => {
    const n = await start({ labels: ['person'], labelWaitMs: 20_000 });
    const t0 = Date.now();
    n.eventStarted({ camera: 'door', kind: 'motion', atMs: t0, score: 40, snapshot: null, awaitLabels: true });
    n.eventProgress('door', t0 + 1000, 60, async () => null);
    // Nothing goes out while the labels are awaited.
    expect(http.received).toHaveLength(0);
    n.eventLabels('door', t0, [person, cat]);
    n.eventEnded('door', t0 + 3000);
    n.eventStarted({ camera: 'door', kind: 'motion', atMs: t0 + 5000, score: 40, snapshot: null, awaitLabels: true });
    n.eventLabels('door', t0 + 5000, []);
    // Labels of an unknown event (or given twice) change nothing.
    n.eventLabels('door', t0 + 5000, [person]);
    n.eventLabels('door', t0 + 99_000, [person]);
    await n.idle();
    expect(http.received).toHaveLength(1);
    expect(http.received[0].headers['x-title']).toBe('Person at door');
    const stats = n.stats().channels[0];
    expect([stats.alerts, stats.skipped.label]).toEqual([1, 1]);
  });

  test('labels that do not come in time: unknownLabels decides (alert or skip), once', async () => {
    const n = await start({ labels: ['person'], labelWaitMs: 300 });
    const t0 = Date.now();
    n.eventStarted({ camera: 'door', kind: 'motion', atMs: t0, score: 40, snapshot: null, awaitLabels: true });
    await waitFor(() => http.received.length === 1, 'the alert after the wait', 20_000);
    // Labels arriving after the wait send nothing more.
    n.eventLabels('door', t0, [person]);
    await n.idle();
    expect(http.received).toHaveLength(1);
    expect(http.received[0].headers['x-title']).toBe('Motion: door');
    await n.stop();

    const skipping = await start({ labels: ['person'], labelWaitMs: 300, unknownLabels: 'skip' });
    skipping.eventStarted({ camera: 'door', kind: 'motion', atMs: Date.now(), score: 40, snapshot: null, awaitLabels: true });
    // Without early labels coming at all (labels off), nothing waits: the policy decides at once.
    skipping.eventStarted({ camera: 'yard', kind: 'motion', atMs: Date.now(), score: 40, snapshot: null });
    await waitFor(() => skipping.stats().channels[0].skipped.label === 2, 'both skipped', 20_000);
    await skipping.idle();
    expect(http.received).toHaveLength(1);
  });
});
