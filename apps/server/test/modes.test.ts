import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ffprobeJson } from '@preroll/process';
import { buildGpiomonArgs, createGpioButton, debounceEdge, parseGpiomonLine, parseGpiomonVersion, type DebounceState } from '../src/runtime/gpio';
import { IDLE, nextMemoryState, type MemoryInput, type MemoryRules, type MemoryState } from '../src/runtime/memory-button';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FPS = 10;
const CAMERA = { source: 'demo', width: 320, height: 240, fps: FPS };

/** Packet timestamps (µs, from 0) and keyframe flags of a clip, from ffprobe. */
async function packets(file: string): Promise<Array<{ ptsUs: number; key: boolean }>> {
  const doc = await ffprobeJson(file, ['-select_streams', 'v:0', '-show_entries', 'packet=pts_time,flags']);
  return (doc.packets as Array<{ pts_time: string; flags: string }>).map((p) => ({ ptsUs: Math.round(Number(p.pts_time) * 1e6), key: p.flags.startsWith('K') }));
}

async function formatDurationS(file: string): Promise<number> {
  const doc = await ffprobeJson(file, ['-show_entries', 'format=duration']);
  return Number(doc.format.duration);
}

async function events(url: string, kind: string): Promise<any[]> {
  return (await request(`${url}/api/events?kind=${kind}&limit=500`, 'GET')).body.items;
}

async function sidecarOf(url: string, event: { urls: { sidecar: string } }): Promise<any> {
  return (await request(`${url}${event.urls.sidecar}`, 'GET')).body;
}

describe('memory button logic (pure, fake clock)', () => {
  const rules: MemoryRules = { defaultMs: 180_000, stepMs: 180_000, holdStepMs: 3000, windowMs: 5000, maxMs: 3_600_000 };
  /** Runs inputs in order; returns every save and the last state. */
  const play = (inputs: MemoryInput[], r = rules): { saves: Array<{ firstAtMs: number; lookbackMs: number }>; state: MemoryState; started: number } => {
    let state: MemoryState = IDLE;
    const saves: Array<{ firstAtMs: number; lookbackMs: number }> = [];
    let started = 0;
    for (const input of inputs) {
      const step = nextMemoryState(state, input, r);
      state = step.state;
      if (step.save) saves.push(step.save);
      if (step.started) started++;
    }
    return { saves, state, started };
  };
  const press = (atMs: number, extra: Partial<{ addMs: number; hold: boolean }> = {}): MemoryInput => ({ type: 'press', atMs, ...extra });
  const tick = (atMs: number): MemoryInput => ({ type: 'tick', atMs });
  const release = (atMs: number): MemoryInput => ({ type: 'release', atMs });

  test.each<[string, MemoryInput[], Array<{ firstAtMs: number; lookbackMs: number }>]>([
    ['one press saves 3 min once the window has passed', [press(1000), tick(5999), tick(6000)], [{ firstAtMs: 1000, lookbackMs: 180_000 }]],
    ['a tick before the window ends saves nothing', [press(1000), tick(5000)], []],
    ['a second press within the window adds 3 min and restarts the window', [press(1000), press(4000), tick(8999), tick(9000)], [{ firstAtMs: 1000, lookbackMs: 360_000 }]],
    ['three presses: 9 min, ending at the first press', [press(0), press(1000), press(2000), tick(7000)], [{ firstAtMs: 0, lookbackMs: 540_000 }]],
    ['a press after the save starts a new memory', [press(0), tick(5000), press(6000), tick(11_000)], [{ firstAtMs: 0, lookbackMs: 180_000 }, { firstAtMs: 6000, lookbackMs: 180_000 }]],
    ['an API press asks for its own amount', [press(0, { addMs: 60_000 }), press(100, { addMs: 30_000 }), tick(5100)], [{ firstAtMs: 0, lookbackMs: 90_000 }]],
    ['held 3 s: 6 min; saved 5 s after the release', [press(0, { hold: true }), tick(3000), release(3500), tick(8499), tick(8500)], [{ firstAtMs: 0, lookbackMs: 360_000 }]],
    ['held 9.5 s: 3 + 3 x 3 = 12 min (steps counted at the release even without ticks)', [press(0, { hold: true }), release(9500), tick(14_500)], [{ firstAtMs: 0, lookbackMs: 720_000 }]],
    ['held: nothing is saved while the button is down', [press(0, { hold: true }), tick(3000), tick(6000), tick(30_000)], []],
    ['capped at the maximum', [press(0), ...Array.from({ length: 30 }, (_, i) => press(100 + i)), tick(10_000)], [{ firstAtMs: 0, lookbackMs: 3_600_000 }]],
    ['a stuck button saves one step after reaching the maximum', [press(0, { hold: true }), tick(3_600_000)], [{ firstAtMs: 0, lookbackMs: 3_600_000 }]],
    ['a release without a press does nothing', [release(0), tick(10_000)], []],
  ])('%s', (_name, inputs, expected) => {
    expect(play(inputs).saves).toEqual(expected);
  });

  test('the shell is told where to wake up: end of window, or the next hold step', () => {
    const first = nextMemoryState(IDLE, press(1000), rules);
    expect(first).toMatchObject({ started: true, wakeAtMs: 6000, save: null });
    const held = nextMemoryState(IDLE, press(1000, { hold: true }), rules);
    expect(held.wakeAtMs).toBe(4000);
    expect(nextMemoryState(held.state, tick(4000), rules).wakeAtMs).toBe(7000);
  });
});

