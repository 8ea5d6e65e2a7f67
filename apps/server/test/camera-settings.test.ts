import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import pino from 'pino';
import { ffprobeJson } from '@preroll/process';
import { startPreroll, type Preroll } from '../src/app';
import { loadConfig } from '../src/config';
import { request, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

/** Starts Preroll from a real configuration file (the one the settings routes save to). */
async function startFromFile(doc: unknown): Promise<Preroll & { url: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'preroll-settings-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(doc));
  const { config, layers } = loadConfig({ file, env: { PREROLL_DATA: join(dir, 'data'), PREROLL_HOST: '127.0.0.1', PREROLL_PORT: '0' } });
  const preroll = await startPreroll({ config, configFile: file, layers, logger: pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' }), password: null, onExit: () => undefined });
  return Object.assign(preroll, { url: `http://127.0.0.1:${preroll.port}`, file });
}

/** Waits until the camera runs (a loaded machine can starve the fake camera into a restart). */
function running(url: string): Promise<unknown> {
  return waitFor(async () => (await request(`${url}/api/status`, 'GET')).body.captureState === 'running', 60_000, 'the camera to run');
}

describe('camera controls (fake rpicam-vid)', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  test('a saved change restarts rpicam-vid with the new argv; the manual clip spans the restart; the file is saved with a backup', async () => {
    const argvFile = join(mkdtempSync(join(tmpdir(), 'preroll-argv-')), 'argv.jsonl');
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, FAKE_RPICAM_ARGV_FILE: argvFile });
    const server = await startFromFile({ camera: { source: 'rpicam:320x240@15', controls: { awb: 'auto' } } });
    try {
      const before = (await request(`${server.url}/api/camera/controls`, 'GET')).body;
      expect(before).toMatchObject({ kind: 'rpicam', controls: { awb: 'auto' }, fps: 15, width: 320, height: 240 });
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 20_000, 'frames');
      expect((await request(`${server.url}/api/record/start`, 'POST')).status).toBe(200);
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.recording, 20_000, 'the recording to start');
      const startedAt = Date.now();
      await new Promise((r) => setTimeout(r, 1500));
      await running(server.url);
      const saved = await request(`${server.url}/api/camera/controls`, 'PUT', { controls: { awb: 'daylight', hflip: true, shutterUs: 10_000, ev: 0.5 }, fps: 12 });
      expect(saved.status).toBe(200);
      expect(saved.body).toMatchObject({ saved: true, restartRequired: [], args: ['--shutter', '10000', '--ev', '0.5', '--awb', 'daylight', '--hflip'] });
      // Under 2 s on an idle machine (see docs/capture.md); a loaded test machine starts the fake camera slower.
      expect(saved.body.gapMs).toBeGreaterThan(0);
      expect(saved.body.gapMs).toBeLessThan(15_000);
      const runs = readFileSync(argvFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
      // The last run has the new arguments; the one before it (the first, unless the loaded machine stalled it) the old.
      expect(runs.length).toBeGreaterThanOrEqual(2);
      expect(runs[runs.length - 1]).toEqual(expect.arrayContaining(['--framerate', '12', '--shutter', '10000', '--ev', '0.5', '--awb', 'daylight', '--hflip']));
      expect(runs[runs.length - 2]).toEqual(expect.arrayContaining(['--framerate', '15', '--awb', 'auto']));
      expect(runs[runs.length - 2]).not.toContain('--hflip');
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status).toMatchObject({ captureState: 'running', recording: true });
      await new Promise((r) => setTimeout(r, 2000));
      const recordedMs = Date.now() - startedAt;
      await request(`${server.url}/api/record/stop`, 'POST');
      const items = await waitFor(async () => {
        const list = (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items;
        return list.length ? list : null;
      }, 90_000, 'the manual clip');
      // One clip, across the restart: it covers the 1.5 s before the change and the 2 s after it.
      expect(items).toHaveLength(1);
      const store = server.runtime.store();
      const doc = await ffprobeJson(join(store.dataDir, store.get(items[0].id)!.files.clip), ['-select_streams', 'v:0', '-show_entries', 'packet=flags,pts_time:format=duration']);
      const packets = doc.packets as { flags: string; pts_time: string }[];
      expect(packets[0].flags.startsWith('K')).toBe(true);
      expect(Number(doc.format.duration)).toBeGreaterThan((recordedMs - 1500) / 1000);
      // The restart's gap is in the clip's timestamps (the capture clock, not a frame counter).
      const times = packets.map((p) => Number(p.pts_time)).sort((a, b) => a - b);
      const gaps = times.slice(1).map((t, i) => t - times[i]);
      expect(Math.max(...gaps)).toBeGreaterThan(0.1);
      // Saved: the file has the controls and the rate; the old one is the backup; mode 0640.
      const written = JSON.parse(readFileSync(server.file, 'utf8'));
      expect(written.camera).toMatchObject({ source: 'rpicam:320x240@15', controls: { awb: 'daylight', hflip: true, shutterUs: 10_000, ev: 0.5 }, fps: 12 });
      expect(JSON.parse(readFileSync(`${server.file}.bak`, 'utf8')).camera.controls).toEqual({ awb: 'auto' });
      expect(statSync(server.file).mode & 0o777).toBe(0o640);
      // The save went through the configuration service: the settings page sees the controls in
      // force (not applied a second time) and, after a new frame size is saved, that it waits
      // for a restart.
      const config = (await request(`${server.url}/api/config`, 'GET')).body;
      expect(config.config.camera.controls).toMatchObject({ awb: 'daylight', hflip: true });
      expect(config.restartRequired).toEqual([]);
      // The clip went on across the restart, and says where the gap is and which keys made it.
      const event = (await request(`${server.url}/api/events/${items[0].id}`, 'GET')).body;
      expect(event.discontinuities).toHaveLength(1);
      expect(event.discontinuities[0]).toMatchObject({ reason: 'camera-restart', ended: false, gapMs: saved.body.gapMs, keys: ['camera.controls.awb', 'camera.controls.ev', 'camera.controls.hflip', 'camera.controls.shutterUs', 'camera.fps'] });
      expect(event.discontinuities[0].atMs).toBeGreaterThan(0);
      expect(event.discontinuities[0].atMs).toBeLessThan(Number(doc.format.duration) * 1000);
      const sidecar = (await request(`${server.url}/api/events/${items[0].id}/sidecar`, 'GET')).body;
      expect(sidecar.discontinuities).toEqual(event.discontinuities);
    } finally {
      await server.stop();
    }
  }, 120_000);

  test('a new frame size restarts only the source: the clip and segment being written end marked, no clip mixes sizes, the next has the new size', async () => {
    const argvFile = join(mkdtempSync(join(tmpdir(), 'preroll-argv-')), 'argv.jsonl');
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, FAKE_RPICAM_ARGV_FILE: argvFile });
    const server = await startFromFile({ camera: { source: 'rpicam:320x240@15' }, recording: { continuous: { enabled: true, segmentS: 300 } } });
    try {
      await running(server.url);
      expect((await request(`${server.url}/api/record/start`, 'POST')).status).toBe(200);
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.recording, 20_000, 'the recording to start');
      await new Promise((r) => setTimeout(r, 1500));
      await running(server.url);
      const resized = await request(`${server.url}/api/camera/controls`, 'PUT', { controls: {}, width: 640, height: 480 });
      expect(resized.status).toBe(200);
      expect(resized.body).toMatchObject({ saved: true, restartRequired: [], applied: ['camera.source'], width: 640, height: 480 });
      // Saved where the size lives: the source spec names it (and wins over camera.width).
      expect(JSON.parse(readFileSync(server.file, 'utf8')).camera.source).toBe('rpicam:640x480@15');
      const runs = readFileSync(argvFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
      expect(runs[0]).toEqual(expect.arrayContaining(['--width', '320', '--height', '240']));
      expect(runs[runs.length - 1]).toEqual(expect.arrayContaining(['--width', '640', '--height', '480', '--framerate', '15']));
      await running(server.url);
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      // The manual recording goes on in a new clip at the new size.
      expect(status).toMatchObject({ width: 640, height: 480, recording: true, manualRecording: true });
      await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 20_000, 'frames at the new size');
      await new Promise((r) => setTimeout(r, 2000));
      await request(`${server.url}/api/record/stop`, 'POST');
      const clips = await waitFor(async () => {
        const list = (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items as { id: string; width: number }[];
        return list.length >= 2 ? list : null;
      }, 90_000, 'both manual clips');
      expect(clips).toHaveLength(2);
      const [before, after] = [...clips].sort((a, b) => a.width - b.width);
      const store = server.runtime.store();
      const sizesOf = async (id: string): Promise<string[]> => {
        const doc = await ffprobeJson(join(store.dataDir, store.get(id)!.files.clip), ['-select_streams', 'v:0', '-show_entries', 'frame=width,height']);
        return (doc.frames as { width: number; height: number }[]).map((f) => `${f.width}x${f.height}`);
      };
      // Every frame decodes, and every frame of a clip has one size.
      const first = await sizesOf(before.id);
      const second = await sizesOf(after.id);
      expect(first.length).toBe(store.get(before.id)!.frames);
      expect(new Set(first)).toEqual(new Set(['320x240']));
      expect(second.length).toBe(store.get(after.id)!.frames);
      expect(new Set(second)).toEqual(new Set(['640x480']));
      const cut = (await request(`${server.url}/api/events/${before.id}`, 'GET')).body;
      expect(cut.discontinuities).toEqual([{ atMs: expect.any(Number), reason: 'camera-restart', keys: ['camera.source'], gapMs: null, ended: true }]);
      // The break is at the clip's last frame.
      expect(cut.discontinuities[0].atMs).toBeGreaterThan(cut.durationS * 1000 - 500);
      expect((await request(`${server.url}/api/events/${after.id}`, 'GET')).body.discontinuities).toEqual([]);
      // The continuous segment being written ended at the change too, and says so.
      const segments = await waitFor(async () => {
        const list = (await request(`${server.url}/api/events?kind=segment`, 'GET')).body.items as { id: string; width: number; discontinuities: unknown[] }[];
        return list.some((s) => s.width === 320) ? list : null;
      }, 60_000, 'the first continuous segment');
      const oldSegments = segments.filter((s) => s.width === 320);
      expect(oldSegments).toHaveLength(1);
      expect(oldSegments[0].discontinuities).toEqual([{ atMs: expect.any(Number), reason: 'camera-restart', keys: ['camera.source'], gapMs: null, ended: true }]);
      // The restart started no event: the detector of the new size learned its noise first.
      expect((await request(`${server.url}/api/events?kind=motion`, 'GET')).body.items).toHaveLength(0);
    } finally {
      await server.stop();
    }
  }, 150_000);

  test('preview applies without saving and cancel reverts; bad values are refused with the key named', async () => {
    const argvFile = join(mkdtempSync(join(tmpdir(), 'preroll-argv-')), 'argv.jsonl');
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, FAKE_RPICAM_ARGV_FILE: argvFile });
    const server = await startFromFile({ camera: { source: 'rpicam:320x240@15' } });
    try {
      const original = readFileSync(server.file, 'utf8');
      await running(server.url);
      const preview = await request(`${server.url}/api/camera/controls/preview`, 'POST', { controls: { vflip: true, saturation: 0 } });
      expect(preview.status).toBe(200);
      expect(preview.body.args).toEqual(['--saturation', '0', '--vflip']);
      expect((await request(`${server.url}/api/camera/controls`, 'GET')).body).toMatchObject({ controls: { vflip: true, saturation: 0 }, preview: true });
      expect((await request(`${server.url}/api/camera/controls/cancel`, 'POST')).status).toBe(200);
      expect((await request(`${server.url}/api/camera/controls`, 'GET')).body).toMatchObject({ controls: {}, preview: false });
      const bad = await request(`${server.url}/api/camera/controls/preview`, 'POST', { controls: { ev: 99 } });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('HTTP_BAD_INPUT');
      expect(bad.body.message).toContain('controls.ev');
      await running(server.url);
      const focus = await request(`${server.url}/api/camera/focus`, 'POST');
      expect(focus.status).toBe(200);
      expect(focus.body.args).toEqual(['--autofocus-mode', 'auto']);
      const runs = readFileSync(argvFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]);
      // Preview, cancel, focus: the preview's argv ran once, and neither cancel nor focus kept it.
      expect(runs.filter((argv) => argv.includes('--vflip'))).toHaveLength(1);
      expect(runs[runs.length - 1]).toEqual(expect.arrayContaining(['--autofocus-mode', 'auto']));
      expect(runs[runs.length - 1]).not.toContain('--vflip');
      expect(runs[runs.length - 2]).not.toContain('--vflip');
      expect(readFileSync(server.file, 'utf8')).toBe(original);
    } finally {
      await server.stop();
    }
  }, 120_000);
});

