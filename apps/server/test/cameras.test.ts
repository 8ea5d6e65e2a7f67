import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { DEFAULT_DETECTOR_CONFIG } from '@preroll/detector';
import { parseConfig } from '../src/config';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

describe('several cameras in one server', () => {
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
  });

  test('each camera has its own source, controls, settings, stream and recordings; one shared gallery', async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    const dataDir = tempDataDir();
    const server = await startTestServer({
      server: { dataDir, host: '127.0.0.1', port: 0 },
      cameras: [
        { id: 'yard', source: 'demo', width: 320, height: 180 },
        { id: 'door', source: 'rpicam:320x240@15', detector: { triggerLevel: 30 } },
      ],
    });
    try {
      const cameras = await waitFor(async () => {
        const list = (await request(`${server.url}/api/cameras`, 'GET')).body.cameras;
        return list.every((c: { fps: number }) => c.fps > 0) ? list : null;
      }, 15_000, 'both cameras');
      expect(cameras.map((c: { id: string; width: number }) => [c.id, c.width])).toEqual([
        ['yard', 320],
        ['door', 320],
      ]);
      expect((await request(`${server.url}/api/status`, 'GET')).body.camera).toBe('yard');
      expect((await request(`${server.url}/api/cameras/door/status`, 'GET')).body).toMatchObject({ camera: 'door', source: 'rpicam:320x240@15' });
      expect((await request(`${server.url}/api/cameras/nope/status`, 'GET')).body.code).toBe('CAMERA_NOT_FOUND');

      // Detection settings may differ per camera; the rest is shared.
      expect((await request(`${server.url}/api/cameras/door/status`, 'GET')).body.triggerLevel).toBe(30);
      expect((await request(`${server.url}/api/cameras/yard/status`, 'GET')).body.triggerLevel).toBe(DEFAULT_DETECTOR_CONFIG.triggerLevel);

      // Controls act on one camera only, and are kept per camera.
      expect((await request(`${server.url}/api/cameras/door/trigger-level`, 'PUT', { value: 20 })).body).toEqual({ triggerLevel: 20 });
      expect((await request(`${server.url}/api/cameras/yard/status`, 'GET')).body.triggerLevel).not.toBe(20);
      expect(existsSync(join(dataDir, 'settings-door.json'))).toBe(true);

      // A recording of one camera is tagged with it in the shared index.
      await new Promise((r) => setTimeout(r, 2000));
      await request(`${server.url}/api/cameras/door/record/start`, 'POST');
      await new Promise((r) => setTimeout(r, 1500));
      await request(`${server.url}/api/cameras/door/record/stop`, 'POST');
      const event = await waitFor(async () => (await request(`${server.url}/api/events?kind=manual&camera=door`, 'GET')).body.items[0], 15_000, "the door's clip");
      expect(event.camera).toBe('door');
      expect((await request(`${server.url}/api/events?kind=manual&camera=yard`, 'GET')).body.items).toEqual([]);
      // The gallery's timeline strip follows the camera filter.
      const timeline = async (camera: string): Promise<string[]> =>
        (await request(`${server.url}/api/timeline?day=${event.day}&camera=${camera}`, 'GET')).body.events.map((e: { id: string }) => e.id);
      expect(await timeline('door')).toContain(event.id);
      expect(await timeline('yard')).not.toContain(event.id);

      // Each camera's live stream.
      const controller = new AbortController();
      const stream = await fetch(`${server.url}/cameras/door/stream.mjpg`, { signal: controller.signal });
      expect(stream.headers.get('content-type')).toMatch(/multipart\/x-mixed-replace/);
      controller.abort();
      expect((await fetch(`${server.url}/cameras/nope/stream.mjpg`)).status).toBe(404);

      // The WebSocket follows the camera a page picks.
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
      const statuses: string[] = [];
      ws.on('message', (data, isBinary) => {
        if (!isBinary) statuses.push(JSON.parse(data.toString()).status?.camera);
      });
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'live', enabled: false, camera: 'door' }));
      await waitFor(async () => statuses.slice(-3).every((c) => c === 'door') && statuses.length > 3, 5000, 'status of the door camera');
      ws.close();

      // The page: a camera picker, per-camera controls, and a grid of every camera.
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
        await page.goto(server.url);
        await page.waitForSelector('#camera-pick:not([hidden])');
        await page.selectOption('#camera-pick', 'door');
        await page.waitForFunction(() => document.getElementById('level')!.textContent === '20.0', null, { timeout: 10_000 });
        await page.click('#tab-cameras');
        await page.waitForFunction(() => document.querySelectorAll('.camera-tile img').length === 2 && [...document.querySelectorAll<HTMLImageElement>('.camera-tile img')].every((i) => i.naturalWidth > 0), null, { timeout: 10_000 });
        if (process.env.PREROLL_SCREENSHOTS) await page.screenshot({ path: join(process.env.PREROLL_SCREENSHOTS, 'cameras-desktop.png') });
      } finally {
        await browser.close();
      }
    } finally {
      await server.stop();
    }
  }, 90_000);

  test('the GPIO button belongs to the camera it names', async () => {
    // A stand-in gpiomon (libgpiod 1.x) that waits for edges that never come.
    const bin = mkdtempSync(join(tmpdir(), 'preroll-gpio-'));
    writeFileSync(join(bin, 'gpiomon'), ['#!/bin/sh', 'if [ "$1" = "--version" ]; then echo "gpiomon (libgpiod) v1.6.3"; exit 0; fi', 'exec sleep 600'].join('\n'));
    chmodSync(join(bin, 'gpiomon'), 0o755);
    process.env.PATH = `${bin}${delimiter}${savedPath}`;
    const server = await startTestServer({
      cameras: [{ id: 'door', source: 'demo' }, { id: 'yard', source: 'demo' }],
      recording: { gpio: { pin: 17, camera: 'yard' } },
    });
    try {
      const gpioOf = async (id: string): Promise<{ state: string; pin: number | null }> => (await request(`${server.url}/api/cameras/${id}/status`, 'GET')).body.gpio;
      expect(await waitFor(async () => ((await gpioOf('yard')).state === 'running' ? gpioOf('yard') : null), 10_000, "the yard's button")).toMatchObject({ pin: 17 });
      expect((await gpioOf('door')).state).toBe('off');
    } finally {
      await server.stop();
    }
  }, 60_000);

  test('camera ids must differ, and the hidden look-back is for one camera', () => {
    expect(() => parseConfig({ cameras: [{ id: 'a' }, { id: 'b' }], recording: { gpio: { pin: 17, camera: 'c' } } })).toThrow(/recording\.gpio\.camera: no camera "c" \(cameras: a, b\)/);
    expect(() => parseConfig({ recording: { gpio: { pin: 17, camera: 'porch' } } })).toThrow(/recording\.gpio\.camera/);
    expect(() => parseConfig({ cameras: [{ id: 'a', source: 'demo' }, { id: 'a', source: 'demo' }] })).toThrow(/cameras\.1\.id: camera id "a" is used twice/);
    expect(() => parseConfig({ cameras: [{ id: 'a' }, { id: 'b' }], recording: { lookback: { enabled: true } } })).toThrow(/recording\.lookback\.enabled/);
    expect(parseConfig({ cameras: [{ id: 'a' }] }).cameras?.[0].source).toBe('auto');
  });
});