describe('GPIO button helpers (pure)', () => {
  test('gpiomon command lines for libgpiod 1.x and 2.x', () => {
    const options = { pin: 17, chip: 'gpiochip0', bias: 'pull-up' as const, debounceMs: 50 };
    expect(buildGpiomonArgs(1, options)).toEqual(['--bias=pull-up', '--line-buffered', '--format=%e', 'gpiochip0', '17']);
    expect(buildGpiomonArgs(2, options)).toEqual(['--bias=pull-up', '--chip', 'gpiochip0', '--debounce-period', '50ms', '--format=%e', '17']);
    expect(buildGpiomonArgs(2, { ...options, debounceMs: 0 })).toEqual(['--bias=pull-up', '--chip', 'gpiochip0', '--format=%e', '17']);
  });

  test.each([
    ['gpiomon (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski', 1],
    ['gpiomon (libgpiod) v2.1.3', 2],
    ['something else', null],
  ])('version of %j', (text, major) => {
    expect(parseGpiomonVersion(text)).toBe(major);
  });

  test.each([
    ['1', 'rising'],
    ['0', 'falling'],
    ['2', 'falling'],
    [' 1 \r', 'rising'],
    ['event:  RISING EDGE offset: 17', null],
    ['', null],
  ])('line %j is %s', (line, edge) => {
    expect(parseGpiomonLine(line)).toBe(edge);
  });

  test.each<[string, DebounceState, 'rising' | 'falling', number, 'press' | 'release' | null]>([
    ['falling edge with a pull-up is a press', { pressed: false, lastEdgeMs: 0 }, 'falling', 1000, 'press'],
    ['rising edge releases', { pressed: true, lastEdgeMs: 0 }, 'rising', 1000, 'release'],
    ['a bounce within 50 ms is ignored', { pressed: true, lastEdgeMs: 1000 }, 'rising', 1030, null],
    ['a repeated press edge is ignored', { pressed: true, lastEdgeMs: 0 }, 'falling', 1000, null],
  ])('%s', (_name, state, edge, atMs, change) => {
    expect(debounceEdge(state, edge, atMs, 50, true).change).toBe(change);
  });

  test('active-high wiring swaps the edges', () => {
    expect(debounceEdge({ pressed: false, lastEdgeMs: 0 }, 'rising', 1000, 50, false).change).toBe('press');
  });

  test('the real gpiomon without a GPIO chip: reported and restarted, nothing thrown', async () => {
    if (!existsSync('/usr/bin/gpiomon')) return; // the Debian package "gpiod" is not installed here
    const button = createGpioButton({ pin: 17, chip: 'gpiochip0', bias: 'pull-up', activeLow: true, debounceMs: 50, command: '/usr/bin/gpiomon', onPress: () => undefined, onRelease: () => undefined });
    await button.start();
    await waitFor(async () => button.status().state === 'restarting', 5000, 'gpiomon to fail');
    expect(button.status().lastError).toMatch(/gpiomon exited/);
    await button.stop();
    expect(button.status().state).toBe('off');
  });
});