describe('v4l2 controls through the API (a fake v4l2-ctl on PATH records its argv)', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  test('lists the device controls, previews and cancels live, saves to camera.v4l2Controls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-v4l2-api-'));
    const argvFile = join(dir, 'argv.jsonl');
    const list = 'User Controls\n\n                     brightness 0x00980900 (int)    : min=-64 max=64 step=1 default=0 value=10\n';
    writeFileSync(
      join(dir, 'v4l2-ctl'),
      `#!/usr/bin/env node\nconst args = process.argv.slice(2);\nrequire('node:fs').appendFileSync(${JSON.stringify(argvFile)}, JSON.stringify(args) + '\\n');\nif (args.includes('--list-ctrls-menus')) process.stdout.write(${JSON.stringify(list)});\n`,
      { mode: 0o755 },
    );
    process.env.PATH = `${dir}${delimiter}${savedEnv.PATH}`;
    // No USB camera here: /dev/null exists, so the server starts and keeps retrying the capture.
    const server = await startFromFile({ camera: { source: 'v4l2:/dev/null' } });
    try {
      const info = (await request(`${server.url}/api/camera/controls`, 'GET')).body;
      expect(info).toMatchObject({ kind: 'v4l2', device: '/dev/null', controls: [{ name: 'brightness', type: 'int', min: -64, max: 64, value: 10 }] });
      expect((await request(`${server.url}/api/camera/controls/preview`, 'POST', { values: { brightness: -5 } })).status).toBe(200);
      expect((await request(`${server.url}/api/camera/controls/cancel`, 'POST')).status).toBe(200);
      const bad = await request(`${server.url}/api/camera/controls/preview`, 'POST', { values: { brightness: 100 } });
      expect(bad.status).toBe(400);
      expect(bad.body.code).toBe('CAPTURE_BAD_CONTROL');
      expect((await request(`${server.url}/api/camera/controls`, 'PUT', { values: { brightness: 20 } })).status).toBe(200);
      expect(JSON.parse(readFileSync(server.file, 'utf8')).camera.v4l2Controls).toEqual({ brightness: 20 });
      const sets = readFileSync(argvFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as string[]).filter((argv) => argv.some((a) => a.startsWith('--set-ctrl')));
      // Preview, the cancel putting back the value read before it, the save.
      expect(sets).toEqual([
        ['-d', '/dev/null', '--set-ctrl=brightness=-5'],
        ['-d', '/dev/null', '--set-ctrl=brightness=10'],
        ['-d', '/dev/null', '--set-ctrl=brightness=20'],
      ]);
    } finally {
      await server.stop();
    }
  }, 90_000);
});

