import { delimiter, resolve } from 'node:path';
import fc from 'fast-check';
import WebSocket from 'ws';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

describe('HTTP API on a real server (fake Pi camera)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    server = await startTestServer({ camera: { source: 'rpicam:320x240@15' } });
  });
  afterAll(async () => {
    await server.stop();
    process.env.PATH = savedPath;
  });

  test('status, healthz and metrics describe the running camera', async () => {
    const status = await waitFor(async () => {
      const s = (await request(`${server.url}/api/status`, 'GET')).body;
      return s.fps > 0 ? s : null;
    }, 10_000, 'frames');
    expect(status).toMatchObject({ source: 'rpicam:320x240@15', captureState: 'running', width: 320, height: 240, motionEnabled: true, recording: false, authRequired: false });
    for (const key of ['fps', 'droppedFrames', 'score', 'triggerLevel', 'uptimeS', 'version', 'disk', 'system']) expect(status).toHaveProperty(key);
    expect((await request(`${server.url}/healthz`, 'GET')).body).toMatchObject({ ok: true });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/^# TYPE preroll_capture_fps gauge$/m);
    expect(metrics).toMatch(/^preroll_trigger_level\{camera="cam"\} \d/m);
    expect(metrics).toMatch(/^preroll_events \d/m);
  });

  test('trigger level: set, step up and down, persisted to settings.json', async () => {
    expect((await request(`${server.url}/api/trigger-level`, 'PUT', { value: 10 })).body).toEqual({ triggerLevel: 10 });
    const up = (await request(`${server.url}/api/trigger-level`, 'PUT', { step: 1 })).body.triggerLevel;
    expect(up).toBeGreaterThan(10);
    const down = (await request(`${server.url}/api/trigger-level`, 'PUT', { step: -1 })).body.triggerLevel;
    expect(down).toBeLessThan(up);
    const saved = JSON.parse(require('node:fs').readFileSync(`${server.runtime.store().dataDir}/settings.json`, 'utf8'));
    expect(saved).toMatchObject({ scoreScale: 2, triggerMode: 'manual', triggerLevel: down });
  });

  test('trigger mode: auto with the offset and manual levels both survive a restart; levels of the old score scale are not used', async () => {
    const { writeFileSync } = await import('node:fs');
    const dataDir = tempDataDir();
    // A level saved by a version with the old score (no scale) means something else: not used.
    writeFileSync(`${dataDir}/settings.json`, JSON.stringify({ triggerLevel: 40, motionEnabled: true }));
    const config = { server: { dataDir }, camera: { source: 'rpicam:320x240@15' } };
    let other = await startTestServer(config);
    try {
      const status = (await request(`${other.url}/api/status`, 'GET')).body;
      expect(status.trigger.mode).toBe('auto');
      expect(status.triggerLevel).toBeLessThan(40);
      const auto = (await request(`${other.url}/api/trigger-level`, 'PUT', { mode: 'auto' })).body.triggerLevel;
      const stepped = (await request(`${other.url}/api/trigger-level`, 'PUT', { step: 1 })).body.triggerLevel;
      expect(stepped).toBeGreaterThan(auto);
      expect((await request(`${other.url}/api/status`, 'GET')).body.trigger).toMatchObject({ mode: 'auto', offset: 1 });
      await other.stop();
      other = await startTestServer(config);
      expect((await request(`${other.url}/api/status`, 'GET')).body.trigger).toMatchObject({ mode: 'auto', offset: 1 });
      expect((await request(`${other.url}/api/trigger-level`, 'PUT', { value: 7 })).body).toEqual({ triggerLevel: 7 });
      await other.stop();
      other = await startTestServer(config);
      expect((await request(`${other.url}/api/status`, 'GET')).body).toMatchObject({ triggerLevel: 7, trigger: { mode: 'manual' } });
      expect((await request(`${other.url}/api/trigger-level`, 'PUT', { mode: 'sideways' })).status).toBe(400);
    } finally {
      await other.stop();
    }
  });

  test('bad bodies get a 400 with a stable code naming the field', async () => {
    for (const body of [{ step: 5 }, { value: -1 }, { value: 'high' }, {}, { value: 5, extra: 1 }]) {
      const res = await request(`${server.url}/api/trigger-level`, 'PUT', body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('HTTP_BAD_INPUT');
    }
    const broken = await request(`${server.url}/api/trigger-level`, 'PUT', '{"value":');
    expect(broken.status).toBe(400);
    expect(broken.body.code).toBe('HTTP_BAD_JSON');
    const huge = await request(`${server.url}/api/trigger-level`, 'PUT', JSON.stringify({ value: 1, pad: 'x'.repeat(40_000) }));
    expect(huge.status).toBe(413);
  });

  test('fuzzed bodies never crash the server and always get a JSON error or a result', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), fc.constantFrom('/api/trigger-level', '/api/motion', '/api/calibrate', '/api/delete-all/confirm'), async (body, path) => {
        const res = await request(`${server.url}${path}`, path === '/api/trigger-level' ? 'PUT' : 'POST', JSON.stringify(body));
        expect([200, 400, 409]).toContain(res.status);
        if (res.status !== 200) expect(typeof res.body.code).toBe('string');
      }),
      { numRuns: 60 },
    );
    expect((await request(`${server.url}/api/motion`, 'POST', { enabled: true })).status).toBe(200);
  });

  test('motion detection on/off is reflected in status', async () => {
    expect((await request(`${server.url}/api/motion`, 'POST', { enabled: false })).body).toEqual({ motionEnabled: false });
    expect((await request(`${server.url}/api/status`, 'GET')).body.motionEnabled).toBe(false);
    expect((await request(`${server.url}/api/motion`, 'POST', { enabled: true })).body).toEqual({ motionEnabled: true });
  });

  test('state changes are never GETs, and cross-origin changes are refused', async () => {
    expect((await request(`${server.url}/api/record/start`, 'GET')).status).toBe(404);
    const cross = await request(`${server.url}/api/motion`, 'POST', { enabled: false }, { Origin: 'http://evil.example' });
    expect(cross.status).toBe(403);
    expect(cross.body.code).toBe('HTTP_CROSS_ORIGIN');
  });

  test('manual recording with pre-roll becomes an event whose clip is served with Range', async () => {
    await new Promise((r) => setTimeout(r, 2500)); // let the ring fill with pre-roll
    expect((await request(`${server.url}/api/record/start`, 'POST')).body).toEqual({ recording: true });
    await new Promise((r) => setTimeout(r, 1500));
    await request(`${server.url}/api/record/stop`, 'POST');
    const event = await waitFor(async () => (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items[0], 15_000, 'the manual clip');
    expect(event.kind).toBe('manual');
    expect(event.preRollMs).toBeGreaterThan(1000);
    expect(JSON.stringify(event)).not.toMatch(/events\/\d{4}-\d{2}-\d{2}\/[^"]*\.(mp4|jpg|json)/); // ids and URLs, never file paths
    const head = await fetch(`${server.url}${event.urls.clip}`, { headers: { Range: 'bytes=0-99' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-range')).toMatch(/^bytes 0-99\/\d+$/);
    expect((await head.arrayBuffer()).byteLength).toBe(100);
    expect((await fetch(`${server.url}${event.urls.thumbnail}`)).headers.get('content-type')).toBe('image/jpeg');

    const fav = await request(`${server.url}/api/events/${event.id}`, 'PATCH', { favorite: true });
    expect(fav.body.favorite).toBe(true);
    expect((await request(`${server.url}/api/events?favorite=true`, 'GET')).body.items.map((e: { id: string }) => e.id)).toContain(event.id);
    expect((await request(`${server.url}/api/events?kind=motion,manual`, 'GET')).body.items.map((e: { id: string }) => e.id)).toContain(event.id);
    expect((await request(`${server.url}/api/events?kind=motion,segment`, 'GET')).body.items.map((e: { id: string }) => e.id)).not.toContain(event.id);
    expect((await request(`${server.url}/api/events?kind=motion,bogus`, 'GET')).status).toBe(400);
    expect((await request(`${server.url}/api/events/${event.id}`, 'DELETE')).status).toBe(204);
    expect((await request(`${server.url}/api/events/${event.id}`, 'GET')).status).toBe(404);
  });

  test('a snapshot is saved as a photo event', async () => {
    const photo = await request(`${server.url}/api/snapshot`, 'POST');
    expect(photo.status).toBe(201);
    expect(photo.body).toMatchObject({ kind: 'photo', width: 320, height: 240 });
    const jpeg = await fetch(`${server.url}${photo.body.urls.snapshot}`);
    expect(Buffer.from(await jpeg.arrayBuffer()).subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });

  test('delete-all needs its confirmation token and keeps favourites', async () => {
    const photo = (await request(`${server.url}/api/snapshot`, 'POST')).body;
    await new Promise((r) => setTimeout(r, 200)); // a newer frame: another photo
    const other = (await request(`${server.url}/api/snapshot`, 'POST')).body;
    expect(other.id).not.toBe(photo.id);
    await request(`${server.url}/api/events/${photo.id}`, 'PATCH', { favorite: true });
    expect((await request(`${server.url}/api/delete-all/confirm`, 'POST', { token: 'guess' })).status).toBe(409);
    const { confirmToken } = (await request(`${server.url}/api/delete-all`, 'POST')).body;
    await request(`${server.url}/api/delete-all/cancel`, 'POST');
    expect((await request(`${server.url}/api/delete-all/confirm`, 'POST', { token: confirmToken })).status).toBe(409);
    const again = (await request(`${server.url}/api/delete-all`, 'POST')).body.confirmToken;
    expect((await request(`${server.url}/api/delete-all/confirm`, 'POST', { token: again })).status).toBe(200);
    expect((await request(`${server.url}/api/events/${photo.id}`, 'GET')).status).toBe(200);
    expect((await request(`${server.url}/api/events/${other.id}`, 'GET')).status).toBe(404);
  });

  test('no path from a URL reaches the file system', async () => {
    for (const path of [
      '/api/events/..%2F..%2Fetc%2Fpasswd/clip',
      '/api/events/%2Fetc%2Fpasswd/clip',
      '/api/events/abc%00def/clip',
      '/api/events/../../index.db',
      '/..%2F..%2Fpackage.json',
      '/%2e%2e/%2e%2e/package.json',
      '/index.db',
      '/settings.json',
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect([400, 404]).toContain(res.status);
      expect(await res.text()).not.toMatch(/"name":\s*"preroll"|SQLite format|root:x:0/);
    }
  });

  test('reboot and exit are refused unless enabled', async () => {
    const res = await request(`${server.url}/api/reboot`, 'POST', { confirm: true });
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ACTION_DISABLED');
  });

  test('MJPEG stream: multipart JPEG frames', async () => {
    const controller = new AbortController();
    const response = await fetch(`${server.url}/stream.mjpg`, { signal: controller.signal });
    expect(response.headers.get('content-type')).toMatch(/^multipart\/x-mixed-replace; boundary=/);
    const reader = response.body!.getReader();
    let received = Buffer.alloc(0);
    while (received.indexOf(Buffer.from([0xff, 0xd9])) < 0 || received.length < 2000) {
      const { value, done } = await reader.read();
      if (done) break;
      received = Buffer.concat([received, Buffer.from(value)]);
    }
    controller.abort();
    expect(received.toString('latin1')).toMatch(/Content-Type: image\/jpeg\r\nContent-Length: \d+\r\n\r\n\xff\xd8/);
  });

  test('WebSocket: status messages, live JPEGs on request, malformed messages answered with an error', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    const messages: (string | Buffer)[] = [];
    ws.on('message', (data, isBinary) => messages.push(isBinary ? (data as Buffer) : data.toString()));
    await new Promise((r) => ws.once('open', r));
    ws.send('not json');
    ws.send(JSON.stringify({ type: 'live', enabled: true }));
    await waitFor(async () => messages.some((m) => Buffer.isBuffer(m)), 10_000, 'a live JPEG');
    ws.close();
    const texts = messages.filter((m): m is string => typeof m === 'string').map((m) => JSON.parse(m));
    expect(texts.some((m) => m.type === 'status' && m.status.source === 'rpicam:320x240@15')).toBe(true);
    expect(texts.some((m) => m.type === 'error' && m.code === 'WS_BAD_MESSAGE')).toBe(true);
    const jpeg = messages.find((m) => Buffer.isBuffer(m)) as Buffer;
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
  });
});
