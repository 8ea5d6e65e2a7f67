import { createCleanupStack, makeJpegs, sleep, startMjpegStream, waitFor } from '@preroll/testkit';
import { startTestServer } from './server-helpers';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const jpegs = makeJpegs({ width: 320, height: 240, fps: 10, seconds: 2, scene: 'color=c=0x606060:s=320x240:r=10,noise=alls=3:allf=t' });

interface Status {
  captureState: string;
  recordingPath: { mode: string; reason: string };
  pipeline: { preRoll: { units: number; bytes: number; spanMs: number }; onDemandEncoder: { state: string; starts: number; stops: number } | null };
}

describe('server with an MJPEG camera (the mjpeg recording path, chosen by the probe)', () => {
  test('status counts the JPEG pre-roll; a /stream.mp4 viewer starts the encoder, leaving stops it; /stream.mjpg sends the camera\'s own JPEGs', async () => {
    const camera = cleanup.defer(await startMjpegStream(jpegs, 10), (s) => s.close());
    const server = cleanup.defer(
      await startTestServer({ camera: { source: `url:${camera.url}`, mjpeg: { encoderIdleStopS: 0.5 } } }),
      (s) => s.stop(),
    );
    const status = async (): Promise<Status> => (await (await fetch(`${server.url}/api/status`)).json()) as Status;
    const filled = await waitFor(async () => {
      const s = await status();
      return s.pipeline.preRoll.spanMs >= 2000 ? s : null;
    }, { timeoutMs: 30_000, what: 'a JPEG pre-roll' });
    expect(filled.captureState).toBe('running');
    // Nothing configured: the probe found MJPEG and chose the MJPEG path.
    expect(filled.recordingPath.mode).toBe('mjpeg');
    expect(filled.pipeline.onDemandEncoder).toMatchObject({ state: 'off', starts: 0 });
    // The pre-roll is the camera's JPEGs: its bytes lie between its pictures times the smallest
    // and the largest JPEG served (raw frames would be 115 200 bytes each).
    const preRoll = filled.pipeline.preRoll;
    expect(preRoll.units).toBeGreaterThanOrEqual(2);
    const lengths = jpegs.map((j) => j.length);
    expect(preRoll.bytes).toBeGreaterThanOrEqual(preRoll.units * Math.min(...lengths));
    expect(preRoll.bytes).toBeLessThanOrEqual(preRoll.units * Math.max(...lengths));

    const controller = new AbortController();
    const video = await fetch(`${server.url}/stream.mp4`, { signal: controller.signal });
    expect(video.status).toBe(200);
    const reader = video.body!.getReader();
    let bytes = 0;
    while (bytes < 2000) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    expect(bytes).toBeGreaterThanOrEqual(2000);
    expect((await status()).pipeline.onDemandEncoder).toMatchObject({ state: 'running', starts: 1 });
    controller.abort();
    await reader.cancel().catch(() => undefined);
    await waitFor(async () => ((await status()).pipeline.onDemandEncoder?.stops === 1 ? true : null), { timeoutMs: 30_000, what: 'the encoder stopped after the viewer left' });
    await sleep(1000);
    expect((await status()).pipeline.onDemandEncoder).toMatchObject({ state: 'off', starts: 1, stops: 1 });

    // The live view: the camera's JPEGs as they came (320 px fits the live width).
    const live = new AbortController();
    const mjpg = await fetch(`${server.url}/stream.mjpg`, { signal: live.signal });
    const liveReader = mjpg.body!.getReader();
    let buffer = Buffer.alloc(0);
    const sent = new Set(jpegs.map((j) => j.toString('base64')));
    let found: Buffer | null = null;
    while (!found && buffer.length < 2_000_000) {
      const { value, done } = await liveReader.read();
      if (done) break;
      buffer = Buffer.concat([buffer, Buffer.from(value)]);
      const start = buffer.indexOf(Buffer.from([0xff, 0xd8]));
      const end = start >= 0 ? buffer.indexOf(Buffer.from('\r\n--'), start) : -1;
      if (end > start) found = buffer.subarray(start, end);
    }
    live.abort();
    await liveReader.cancel().catch(() => undefined);
    expect(found).not.toBeNull();
    expect(sent.has(found!.toString('base64'))).toBe(true);
  }, 120_000);
});
