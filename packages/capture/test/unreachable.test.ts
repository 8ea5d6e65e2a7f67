import { createServer, type Server, type Socket } from 'node:net';
import { createSource, type FrameSource } from '../src/index';

/** A TCP server that accepts and never answers (a camera that hangs during the handshake). */
async function silentServer(held: Set<Socket>): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

describe('a url: camera that never delivers a frame, with keepTrying', () => {
  const held = new Set<Socket>();
  let source: FrameSource | null = null;
  let silent: { server: Server; port: number } | null = null;
  afterEach(async () => {
    await source?.stop();
    source = null;
    for (const socket of held) socket.destroy();
    held.clear();
    if (silent) await new Promise((r) => silent!.server.close(r));
    silent = null;
  });

  test('refused: start() returns at the first retry; the state says restarting; stop() is quick', async () => {
    const probe = await silentServer(held);
    const port = probe.port;
    await new Promise((r) => probe.server.close(r));
    source = createSource(`url:rtsp://127.0.0.1:${port}/live`, { keepTrying: true, backoff: { initialMs: 200, maxMs: 1000, factor: 2, resetAfterMs: 30_000 } });
    const started = Date.now();
    await source.start();
    expect(Date.now() - started).toBeLessThan(8000);
    expect(source.state()).toBe('restarting');
    expect(source.stats().lastError?.code).toMatch(/^CAPTURE_/);
    const stopping = Date.now();
    await source.stop();
    expect(Date.now() - stopping).toBeLessThan(4000);
    expect(source.state()).toBe('stopped');
  });

  test('silent: start() returns after startWaitMs in state starting; stop() is quick', async () => {
    silent = await silentServer(held);
    source = createSource(`url:rtsp://127.0.0.1:${silent.port}/live`, { keepTrying: true, startWaitMs: 1500 });
    const started = Date.now();
    await source.start();
    const waitedMs = Date.now() - started;
    expect(waitedMs).toBeGreaterThanOrEqual(1400);
    expect(waitedMs).toBeLessThan(8000);
    expect(source.state()).toBe('starting');
    const stopping = Date.now();
    await source.stop();
    expect(Date.now() - stopping).toBeLessThan(4000);
  });
});
