import { execFileSync } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A loopback HTTP MJPEG camera for tests (multipart/x-mixed-replace, as IP cameras and Preroll serve it). */
export interface MjpegStream {
  /** `http://127.0.0.1:PORT/stream.mjpg`. */
  readonly url: string;
  /** Pictures sent so far (to every client at the same tick). */
  sent(): number;
  /** Clients connected now. */
  clients(): number;
  /** From the next tick, send the pictures from `index` on (or repeat picture `index` with `still`). */
  play(index: number, options?: { still?: boolean }): void;
  /** Sends raw bytes as the next part's body instead of a picture (a corrupt JPEG). */
  sendRaw(body: Buffer): void;
  /** Drops every client connection (a camera that died); new connections are served again. */
  dropClients(): void;
  close(): Promise<void>;
}

/**
 * Encodes `seconds` of an ffmpeg lavfi scene as JPEGs of `width`x`height` (one per frame at
 * `fps`) and cuts them apart at their start-of-image markers.
 */
export function makeJpegs(options: { width: number; height: number; fps: number; seconds: number; scene?: string }): Buffer[] {
  const { width, height, fps, seconds } = options;
  const scene = options.scene ?? `testsrc2=s=${width}x${height}:r=${fps}`;
  const data = execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', scene, '-t', String(seconds), '-q:v', '6', '-f', 'mjpeg', '-'], { maxBuffer: 256 << 20 });
  const marker = Buffer.from([0xff, 0xd8, 0xff]);
  const jpegs: Buffer[] = [];
  let start = data.indexOf(marker);
  while (start >= 0) {
    const next = data.indexOf(marker, start + 3);
    jpegs.push(data.subarray(start, next < 0 ? data.length : next));
    start = next;
  }
  return jpegs;
}

/** Serves `jpegs` in a loop at `fps` on 127.0.0.1 (port 0) to every client from one clock. */
export async function startMjpegStream(jpegs: readonly Buffer[], fps: number): Promise<MjpegStream> {
  const clients = new Set<ServerResponse>();
  let tick = 0;
  let index = 0;
  let still = false;
  let sent = 0;
  const raw: Buffer[] = [];
  const send = (): void => {
    const body = raw.shift() ?? jpegs[(still ? index : index + tick) % jpegs.length];
    tick++;
    const head = Buffer.from(`--frame\r\nContent-Type: image/jpeg\r\nContent-Length: ${body.length}\r\n\r\n`);
    for (const res of clients) {
      res.write(head);
      res.write(body);
      res.write('\r\n');
    }
    sent++;
  };
  const timer = setInterval(send, 1000 / fps);
  const server = createServer((req, res) => {
    if (req.url !== '/stream.mjpg') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame', 'Cache-Control': 'no-cache' });
    clients.add(res);
    res.on('close', () => clients.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream.mjpg`,
    sent: () => sent,
    clients: () => clients.size,
    play(at, options = {}) {
      index = at - tick;
      still = options.still ?? false;
      if (still) index = at;
    },
    sendRaw: (body) => void raw.push(body),
    dropClients() {
      for (const res of clients) res.destroy();
      clients.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer);
        for (const res of clients) res.destroy();
        server.close(() => resolve());
      }),
  };
}
