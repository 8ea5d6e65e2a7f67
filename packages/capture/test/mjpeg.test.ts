import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCleanupStack, makeJpegs, startMjpegStream, waitFor } from '@preroll/testkit';
import { createSource, JpegSplitter, mjpegSourceArgs, type CameraJpeg, type CaptureState, type Frame } from '../src/index';

const cleanup = createCleanupStack();
afterEach(() => cleanup.run());

const jpegs = makeJpegs({ width: 320, height: 240, fps: 10, seconds: 2 });

/** A JPEG whose APP1 segment holds a whole thumbnail JPEG (its own SOI and EOI), like a camera's EXIF. */
function withThumbnail(jpeg: Buffer, thumbnail: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from('Exif\0\0'), thumbnail]);
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1]), Buffer.from([(body.length + 2) >> 8, (body.length + 2) & 0xff]), body]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}

describe('JpegSplitter', () => {
  test('cuts concatenated pictures at every possible chunk boundary, byte for byte', () => {
    const stream = Buffer.concat([jpegs[0], jpegs[1], jpegs[2]]);
    for (const step of [1, 7, 1000, stream.length]) {
      const splitter = new JpegSplitter();
      const out: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) out.push(...splitter.push(stream.subarray(i, i + step)));
      expect(out).toHaveLength(3);
      out.forEach((jpeg, i) => expect(jpeg.equals(jpegs[i])).toBe(true));
      expect(splitter.stats()).toEqual({ jpegs: 3, corrupt: 0, discardedBytes: 0 });
    }
  });

  test('skips bytes between pictures (multipart headers) and counts them', () => {
    const splitter = new JpegSplitter();
    const head = Buffer.from('--frame\r\nContent-Type: image/jpeg\r\n\r\n');
    const out = splitter.push(Buffer.concat([head, jpegs[0], Buffer.from('\r\n'), head, jpegs[1]]));
    expect(out).toHaveLength(2);
    expect(out[1].equals(jpegs[1])).toBe(true);
    expect(splitter.stats().discardedBytes).toBe(head.length * 2 + 2);
  });

  test('an EXIF thumbnail (a JPEG inside a segment) does not cut the picture short', () => {
    const big = withThumbnail(jpegs[3], jpegs[4].subarray(0, 2000));
    const splitter = new JpegSplitter();
    const out = splitter.push(Buffer.concat([big, jpegs[5]]));
    expect(out).toHaveLength(2);
    expect(out[0].equals(big)).toBe(true);
  });

  test('a torn picture (a new start of image inside it), one without a scan and an oversize one are dropped and counted', () => {
    const splitter = new JpegSplitter(jpegs[0].length * 3);
    const torn = jpegs[6].subarray(0, Math.floor(jpegs[6].length / 2));
    const noScan = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xd9]);
    const out = splitter.push(Buffer.concat([torn, jpegs[7], noScan, jpegs[8]]));
    expect(out).toHaveLength(2);
    expect(out[0].equals(jpegs[7])).toBe(true);
    expect(out[1].equals(jpegs[8])).toBe(true);
    expect(splitter.stats().corrupt).toBe(2);
    // A picture that never ends is cut at the byte limit, and the next one is found again.
    const endless = Buffer.concat([jpegs[9].subarray(0, jpegs[9].length - 2), Buffer.alloc(jpegs[0].length * 4, 0x11)]);
    expect(splitter.push(endless)).toHaveLength(0);
    expect(splitter.stats().corrupt).toBe(3);
    expect(splitter.push(jpegs[10])).toHaveLength(1);
  });
});

describe('mjpegSourceArgs', () => {
  test('one input, a reduced decode for detection on stdout and a stream copy on pipe 3', () => {
    const args = mjpegSourceArgs('http://127.0.0.1:1/stream.mjpg', { lowres: 2, analysisFps: 4 });
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(args.slice(args.indexOf('-lowres'), args.indexOf('-lowres') + 2)).toEqual(['-lowres', '2']);
    expect(args.join(' ')).toContain("gte(t-prev_selected_t\\,0.2250)");
    expect(args.slice(-4)).toEqual(['copy', '-f', 'mjpeg', 'pipe:3']);
  });
});

