import { connect, type Socket } from 'node:net';
import { delimiter, resolve } from 'node:path';
import WebSocket from 'ws';
import { request, startTestServer, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

interface KindStats {
  clients: number;
  queuedBytes: number;
  maxQueuedBytes: number;
  dropped: number;
}
type Streams = Record<'mjpeg' | 'mp4' | 'ws', KindStats>;

/** A GET whose response is never read: the socket is paused before the first byte arrives. */
function stalledGet(url: string, path: string): Socket {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port) });
  socket.pause();
  socket.on('error', () => undefined);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`);
  return socket;
}

// Client-held memory: a viewer that stops reading fills the kernel's socket buffers (both
// ends, a few MB on loopback), then Node holds at most each stream's bound and skips the rest.
describe('live streams: what Node holds for a client that stopped reading is bounded', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    // The idle timeout (which also closes stalled clients) is longer than the test.
    server = await startTestServer({ camera: { source: 'rpicam:640x360@30' }, server: { limits: { idleTimeoutMs: 900_000 } } });
  });
  afterAll(async () => {
    await server.stop();
    process.env.PATH = savedPath;
  });

  test('MJPEG, /stream.mp4 and the WebSocket: past the kernel, Node holds at most its bound, skips and counts the rest; closing frees it', async () => {
    const streams = async (): Promise<Streams> => (await request(`${server.url}/api/status`, 'GET')).body.streams;
    const idle = await streams();
    expect(idle).toEqual({
      mjpeg: { clients: 0, queuedBytes: 0, maxQueuedBytes: 0, dropped: 0 },
      mp4: { clients: 0, queuedBytes: 0, maxQueuedBytes: 0, dropped: 0 },
      ws: { clients: 0, queuedBytes: 0, maxQueuedBytes: 0, dropped: 0 },
    });
    const mjpeg = stalledGet(server.url, '/stream.mjpg');
    const mp4 = stalledGet(server.url, '/stream.mp4');
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    ws.on('error', () => undefined);
    try {
      await new Promise((r) => ws.once('open', r));
      ws.send(JSON.stringify({ type: 'live', enabled: true }));
      ws.pause();
      // Each stream skips pictures only once the kernel's buffers are full and Node holds bytes.
      const full = await waitFor(async () => {
        const s = await streams();
        return s.mjpeg.dropped > 0 && s.mp4.dropped > 0 && s.ws.dropped > 0 ? s : null;
      }, 150_000, 'every stream to skip pictures for its stalled client');
      expect([full.mjpeg.clients, full.mp4.clients, full.ws.clients]).toEqual([1, 1, 1]);
      // From then on, frames keep coming and are skipped, never queued: sample for a while.
      const samples: Streams[] = [];
      await waitFor(async () => {
        samples.push(await streams());
        const last = samples[samples.length - 1];
        return last.mjpeg.dropped >= full.mjpeg.dropped + 20 && last.mp4.dropped >= full.mp4.dropped + 20 && samples.length >= 5;
      }, 60_000, 'more skipped pictures');
      for (const s of samples) {
        // MJPEG: the picture being written and the newest one waiting (640x360 JPEGs are < 100 kB).
        expect(s.mjpeg.maxQueuedBytes).toBeLessThanOrEqual(200_000);
        // /stream.mp4: 2 MiB, then it skips to the next keyframe; plus the fragment that crossed it.
        expect(s.mp4.maxQueuedBytes).toBeLessThanOrEqual(2 * 1024 * 1024 + 200_000);
        // WebSocket: status messages up to 1 MB, pictures only below twice their size.
        expect(s.ws.maxQueuedBytes).toBeLessThanOrEqual(1_000_000 + 200_000);
        expect(s.mjpeg.queuedBytes).toBeGreaterThan(0);
        expect(s.mp4.queuedBytes).toBeGreaterThan(0);
      }
    } finally {
      mjpeg.destroy();
      mp4.destroy();
      ws.terminate();
    }
    const closed = await waitFor(async () => {
      const s = await streams();
      return s.mjpeg.clients + s.mp4.clients + s.ws.clients === 0 ? s : null;
    }, 30_000, 'the closed clients to be forgotten');
    expect([closed.mjpeg.queuedBytes, closed.mp4.queuedBytes, closed.ws.queuedBytes]).toEqual([0, 0, 0]);
  }, 300_000);
});

describe('the WebSocket: a client that answers no ping is closed after the idle timeout', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  beforeAll(async () => {
    server = await startTestServer({ server: { limits: { idleTimeoutMs: 5000 } } });
  });
  afterAll(async () => {
    await server.stop();
  });

  test('of two pages watching live, the one that stopped reading is closed and the other stays', async () => {
    const open = (): WebSocket => new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    const reading = open();
    const stalled = open();
    let readingClosed = false;
    reading.on('close', () => (readingClosed = true));
    for (const ws of [reading, stalled]) ws.on('error', () => undefined);
    try {
      await Promise.all([reading, stalled].map((ws) => new Promise((r) => ws.once('open', r))));
      for (const ws of [reading, stalled]) ws.send(JSON.stringify({ type: 'live', enabled: true }));
      stalled.pause();
      const clients = async (): Promise<number> => (await request(`${server.url}/api/status`, 'GET')).body.streams.ws.clients;
      expect(await clients()).toBe(2);
      // Pings every 1.25 s, closed after 5 s without an answer: within seconds, bounded for a loaded machine.
      await waitFor(async () => (await clients()) === 1, 60_000, 'the stalled client to be closed');
      // The reading page answered every ping: still open two idle timeouts later.
      const since = Date.now();
      await waitFor(async () => Date.now() - since >= 10_000, 30_000, 'two idle timeouts');
      expect(await clients()).toBe(1);
      expect(readingClosed).toBe(false);
      expect(reading.readyState).toBe(WebSocket.OPEN);
    } finally {
      reading.terminate();
      stalled.terminate();
    }
  }, 120_000);
});