describe('mask editor routes (demo source)', () => {
  const exclude = { kind: 'exclude', points: [[0, 0.3], [1, 0.3], [1, 0.9], [0, 0.9]] };

  test('preview applies a polygon for a bounded lease and reverts; save writes it to the file and keeps it', async () => {
    const server = await startFromFile({ camera: { source: 'demo', width: 320, height: 180 } });
    try {
      const preview = await request(`${server.url}/api/mask/preview`, 'POST', { polygons: [exclude], leaseMs: 1500 });
      expect(preview.status).toBe(200);
      expect(server.runtime.detectorMask()?.polygons).toHaveLength(1);
      expect((await request(`${server.url}/api/mask`, 'GET')).body).toMatchObject({ polygons: [exclude], saved: { polygons: [] } });
      // Not renewed (the page went away): it reverts by itself.
      await waitFor(async () => (await request(`${server.url}/api/mask`, 'GET')).body.preview === null, 15_000, 'the lease to run out');
      expect(server.runtime.detectorMask()?.polygons ?? []).toHaveLength(0);
      await request(`${server.url}/api/mask/preview`, 'POST', { polygons: [exclude] });
      expect((await request(`${server.url}/api/mask/preview`, 'DELETE')).status).toBe(200);
      expect(server.runtime.detectorMask()?.polygons ?? []).toHaveLength(0);
      const all = { kind: 'exclude', points: [[0, 0], [1, 0], [1, 1], [0, 1]] };
      const refused = await request(`${server.url}/api/mask`, 'PUT', { polygons: [all] });
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('DETECTOR_BAD_MASK');
      const badPoint = await request(`${server.url}/api/mask`, 'PUT', { polygons: [{ kind: 'exclude', points: [[0, 0], [2, 0], [1, 1]] }] });
      expect(badPoint.status).toBe(400);
      expect(JSON.parse(readFileSync(server.file, 'utf8')).detector).toBeUndefined();
      const saved = await request(`${server.url}/api/mask`, 'PUT', { polygons: [exclude] });
      expect(saved.status).toBe(200);
      expect(JSON.parse(readFileSync(server.file, 'utf8')).detector.mask).toEqual({ rects: [], polygons: [exclude] });
      expect(server.runtime.detectorMask()?.polygons).toEqual([exclude]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('without a configuration file, saving is refused and nothing changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-nofile-'));
    const { config } = loadConfig({ env: { PREROLL_DATA: dir, PREROLL_HOST: '127.0.0.1', PREROLL_PORT: '0', PREROLL_SOURCE: 'demo' } });
    const server = await startPreroll({ config, logger: pino({ level: 'silent' }), password: null, onExit: () => undefined });
    try {
      const url = `http://127.0.0.1:${server.port}`;
      const saved = await request(`${url}/api/mask`, 'PUT', { polygons: [exclude] });
      expect(saved.status).toBe(409);
      expect(saved.body.code).toBe('CONFIG_NO_FILE');
      expect(server.runtime.detectorMask()?.polygons ?? []).toHaveLength(0);
      expect((await request(`${url}/api/camera/controls`, 'GET')).body).toMatchObject({ kind: 'none', controls: null });
    } finally {
      await server.stop();
    }
  }, 60_000);
});