describe('MJPEG url: source', () => {
  test('frames at reduced size and rate for detection, the camera JPEGs unchanged at full rate on the same clock', async () => {
    const stream = cleanup.defer(await startMjpegStream(jpegs, 10), (s) => s.close());
    const source = cleanup.defer(createSource(`url:${stream.url}`, { mjpeg: { lowres: 1, analysisFps: 2.5 }, framePool: true }), (s) => s.stop());
    const frames: Array<{ ptsUs: number; width: number; height: number }> = [];
    const received: CameraJpeg[] = [];
    source.onFrame((frame: Frame) => frames.push({ ptsUs: frame.ptsUs, width: frame.width, height: frame.height }));
    source.onJpeg!((jpeg) => received.push(jpeg));
    await source.start();
    await waitFor(() => received.length >= 30, { timeoutMs: 30_000, what: '30 camera JPEGs' });
    await source.stop();
    expect(frames[0]).toMatchObject({ width: 160, height: 120 });
    // Every JPEG is one the camera sent, byte for byte.
    for (const jpeg of received) expect(jpegs.some((sent) => sent.equals(jpeg.data))).toBe(true);
    for (let i = 1; i < received.length; i++) {
      expect(received[i].ptsUs).toBeGreaterThan(received[i - 1].ptsUs);
      expect(received[i].seq).toBe(received[i - 1].seq + 1);
    }
    // About a quarter of the pictures are analysed (10 fps camera, 2.5 fps analysis).
    const spanUs = received[received.length - 1].ptsUs - received[0].ptsUs;
    const framesInSpan = frames.filter((f) => f.ptsUs >= received[0].ptsUs && f.ptsUs <= received[received.length - 1].ptsUs).length;
    expect(framesInSpan).toBeLessThanOrEqual(Math.ceil((spanUs / 1e6) * 2.5) + 1);
    expect(framesInSpan).toBeGreaterThanOrEqual(2);
    // Frames and JPEGs share one clock: every frame lies within the JPEGs' span or close to it.
    const last = received[received.length - 1].ptsUs;
    expect(Math.abs(frames[frames.length - 1].ptsUs - last)).toBeLessThan(2_000_000);
    expect(source.stats().jpegs).toMatchObject({ corrupt: 0 });
  });

  test('a corrupt JPEG is dropped and counted; a camera that drops the connection is restarted and its JPEGs go on', async () => {
    const stream = cleanup.defer(await startMjpegStream(jpegs, 10), (s) => s.close());
    const source = cleanup.defer(
      createSource(`url:${stream.url}`, { mjpeg: { lowres: 2 }, framePool: true, backoff: { initialMs: 100, maxMs: 500, factor: 2, resetAfterMs: 30_000 } }),
      (s) => s.stop(),
    );
    const received: CameraJpeg[] = [];
    const states: CaptureState[] = [];
    source.onJpeg!((jpeg) => received.push(jpeg));
    source.onState((state) => states.push(state));
    await source.start();
    await waitFor(() => received.length >= 5, { timeoutMs: 30_000, what: 'first JPEGs' });
    // Half a picture, then a whole one: the torn one must not reach the listeners.
    stream.sendRaw(jpegs[0].subarray(0, Math.floor(jpegs[0].length / 2)));
    await waitFor(() => source.stats().jpegs?.corrupt === 1, { timeoutMs: 30_000, what: 'the corrupt JPEG counted' });
    for (const jpeg of received) expect(jpegs.some((sent) => sent.equals(jpeg.data))).toBe(true);
    const before = received.length;
    stream.dropClients();
    await waitFor(() => source.stats().restarts === 1 && received.length >= before + 10, { timeoutMs: 60_000, what: 'restart and new JPEGs' });
    expect(states).toContain('restarting');
    expect(source.state()).toBe('running');
    expect(source.stats().lastError?.code).toMatch(/^CAPTURE_(SOURCE_EXITED|STALLED)$/);
    for (let i = 1; i < received.length; i++) expect(received[i].ptsUs).toBeGreaterThan(received[i - 1].ptsUs);
  });

  test('a camera that never answers: start() returns, the source restarts with CAPTURE_STALLED as any url: source', async () => {
    const hanging = new Set<ServerResponse>();
    const server = createServer((_req, res) => {
      // Headers, then silence: the connection stays open, no picture ever comes.
      res.writeHead(200, { 'Content-Type': 'multipart/x-mixed-replace; boundary=frame' });
      res.flushHeaders();
      hanging.add(res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.defer(server, (s) => new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      s.close(() => resolve());
    }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream.mjpg`;
    const source = cleanup.defer(
      createSource(`url:${url}`, { mjpeg: {}, keepTrying: true, startWaitMs: 500, firstFrameTimeoutMs: 1500, backoff: { initialMs: 100, maxMs: 500, factor: 2, resetAfterMs: 30_000 } }),
      (s) => s.stop(),
    );
    const jpegs: CameraJpeg[] = [];
    source.onJpeg!((jpeg) => jpegs.push(jpeg));
    await source.start();
    await waitFor(() => source.stats().restarts >= 1, { timeoutMs: 30_000, what: 'a restart of the silent camera' });
    expect(source.stats().lastError?.code).toBe('CAPTURE_STALLED');
    expect(['restarting', 'starting']).toContain(source.state());
    expect(jpegs).toHaveLength(0);
  });
});