describe('continuous recording and memories on a real server (demo camera)', () => {
  test('segments continue each other frame for frame; a memory joins them; the switch persists; without video sources memories are refused', async () => {
    const dataDir = tempDataDir();
    const config = {
      server: { dataDir, host: '127.0.0.1', port: 0 },
      camera: CAMERA,
      recording: { continuous: { enabled: true, segmentS: 2 }, lookback: { maxBytes: 0 }, memory: { windowS: 5 } },
    };
    let server = await startTestServer(config);
    try {
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.continuous).toMatchObject({ enabled: true, segmentS: 2 });
      expect(status.memory.available).toBe(true);
      const segments = await waitFor(async () => {
        const items = await events(server.url, 'segment');
        return items.length >= 3 ? items : null;
      }, 15_000, 'three continuous segments');

      // Oldest first. Each ends one frame interval before the next begins: no frame lost or repeated.
      const ordered = [...segments].sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      const probed = [];
      for (const segment of ordered) {
        const sidecar = await sidecarOf(server.url, segment);
        expect(sidecar.files.clip).toMatch(new RegExp(`^events/${segment.day}/`));
        const file = join(dataDir, sidecar.files.clip);
        const list = await packets(file);
        expect(list[0]).toEqual({ ptsUs: 0, key: true });
        probed.push({ startMs: Date.parse(segment.startedAt), list });
      }
      const intervals = probed.flatMap(({ list }) => list.slice(1).map((p, i) => p.ptsUs - list[i].ptsUs));
      const frameUs = 1e6 / FPS;
      for (let k = 0; k + 1 < probed.length; k++) {
        const lastUs = probed[k].list[probed[k].list.length - 1].ptsUs;
        const boundaryUs = (probed[k + 1].startMs - probed[k].startMs) * 1000 - lastUs;
        // The step across the boundary is one ordinary frame interval (start times are ms-rounded).
        expect(Math.abs(boundaryUs - frameUs)).toBeLessThanOrEqual(1500);
        expect(Math.min(...intervals)).toBeGreaterThan(frameUs - 1500);
      }

      // A memory of 2 + 2 s (two presses within the window) from the continuous segments.
      const first = await request(`${server.url}/api/memories`, 'POST', { seconds: 2 });
      expect(first.status).toBe(202);
      expect(first.body.lookbackS).toBe(2);
      const second = await request(`${server.url}/api/memories`, 'POST', { seconds: 2 });
      expect(second.body).toMatchObject({ lookbackS: 4, since: first.body.since });
      const memory = (await waitFor(async () => (await events(server.url, 'memory'))[0], 90_000, 'the memory'));
      expect(memory.favorite).toBe(true);
      const sidecar = await sidecarOf(server.url, memory);
      expect(sidecar.files.clip).toMatch(/\/\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}-MEMORY\.mp4$/);
      const file = join(dataDir, sidecar.files.clip);
      expect((await packets(file))[0].key).toBe(true);
      const duration = await formatDurationS(file);
      // Within one GOP (1 s at the demo's rate) of what was asked, plus the last frame's display time.
      expect(duration).toBeGreaterThanOrEqual(4);
      expect(duration).toBeLessThanOrEqual(4 + 1 + 0.1 + 0.01);
      // The trigger is the newest frame at the press: behind the press by the encoder's latency,
      // which a loaded machine stretches to seconds.
      expect(Date.parse(sidecar.triggeredAt)).toBeGreaterThanOrEqual(Date.parse(first.body.since) - 5000);

      // Both kinds of body are checked.
      expect((await request(`${server.url}/api/memories`, 'POST', { minutes: 1, seconds: 2 })).status).toBe(400);
      expect((await request(`${server.url}/api/memories`, 'POST', { minutes: -1 })).status).toBe(400);
      expect((await request(`${server.url}/api/memories`, 'POST', { minutes: 'three' })).status).toBe(400);

      // Switched off: no look-back either, so memories are refused; the choice survives a restart.
      expect((await request(`${server.url}/api/continuous`, 'POST', { enabled: false })).body).toEqual({ continuousEnabled: false });
      const refused = await request(`${server.url}/api/memories`, 'POST', { minutes: 1 });
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('MEMORY_UNAVAILABLE');
      expect(JSON.parse(readFileSync(join(dataDir, 'settings.json'), 'utf8')).continuousEnabled).toBe(false);
      await server.stop();
      server = await startTestServer(config);
      expect((await request(`${server.url}/api/status`, 'GET')).body.continuous.enabled).toBe(false);

      // The timeline of the day has the segments and the memory.
      const timeline = (await request(`${server.url}/api/timeline?day=${memory.day}`, 'GET')).body;
      expect(timeline.segments.length).toBeGreaterThanOrEqual(3);
      expect(timeline.events.map((e: { id: string }) => e.id)).toContain(memory.id);
      expect((await request(`${server.url}/api/timeline?day=yesterday`, 'GET')).status).toBe(400);
    } finally {
      await server.stop();
    }
  }, 240_000);

  test('the hidden look-back stays under its cap; a memory from it; a photo at full resolution with a thumbnail', async () => {
    const dataDir = tempDataDir();
    const capBytes = 1_500_000;
    const server = await startTestServer({
      server: { dataDir, host: '127.0.0.1', port: 0 },
      camera: CAMERA,
      recording: { lookback: { enabled: true, maxBytes: capBytes, segmentS: 1 }, memory: { defaultMinutes: 0.05, windowS: 0.5 } },
    });
    try {
      const lookbackDir = join(dataDir, '.lookback');
      const onDisk = (): number => readdirSync(lookbackDir).reduce((sum, name) => sum + statSync(join(lookbackDir, name)).size, 0);
      let peak = 0;
      let status: any;
      await waitFor(async () => {
        peak = Math.max(peak, onDisk());
        status = (await request(`${server.url}/api/status`, 'GET')).body;
        return status.continuous.segmentsWritten > status.memory.lookback.segments + 3 ? status : null;
      }, 20_000, 'look-back segments evicted by the cap');
      expect(status.continuous.enabled).toBe(false);
      expect(status.memory.lookback.maxBytes).toBe(capBytes);
      // More was written than the cap holds, and the folder never went over it.
      expect(status.memory.lookback.segments).toBeLessThan(status.continuous.segmentsWritten);
      expect(peak).toBeLessThanOrEqual(capBytes);
      // Nothing of the look-back is indexed.
      expect(await events(server.url, 'segment')).toEqual([]);

      // The default press (3 s in this configuration) through the API.
      const pressed = await request(`${server.url}/api/memories`, 'POST', {});
      expect(pressed.body.lookbackS).toBeCloseTo(3, 5);
      const memory = await waitFor(async () => (await events(server.url, 'memory'))[0], 15_000, 'the memory');
      const sidecar = await sidecarOf(server.url, memory);
      const duration = await formatDurationS(join(dataDir, sidecar.files.clip));
      expect(duration).toBeGreaterThanOrEqual(3);
      expect(duration).toBeLessThanOrEqual(3 + 1 + 0.11);
      expect(memory.urls.thumbnail).not.toBeNull();

      // A photo: the frame at full size, a thumbnail, kind photo, under its documented name.
      const photo = await request(`${server.url}/api/photo`, 'POST');
      expect(photo.status).toBe(201);
      expect(photo.body).toMatchObject({ kind: 'photo', width: 320, height: 240 });
      const jpeg = Buffer.from(await (await fetch(`${server.url}${photo.body.urls.snapshot}`)).arrayBuffer());
      expect(jpeg.subarray(0, 2).toString('hex')).toBe('ffd8');
      const thumb = await fetch(`${server.url}${photo.body.urls.thumbnail}`);
      expect(thumb.headers.get('content-type')).toMatch(/image\/jpeg/);
      expect(peak).toBeLessThanOrEqual(capBytes);
      expect(onDisk()).toBeLessThanOrEqual(capBytes);
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('a held GPIO button saves a memory through the same path (stand-in gpiomon on PATH)', async () => {
    // The stand-in plays the hardware: a v1 gpiomon that records its argv, then reports the
    // button going down (falling edge, with a bounce) and, 2.3 s later, up.
    const bin = mkdtempSync(join(tmpdir(), 'preroll-gpio-'));
    const argvFile = join(bin, 'argv');
    writeFileSync(
      join(bin, 'gpiomon'),
      [
        '#!/bin/sh',
        'if [ "$1" = "--version" ]; then echo "gpiomon (libgpiod) v1.6.3"; exit 0; fi',
        `echo "$@" > ${argvFile}`,
        'sleep 7; echo 0; echo 1; echo 0; sleep 2.3; echo 1',
        'exec sleep 600',
      ].join('\n'),
    );
    chmodSync(join(bin, 'gpiomon'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    const dataDir = tempDataDir();
    let server: Awaited<ReturnType<typeof startTestServer>> | null = null;
    try {
      server = await startTestServer({
        server: { dataDir, host: '127.0.0.1', port: 0 },
        camera: CAMERA,
        recording: { lookback: { enabled: true, segmentS: 1 }, memory: { defaultMinutes: 0.05, stepMinutes: 0.05, holdStepS: 1, windowS: 0.5 }, gpio: { pin: 17 } },
      });
      const url = server.url;
      expect((await request(`${url}/api/status`, 'GET')).body.gpio).toMatchObject({ pin: 17 });
      const memory = await waitFor(async () => (await events(url, 'memory'))[0], 20_000, 'the memory from the button');
      expect(readFileSync(argvFile, 'utf8').trim()).toBe('--bias=pull-up --line-buffered --format=%e gpiochip0 17');
      const status = (await request(`${url}/api/status`, 'GET')).body;
      expect(status.gpio).toMatchObject({ state: 'running', presses: 1 });
      // Pressed 3 s + held 2 s (two steps of 3 s each) = 9 s asked; 7 s of video existed at the press.
      expect(status.memory.last.askedS).toBeCloseTo(9, 5);
      const sidecar = await sidecarOf(url, memory);
      const duration = await formatDurationS(join(dataDir, sidecar.files.clip));
      expect(duration).toBeGreaterThan(4);
      expect(duration).toBeLessThanOrEqual(9 + 1.1);
      expect(memory.favorite).toBe(true);
    } finally {
      process.env.PATH = savedPath;
      await server?.stop();
    }
  }, 40_000);
});

describe('web page (Chromium)', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  afterAll(async () => {
    await browser.close();
  });

  test('continuous switch and memory button work from the page; segment and memory play; the day has a timeline strip', async () => {
    const server = await startTestServer({
      server: { dataDir: tempDataDir(), host: '127.0.0.1', port: 0 },
      camera: CAMERA,
      recording: { continuous: { segmentS: 2 }, lookback: { maxBytes: 0 }, memory: { defaultMinutes: 0.05, windowS: 0.5 } },
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    try {
      await page.goto(server.url);
      await page.waitForFunction(() => document.getElementById('continuous-toggle')!.textContent === 'Continuous: off', null, { timeout: 10_000 });
      expect(await page.isDisabled('#memory')).toBe(true);
      await page.click('#continuous-toggle');
      await page.waitForFunction(() => document.getElementById('continuous-toggle')!.textContent === 'Continuous: on', null, { timeout: 5000 });
      await waitFor(async () => (await events(server.url, 'segment')).length >= 2, 60_000, 'two segments');
      expect(await page.textContent('#memory')).toBe('Save the last 3 s');
      await page.click('#memory');
      await waitFor(async () => (await events(server.url, 'memory')).length > 0, 90_000, 'the memory');
      await page.waitForFunction(() => /Memory saved/.test(document.getElementById('memory-status')!.textContent ?? ''), null, { timeout: 5000 });

      await page.click('#tab-gallery');
      await page.waitForSelector('.timeline .tl-seg', { timeout: 10_000 });
      await page.waitForSelector('.timeline .tl-ev.memory', { timeout: 10_000 });
      for (const kind of ['memory', 'segment']) {
        await page.selectOption('#filter-kind', kind);
        await page.waitForFunction((k) => [...document.querySelectorAll('.event')].length > 0 && [...document.querySelectorAll('.event-meta span:not(.star)')].every((s) => s.textContent!.startsWith(k)), kind, { timeout: 10_000 });
        await page.click('.event');
        await page.waitForFunction(() => (document.getElementById('event-video') as HTMLVideoElement).readyState === 4, null, { timeout: 15_000 });
        const duration = await page.evaluate(() => (document.getElementById('event-video') as HTMLVideoElement).duration);
        expect(duration).toBeGreaterThan(0.5);
        await page.keyboard.press('Escape');
      }
      expect(errors).toEqual([]);
    } finally {
      await page.close();
      await server.stop();
    }
  }, 240_000);
});
