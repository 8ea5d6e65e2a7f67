import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import { chooseEncoding } from '../src/http/static';
import { request, startTestServer, waitFor } from './server-helpers';

/** GET with raw bytes (fetch would undo the compression). */
async function raw(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const { request: httpRequest } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: new Headers(res.headers as Record<string, string>), body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web assets, reviewing and the live helpers on a real server (demo source)', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer({ camera: { source: 'demo', width: 320, height: 180, fps: 15 } });
  });
  afterAll(async () => {
    await server.stop();
  });

  test('chooseEncoding prefers brotli, then gzip, and honours q=0', () => {
    expect(chooseEncoding('gzip, deflate, br')).toBe('br');
    expect(chooseEncoding('gzip')).toBe('gzip');
    expect(chooseEncoding('br;q=0, gzip;q=0.5')).toBe('gzip');
    expect(chooseEncoding('identity')).toBeNull();
    expect(chooseEncoding(undefined)).toBeNull();
  });

  test('the shell is never cached; hashed assets are immutable, compressed and revalidated by ETag', async () => {
    const shell = await raw(`${server.url}/`);
    expect(shell.status).toBe(200);
    expect(shell.headers.get('cache-control')).toBe('no-store');
    const html = shell.body.toString('utf8');
    const prefix = /\/assets\/([0-9a-f]{12})\/app\/main\.js/.exec(html);
    expect(prefix).not.toBeNull();
    const asset = `${server.url}/assets/${prefix![1]}/app/main.js`;
    const plain = await raw(asset);
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(plain.headers.get('content-encoding')).toBeNull();
    // The compressed forms are made in the background after the start; until then the file is sent as it is.
    const br = await waitFor(async () => {
      const answer = await raw(asset, { 'Accept-Encoding': 'gzip, br' });
      return answer.headers.get('content-encoding') === 'br' ? answer : null;
    }, 30_000, 'the brotli form of main.js');
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(brotliDecompressSync(br.body).equals(plain.body)).toBe(true);
    const gz = await raw(asset, { 'Accept-Encoding': 'gzip' });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const style = await waitFor(async () => {
      const answer = await raw(`${server.url}/assets/${prefix![1]}/style.css`, { 'Accept-Encoding': 'br' });
      return answer.headers.get('content-encoding') === 'br' ? answer : null;
    }, 30_000, 'the brotli form of style.css');
    expect(style.body.length).toBeLessThan(Number((await raw(`${server.url}/assets/${prefix![1]}/style.css`)).headers.get('content-length')) / 2);
    expect((await raw(asset, { 'If-None-Match': plain.headers.get('etag') as string })).status).toBe(304);
    const stale = await request(`${server.url}/assets/000000000000/app/main.js`, 'GET');
    expect(stale.status).toBe(404);
    expect(stale.body.code).toBe('ASSET_NOT_FOUND');
    expect((await request(`${server.url}/assets/${prefix![1]}/../package.json`, 'GET')).status).toBe(404);
    const worker = await raw(`${server.url}/sw.js`);
    expect(worker.headers.get('cache-control')).toBe('no-cache');
    expect(worker.body.toString('utf8')).toContain(`/assets/${prefix![1]}`);
    expect((await raw(`${server.url}/login.html`)).headers.get('cache-control')).toBe('no-store');
  });

  test('the shell preloads every module of the page (no import waterfall on a slow link)', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { join, relative } = await import('node:path');
    const web = join(__dirname, '../web');
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
    const modules = walk(join(web, 'app')).map((f) => relative(web, f).split('\\').join('/'));
    expect(modules.length).toBeGreaterThan(10);
    const html = readFileSync(join(web, 'index.html'), 'utf8');
    const missing = modules.filter((m) => m !== 'app/main.js' && !html.includes(`<link rel="modulepreload" href="%ASSETS%/${m}">`));
    expect(missing).toEqual([]);
  });

  test('reviewed: per event and all at once, counted, filtered, written to the sidecar', async () => {
    // Only the photos below count: detection off (no motion event joins in) and everything before marked reviewed.
    expect((await request(`${server.url}/api/motion`, 'POST', { enabled: false })).status).toBe(200);
    await request(`${server.url}/api/events/reviewed`, 'POST');
    const photos: Array<{ id: string; reviewed: boolean }> = [];
    // Three photos of three different frames (the same frame photographed twice is one photo).
    await waitFor(async () => {
      const photo = (await request(`${server.url}/api/photo`, 'POST')).body;
      if (!photos.some((p) => p.id === photo.id)) photos.push(photo);
      return photos.length === 3;
    }, 20_000, 'three photos of different frames');
    expect(photos.map((p) => p.reviewed)).toEqual([false, false, false]);
    await waitFor(async () => (await request(`${server.url}/api/review`, 'GET')).body.unreviewed === 3, 20_000, 'three unreviewed photos');
    const marked = await request(`${server.url}/api/events/${photos[0].id}/reviewed`, 'PUT', { reviewed: true });
    expect(marked.status).toBe(200);
    expect(marked.body.reviewed).toBe(true);
    expect((await request(`${server.url}/api/events/${photos[0].id}/sidecar`, 'GET')).body.reviewed).toBe(true);
    expect((await request(`${server.url}/api/review`, 'GET')).body).toEqual({ unreviewed: 2 });
    const open = (await request(`${server.url}/api/events?reviewed=false`, 'GET')).body.items.map((e: { id: string }) => e.id);
    expect(open.sort()).toEqual([photos[1].id, photos[2].id].sort());
    expect((await request(`${server.url}/api/events/${photos[0].id}/reviewed`, 'PUT', { reviewed: 'yes' })).body.code).toBe('HTTP_BAD_INPUT');
    expect((await request(`${server.url}/api/events/nope/reviewed`, 'PUT', { reviewed: true })).body.code).toBe('EVENT_NOT_FOUND');
    expect((await request(`${server.url}/api/events?reviewed=maybe`, 'GET')).status).toBe(400);
    expect((await request(`${server.url}/api/events/reviewed`, 'POST')).body).toEqual({ marked: 2, unreviewed: 0 });
    expect((await request(`${server.url}/api/events/${photos[1].id}/reviewed`, 'PUT', { reviewed: false })).body.reviewed).toBe(false);
    expect((await request(`${server.url}/api/review`, 'GET')).body).toEqual({ unreviewed: 1 });
    expect((await request(`${server.url}/api/motion`, 'POST', { enabled: true })).status).toBe(200);
  });

  test('/api/scores gives the last minute of scores on the WebSocket time base', async () => {
    const { scores } = await waitFor(async () => {
      const body = (await request(`${server.url}/api/scores`, 'GET')).body;
      return body.scores.length > 10 ? body : null;
    }, 10_000, 'scores');
    for (let i = 1; i < scores.length; i++) expect(scores[i][0]).toBeGreaterThan(scores[i - 1][0]);
    expect(scores[scores.length - 1][0] - scores[0][0]).toBeLessThanOrEqual(60_000);
    expect((await request(`${server.url}/api/scores?camera=nope`, 'GET')).body.code).toBe('CAMERA_NOT_FOUND');
    expect((await request(`${server.url}/api/scores?x=1`, 'GET')).status).toBe(400);
  });

  test("each live quality's cost is this camera's measured bytes: H.264 from the encoder, JPEGs from their running size", async () => {
    const { request: httpRequest } = await import('node:http');
    // What /stream.mp4 really sends over 6 s (after 1 s to get past the first keyframe).
    let bytes = 0;
    const req = httpRequest(`${server.url}/stream.mp4`, (res) => res.on('data', (chunk: Buffer) => (bytes += chunk.length)));
    req.on('error', () => undefined);
    req.end();
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    let jpegBytes = 0;
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary) jpegBytes += data.length;
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'live', enabled: true, maxFps: 0 })));
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const mp4Start = bytes;
      const jpegStart = jpegBytes;
      const t0 = Date.now();
      await waitFor(async () => Date.now() - t0 >= 6000, 10_000, 'six seconds of streams');
      const seconds = (Date.now() - t0) / 1000;
      const mp4PerS = (bytes - mp4Start) / seconds;
      const jpegPerS = (jpegBytes - jpegStart) / seconds;
      const cost = (await request(`${server.url}/api/status`, 'GET')).body.live.bytesPerS;
      expect(mp4PerS).toBeGreaterThan(0);
      expect(cost.video / mp4PerS).toBeGreaterThan(0.5);
      expect(cost.video / mp4PerS).toBeLessThan(2);
      expect(cost.jpeg / jpegPerS).toBeGreaterThan(0.5);
      expect(cost.jpeg / jpegPerS).toBeLessThan(2);
      // One JPEG a second: the mean JPEG size.
      expect(cost.saver * 10).toBeCloseTo(cost.jpeg, -2);
    } finally {
      ws.terminate();
      req.destroy();
    }
  });

  test('data saver: a WebSocket client asking for maxFps 1 gets about one JPEG a second', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    try {
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const errors: unknown[] = [];
      let frames = 0;
      ws.on('message', (data, isBinary) => {
        if (isBinary) frames++;
        else if (JSON.parse(data.toString()).type === 'error') errors.push(JSON.parse(data.toString()));
      });
      ws.send(JSON.stringify({ type: 'live', enabled: true, maxFps: 1 }));
      await new Promise((resolve) => setTimeout(resolve, 4000));
      // 15 fps unthrottled would be about 60 in 4 s.
      expect(frames).toBeGreaterThanOrEqual(3);
      expect(frames).toBeLessThanOrEqual(5);
      ws.send(JSON.stringify({ type: 'live', enabled: true, maxFps: 1000 }));
      await waitFor(async () => errors.length === 1, 2000, 'the refusal of maxFps 1000');
      expect(errors[0]).toMatchObject({ code: 'WS_BAD_MESSAGE' });
    } finally {
      ws.terminate();
    }
  });
});
