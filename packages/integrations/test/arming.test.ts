/**
 * Arming: weekly schedules with an injected clock (local time), presence from the neighbour
 * table and a TCP probe on loopback, the mode kept across a restart, and the mode over MQTT with
 * the Home Assistant select entity against a real mosquitto.
 */

import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { armingConfigSchema, createArming, createIntegrations, decideAlert, inDailyRange, inWeeklyRanges, parseNeighbours, probeHost, seenInNeighbours, type ArmingConfig } from '../src';
import { recordingControl, startBroker, subscribe, tempDir, waitFor, type Broker } from './helpers';

const local = (y: number, m: number, d: number, h: number, min = 0): number => new Date(y, m - 1, d, h, min).getTime();
const armingConfig = (value: ArmingConfig) => armingConfigSchema.parse(value);

describe('schedules (local time, injected clock)', () => {
  // Monday 5 January 2026 … Sunday 11 January 2026.
  const workdayNights = armingConfig({ schedules: { alerts: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '22:00', to: '07:00' }] } }).schedules.alerts;

  test.each([
    ['Monday 23:00', local(2026, 1, 5, 23), true],
    ['Tuesday 02:00 (Monday night)', local(2026, 1, 6, 2), true],
    ['Tuesday 07:00 (end, exclusive)', local(2026, 1, 6, 7), false],
    ['Tuesday 12:00', local(2026, 1, 6, 12), false],
    ['Saturday 02:00 (Friday night)', local(2026, 1, 10, 2), true],
    ['Saturday 23:00', local(2026, 1, 10, 23), false],
    ['Monday 02:00 (Sunday night)', local(2026, 1, 5, 2), false],
  ])('alerts 22:00-07:00 on workdays: %s', (_what, at, expected) => {
    expect(inWeeklyRanges(workdayNights, 'cam', at)).toBe(expected);
  });

  test('ranges for other cameras do not apply; no range for a camera means always', () => {
    const ranges = armingConfig({ schedules: { alerts: [{ from: '22:00', to: '23:00', cameras: ['garden'] }] } }).schedules.alerts;
    expect(inWeeklyRanges(ranges, 'garden', local(2026, 1, 6, 12))).toBe(false);
    expect(inWeeklyRanges(ranges, 'door', local(2026, 1, 6, 12))).toBe(true);
  });

  test('daily quiet hours wrap past midnight', () => {
    expect(inDailyRange(23 * 60 + 30, '23:00', '06:00')).toBe(true);
    expect(inDailyRange(5 * 60 + 59, '23:00', '06:00')).toBe(true);
    expect(inDailyRange(6 * 60, '23:00', '06:00')).toBe(false);
    expect(inDailyRange(12 * 60, '08:00', '18:00')).toBe(true);
  });

  test('the gate: outside the alert schedule the rules skip with "schedule"; detection schedule per camera', async () => {
    const dir = await tempDir('preroll-arming-');
    let clock = local(2026, 1, 6, 12);
    const arming = createArming({
      config: armingConfig({ schedules: { alerts: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '22:00', to: '07:00' }], detection: [{ from: '20:00', to: '08:00', cameras: ['garden'] }] } }),
      dataDir: dir,
      now: () => clock,
    });
    try {
      await arming.start();
      expect(arming.gate('cam', clock)).toEqual({ mode: 'away', pausedBy: 'schedule' });
      expect(arming.detectionWanted('garden', clock)).toBe(false);
      expect(arming.detectionWanted('cam', clock)).toBeNull();
      clock = local(2026, 1, 6, 2);
      expect(arming.gate('cam', clock)).toEqual({ mode: 'away', pausedBy: null });
      expect(arming.detectionWanted('garden', clock)).toBe(true);
      const rules = { kinds: ['motion'], cameras: [], minPeakScore: 0, modes: ['away'], cooldownS: 300, updateIntervalS: 600, labels: [], exceptLabels: [] } as never;
      const input = { phase: 'start' as const, camera: 'cam', kind: 'motion' as const, atMs: clock, peakScore: 10, eventAlerted: false, visit: null, localMinutes: 120 };
      expect(decideAlert(rules, { ...input, arming: arming.gate('cam', clock) })).toEqual({ send: 'alert' });
      expect(decideAlert(rules, { ...input, arming: arming.gate('cam', local(2026, 1, 6, 12)) })).toEqual({ send: null, skip: 'schedule' });
      expect(decideAlert(rules, { ...input, arming: { mode: 'off', pausedBy: null } })).toEqual({ send: null, skip: 'mode' });
    } finally {
      await arming.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('presence', () => {
  test('the neighbour table: REACHABLE/DELAY/PROBE count, STALE and FAILED do not; MAC in any case', () => {
    const table = parseNeighbours(
      [
        '192.168.1.20 dev wlan0 lladdr AA:BB:CC:00:00:01 REACHABLE',
        '192.168.1.21 dev wlan0 lladdr aa:bb:cc:00:00:02 STALE',
        '192.168.1.22 dev wlan0  FAILED',
        'fe80::1 dev wlan0 lladdr aa:bb:cc:00:00:03 router DELAY',
      ].join('\n'),
    );
    expect(table).toHaveLength(4);
    expect(seenInNeighbours({ mac: 'aa:bb:cc:00:00:01' }, table)).toBe(true);
    expect(seenInNeighbours({ mac: 'AA:BB:CC:00:00:02' }, table)).toBe(false);
    expect(seenInNeighbours({ ip: '192.168.1.22' }, table)).toBe(false);
    expect(seenInNeighbours({ mac: 'aa:bb:cc:00:00:03' }, table)).toBe(true);
  });

  test('a TCP probe on loopback: a refused port proves the host is there', async () => {
    expect(await probeHost('127.0.0.1', 9, 1000)).toBe(true);
    expect(await probeHost('127.0.0.53', 9, 1000)).toBe(true);
  });

  test('home while a phone is in the neighbour table, away after the grace period; the mode survives a restart', async () => {
    const dir = await tempDir('preroll-presence-');
    let clock = local(2026, 1, 6, 8, 0);
    let table = '10.0.0.5 dev wlan0 lladdr aa:bb:cc:dd:ee:ff REACHABLE\n';
    const config = armingConfig({ presence: { devices: [{ name: 'anna', mac: 'aa:bb:cc:dd:ee:ff' }, { name: 'ben', ip: '127.0.0.1' }], graceS: 600, probePorts: [9] } });
    const make = () => createArming({ config: { ...config, presence: { ...config.presence, devices: [config.presence.devices[0]] } }, dataDir: dir, now: () => clock, neighbours: async () => table });
    let arming = make();
    try {
      await arming.start();
      await arming.checkPresence();
      expect(arming.status()).toMatchObject({ mode: 'away', effective: 'home', presence: [{ name: 'anna', present: true }] });
      table = '';
      clock += 5 * 60_000;
      await arming.checkPresence();
      expect(arming.status().effective).toBe('home');
      clock += 6 * 60_000;
      await arming.checkPresence();
      expect(arming.status().effective).toBe('away');
      expect(arming.status().reason).toBe('away since 08:11: set from the configuration; no phone seen for 11 min 0 s');
      await arming.setMode('off', 'page');
      await arming.stop();
      arming = make();
      await arming.start();
      expect(arming.status()).toMatchObject({ mode: 'off', effective: 'off', source: 'page' });
      expect(JSON.parse(await fsp.readFile(path.join(dir, 'arming.json'), 'utf8')).mode).toBe('off');
    } finally {
      await arming.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('arming over MQTT (real mosquitto)', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    await broker.stop();
  });

  test('the select entity is announced; set/arming switches the mode; the mode and why are published', async () => {
    const dir = await tempDir('preroll-arming-mqtt-');
    const arming = createArming({ config: armingConfig({}), dataDir: dir });
    await arming.start();
    const { control } = recordingControl();
    const it = createIntegrations({
      config: { mqtt: { url: broker.url, reconnectMinMs: 100 } },
      dataDir: dir,
      cameraId: 'cam',
      control: { ...control, setArmingMode: (mode) => void arming.setMode(mode, 'mqtt') },
    });
    const s = await subscribe(broker.url, ['homeassistant/select/#', 'preroll/cam/arming', 'preroll/cam/arming_reason']);
    const detach = arming.onChange(() => it.arming(arming.status().effective, arming.status().reason));
    try {
      it.arming(arming.status().effective, arming.status().reason);
      await it.start();
      await waitFor(() => s.on('homeassistant/select/preroll_cam/arming/config').length === 1, 'select discovery');
      const select = JSON.parse(s.on('homeassistant/select/preroll_cam/arming/config')[0].text) as Record<string, unknown>;
      expect(select).toMatchObject({ command_topic: 'preroll/cam/set/arming', state_topic: 'preroll/cam/arming', options: ['home', 'away', 'off'] });
      await waitFor(() => s.last('preroll/cam/arming')?.text === 'away', 'away published');
      await s.publish('preroll/cam/set/arming', 'Home');
      await waitFor(() => s.last('preroll/cam/arming')?.text === 'home', 'home published');
      expect(arming.status()).toMatchObject({ mode: 'home', source: 'mqtt' });
      expect(s.last('preroll/cam/arming_reason')?.text).toMatch(/^home since \d\d:\d\d: set from MQTT$/);
      await s.publish('preroll/cam/set/arming', 'sometimes');
      await s.publish('preroll/cam/set/arming', 'off');
      await waitFor(() => s.last('preroll/cam/arming')?.text === 'off', 'off published');
      expect(s.on('preroll/cam/arming').map((m) => m.text)).toEqual(['away', 'home', 'off']);
      expect(it.stats().mqtt?.rejectedCommands).toBe(1);
    } finally {
      detach();
      await s.close();
      await it.stop();
      await arming.stop();
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
