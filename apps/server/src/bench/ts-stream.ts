import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { parsePes, TS_PACKET_BYTES } from '@preroll/capture';

/**
 * A network camera that sends H.264, for `pnpm bench passthrough` and the passthrough tests:
 * an MPEG-TS file made once by ffmpeg (libx264), served over HTTP on loopback in real time by
 * one clock (every client gets the same bytes at the same moment, paced by the video's own PTS).
 */

/** What the scene looks like and how it is encoded. */
export interface H264SceneOptions {
  readonly seconds: number;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  /** Frames between keyframes (the camera's GOP). */
  readonly gopFrames: number;
  /** A dark block crosses the picture from `motionAtS` for `motionForS` seconds (repeated every `periodS` when given). */
  readonly motionAtS: number;
  readonly motionForS: number;
  readonly periodS?: number;
  /** x264 profile (default `high`, as most IP cameras send). */
  readonly profile?: 'baseline' | 'main' | 'high';
}

/** Encodes the scene as an MPEG-TS file (grey garden with sensor noise, a block crossing it). */
export function makeH264Scene(path: string, o: H264SceneOptions): void {
  const period = o.periodS ?? o.seconds + 1;
  const phase = `(mod(t,${period})-${o.motionAtS})`;
  const blockW = Math.round(o.width / 8 / 2) * 2;
  const blockH = Math.round(o.height / 4 / 2) * 2;
  // overlay evaluates its position every frame (drawbox does not), and moves the block across.
  const x = `if(between(${phase},0,${o.motionForS}),${phase}/${o.motionForS}*(W+w)-w,-w-10)`;
  const graph = [
    `color=c=0x708060:s=${o.width}x${o.height}:r=${o.fps}:d=${o.seconds},noise=alls=4:allf=t[bg]`,
    `color=c=0x202020:s=${blockW}x${blockH}:r=${o.fps}:d=${o.seconds}[obj]`,
    `[bg][obj]overlay=x='${x}':y=${Math.round(o.height * 0.4)}:eval=frame,format=yuv420p`,
  ].join(';');
  const run = spawnSync('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', graph,
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', o.profile ?? 'high', '-bf', '0',
    '-g', String(o.gopFrames), '-keyint_min', String(o.gopFrames), '-sc_threshold', '0',
    '-f', 'mpegts', path,
  ], { timeout: 300_000 });
  if (run.status !== 0) throw new Error(`ffmpeg could not make the H.264 scene: ${run.stderr?.toString().slice(-400)}`);
}

/** The file cut where each video PES (one access unit) begins, with its PTS in 90 kHz ticks. */
export function splitAtVideoPes(data: Buffer): Array<{ pts90k: number; bytes: Buffer }> {
  const chunks: Array<{ pts90k: number; bytes: Buffer }> = [];
  let chunkStart = 0;
  let chunkPts = 0;
  for (let at = 0; at + TS_PACKET_BYTES <= data.length; at += TS_PACKET_BYTES) {
    const pusi = (data[at + 1] & 0x40) !== 0;
    const adaptation = (data[at + 3] >> 4) & 0x3;
    if (!pusi || adaptation === 0 || adaptation === 2) continue;
    const payloadAt = at + 4 + (adaptation === 3 ? 1 + data[at + 4] : 0);
    // A video PES: start code 00 00 01, stream id 0xE0..0xEF.
    if (data[payloadAt + 3] < 0xe0 || data[payloadAt + 3] > 0xef) continue;
    const pes = parsePes(data.subarray(payloadAt, at + TS_PACKET_BYTES));
    if (!pes || pes.pts33 === null) continue;
    if (at > chunkStart) chunks.push({ pts90k: chunkPts, bytes: data.subarray(chunkStart, at) });
    chunkStart = at;
    chunkPts = pes.pts33;
  }
  chunks.push({ pts90k: chunkPts, bytes: data.subarray(chunkStart) });
  return chunks;
}

/** A served H.264 stream: its URLs, how many clients it has, and a way to stop it. */
export interface TsServer {
  /** `http://127.0.0.1:PORT/stream.ts`. */
  readonly url: string;
  /** The same bytes on plain TCP, `tcp://127.0.0.1:PORT` (for readers that take HTTP for MJPEG, such as Motion). */
  readonly tcpUrl: string;
  clients(): number;
  /** Chunks a slow client missed (it fell a megabyte behind). */
  skipped(): number;
  /** Ends every connection (as a camera that goes away would) and keeps serving new ones. */
  dropClients(): void;
  close(): Promise<void>;
}

/**
 * Serves the MPEG-TS file at `/stream.ts`, paced by its PTS, looping (`loop`, default true) or
 * ending every response at the end of the file (a camera that goes away). The clock starts at
 * once, or with `startOnConnect` when the first client connects (a test then sees the whole scene).
 */
export function startTsServer(file: string, options: { loop?: boolean; startOnConnect?: boolean } = {}): Promise<TsServer> {
  const chunks = splitAtVideoPes(readFileSync(file));
  const first = chunks[0].pts90k;
  const last = chunks[chunks.length - 1].pts90k;
  const loopMs = ((last - first) / 90) + (chunks.length > 1 ? (last - chunks[chunks.length - 2].pts90k) / 90 : 40);
  const clients = new Set<ServerResponse | Socket>();
  let skipped = 0;
  let index = 0;
  let loops = 0;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let started = performance.now();
  const send = (): void => {
    const chunk = chunks[index];
    for (const res of clients) {
      if (res.writableLength > 1 << 20) {
        skipped++;
        continue;
      }
      res.write(chunk.bytes);
    }
    index++;
    if (index === chunks.length) {
      if (options.loop === false) {
        for (const res of clients) res.end();
        clients.clear();
        return;
      }
      index = 0;
      loops++;
    }
    const dueMs = loops * loopMs + (chunks[index].pts90k - first) / 90;
    timer = setTimeout(send, Math.max(0, started + dueMs - performance.now()));
  };
  const join = (client: ServerResponse | Socket): void => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => clients.delete(client));
    if (!timer && !closed) {
      started = performance.now();
      timer = setTimeout(send, 0);
    }
  };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/stream.ts') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'video/mp2t', 'Cache-Control': 'no-cache', Connection: 'close' });
    join(res);
  });
  const tcp = createTcpServer((socket) => join(socket));
  const listen = (target: Server | ReturnType<typeof createTcpServer>): Promise<number> =>
    new Promise((resolve) => target.listen(0, '127.0.0.1', () => resolve((target.address() as AddressInfo).port)));
  return Promise.all([listen(server), listen(tcp)]).then(([httpPort, tcpPort]) => {
    if (!options.startOnConnect) timer = setTimeout(send, 0);
    return {
      url: `http://127.0.0.1:${httpPort}/stream.ts`,
      tcpUrl: `tcp://127.0.0.1:${tcpPort}`,
      clients: () => clients.size,
      skipped: () => skipped,
      dropClients() {
        for (const client of clients) client.destroy();
        clients.clear();
      },
      close: () =>
        new Promise<void>((done) => {
          if (closed) return done();
          closed = true;
          if (timer) clearTimeout(timer);
          for (const client of clients) client.destroy();
          tcp.close();
          server.close(() => done());
        }),
    };
  });
}
