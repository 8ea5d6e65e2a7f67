import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCleanupStack, makeJpegs, startMjpegStream, waitFor } from '@preroll/testkit';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { allocatingBuffers } from '../src/assembler';
import { i420Bytes } from '../src/frame';
import { AnalysisPicker, createSource, JpegSplitter, mjpegDecoderArgs, mjpegLowresFor, mjpegSourceArgs, isDecodeErrorLine, parseShowinfoPtsTime, startMjpegRun, type CameraJpeg, type CaptureState, type Frame } from '../src/index';

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

describe('mjpegSourceArgs and mjpegDecoderArgs', () => {
  test('the camera ffmpeg only copies the JPEGs; the decoder reads multipart on stdin at reduced size', () => {
    const args = mjpegSourceArgs('http://127.0.0.1:1/stream.mjpg');
    expect(args.filter((a) => a === '-i')).toHaveLength(1);
    expect(args).not.toContain('-lowres');
    expect(args).not.toContain('-vf');
    expect(args.slice(-5)).toEqual(['-c:v', 'copy', '-f', 'mjpeg', 'pipe:1']);
    const decoder = mjpegDecoderArgs(3);
    expect(decoder.slice(decoder.indexOf('-lowres'), decoder.indexOf('-lowres') + 2)).toEqual(['-lowres', '3']);
    expect(decoder.slice(decoder.indexOf('-f'), decoder.indexOf('-f') + 4)).toEqual(['-f', 'mpjpeg', '-i', 'pipe:0']);
    expect(decoder.slice(-3)).toEqual(['-f', 'rawvideo', 'pipe:1']);
  });

  test('a showinfo frame line (ffmpeg 5 and 7) and a decode error (ffmpeg 5 and 7) are told from other lines', () => {
    expect(parseShowinfoPtsTime('[Parsed_showinfo_2 @ 0x5] n:   3 pts:      3 pts_time:0.12    pos:    54051 fmt:yuv420p sar:1/1 s:160x120')).toBe(0.12);
    expect(parseShowinfoPtsTime('[Parsed_showinfo_2 @ 0x7f] n:   1 pts:      1 pts_time:1       duration:      1 duration_time:1       fmt:yuv420p cl:center sar:1/1 s:160x120')).toBe(1);
    expect(parseShowinfoPtsTime('[Parsed_showinfo_2 @ 0x5] config in time_base: 1/25, frame_rate: 25/1')).toBeNull();
    expect(parseShowinfoPtsTime('frame=    4 fps=0.0 q=-0.0 size=      84kB')).toBeNull();
    expect(isDecodeErrorLine('Error while decoding stream #0:0: Invalid data found when processing input')).toBe(true);
    expect(isDecodeErrorLine('[vist#0:0/mjpeg @ 0x5] [dec:mjpeg @ 0x6] Error submitting packet to decoder: Invalid data found when processing input')).toBe(true);
    expect(isDecodeErrorLine('[mjpeg @ 0x5] huffman table decode error')).toBe(false);
  });
});

describe('mjpegLowresFor', () => {
  test.each([
    [640, 160, 2],
    [480, 160, 1],
    [1920, 160, 3],
    [1280, 160, 3],
    [320, 160, 1],
    [160, 160, 0],
    [100, 160, 0],
    [640, 320, 1],
  ])('a %i px camera, analysis width %i → lowres %i', (cameraWidth, analysisWidth, lowres) => {
    expect(mjpegLowresFor(cameraWidth, analysisWidth)).toBe(lowres);
    // The decoded width keeps the analysis width, and one more halving would not.
    if (lowres > 0) expect(Math.ceil(cameraWidth / 2 ** lowres)).toBeGreaterThanOrEqual(analysisWidth);
    if (lowres < 3) expect(Math.ceil(cameraWidth / 2 ** (lowres + 1))).toBeLessThan(analysisWidth);
  });
});

describe('AnalysisPicker', () => {
  test('a 15 fps camera with jitter analysed at 5 fps: exactly every third picture', () => {
    const picker = new AnalysisPicker(5);
    const picked: number[] = [];
    for (let i = 0; i < 45; i++) {
      // ±5 ms of jitter around 66.7 ms.
      const arrivalUs = Math.round(i * 66_667 + (i % 2 ? 5_000 : -5_000));
      if (picker.due(arrivalUs)) {
        picker.taken(arrivalUs);
        picked.push(i);
      }
    }
    expect(picked).toHaveLength(15);
    expect(picked.every((n, k) => n === 3 * k)).toBe(true);
  });

  test('a due picture not taken leaves the next one due; time going back re-arms it', () => {
    const picker = new AnalysisPicker(5);
    picker.taken(0);
    expect(picker.due(100_000)).toBe(false);
    expect(picker.due(200_000)).toBe(true);
    expect(picker.due(266_000)).toBe(true);
    picker.taken(266_000);
    expect(picker.due(300_000)).toBe(false);
    expect(picker.due(10_000)).toBe(true);
  });
});

describe('startMjpegRun', () => {
  test('the decoder receives exactly the analysed pictures; each frame is its JPEG decoded, with its arrival time', async () => {
    const stream = cleanup.defer(await startMjpegStream(jpegs, 10), (s) => s.close());
    const frames: Array<{ y: Buffer; ptsUs: number; fromStream: boolean }> = [];
    const analysed: Array<{ data: Buffer; arrivalUs: number }> = [];
    const seen: Array<{ arrivalUs: number; analysed: boolean; busy: boolean }> = [];
    let busy = false;
    let size: { width: number; height: number } | null = null;
    const run = startMjpegRun(stream.url, { lowres: 1, analysisFps: 2.5, ptsWaitMs: 10_000 }, {
      onFormat: (width, height) => void (size = { width, height }),
      frameBuffers: () => allocatingBuffers(i420Bytes(size!.width, size!.height)),
      onFrame: (packed, ptsUs, fromStream) => {
        if (packed) frames.push({ y: Buffer.from(packed.subarray(0, size!.width * size!.height)), ptsUs, fromStream });
      },
      onFallback: (reason) => {
        throw new Error(`no fallback expected: ${reason}`);
      },
      onJpeg: (data, arrivalUs, isAnalysed) => {
        seen.push({ arrivalUs, analysed: isAnalysed, busy });
        busy = false;
        if (isAnalysed) analysed.push({ data, arrivalUs });
      },
      // Called while the picture it skips is handed on, before its onJpeg.
      onDecoderBusy: () => void (busy = true),
      onCorruptJpeg: () => undefined,
    });
    cleanup.defer(run, (r) => r.stop());
    await waitFor(() => seen.length >= 30 && frames.length >= 4, { timeoutMs: 30_000, what: '30 camera JPEGs and 4 frames' });
    await run.stop();
    const { error } = await run.finished;
    expect(error).toBeNull();
    // Every analysed picture came back as one frame, in order, stamped with its JPEG's arrival.
    expect(frames).toHaveLength(analysed.length);
    expect(frames.map((f) => f.ptsUs)).toEqual(analysed.map((j) => j.arrivalUs));
    expect(frames.every((f) => !f.fromStream)).toBe(true);
    // 2.5 fps analysis: a picture is analysed exactly when 0.36 s (0.9 / 2.5) have passed since
    // the last analysed one (by arrival), unless the decoder still had 3 pictures in hand.
    let last: number | null = null;
    const wrong: number[] = [];
    seen.forEach((jpeg, i) => {
      const due = last === null || jpeg.arrivalUs - last >= 360_000 || jpeg.arrivalUs < last;
      if (jpeg.analysed !== (due && !jpeg.busy)) wrong.push(i);
      if (jpeg.analysed) last = jpeg.arrivalUs;
    });
    expect(wrong).toEqual([]);
    expect(analysed.length).toBeGreaterThanOrEqual(2);
    expect(analysed.length).toBeLessThan(seen.length);
    expect(size).toEqual({ width: 160, height: 120 });
    // The luma of each frame is exactly that JPEG decoded at half size on its own.
    for (let i = 0; i < frames.length; i++) {
      const reference = execFileSync('ffmpeg', ['-v', 'error', '-lowres', '1', '-f', 'mjpeg', '-i', 'pipe:0', '-pix_fmt', 'yuv420p', '-f', 'rawvideo', 'pipe:1'], { input: analysed[i].data });
      expect(frames[i].y.equals(reference.subarray(0, 160 * 120))).toBe(true);
    }
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
    const spanUs = received[received.length - 1].ptsUs - received[0].ptsUs;
    const framesInSpan = frames.filter((f) => f.ptsUs >= received[0].ptsUs && f.ptsUs <= received[received.length - 1].ptsUs).length;
    // At most one per 0.36 s (2.5 fps with 10 % slack for jitter), by arrival.
    expect(framesInSpan).toBeLessThanOrEqual(Math.floor(spanUs / 360_000) + 1);
    expect(framesInSpan).toBeGreaterThanOrEqual(2);
    // Frames and JPEGs share one clock: every frame lies within the JPEGs' span or close to it.
    const last = received[received.length - 1].ptsUs;
    expect(Math.abs(frames[frames.length - 1].ptsUs - last)).toBeLessThan(2_000_000);
    const counts = source.stats().jpegs!;
    expect(counts.corrupt).toBe(0);
    // The decoder got only the analysed pictures (every frame is one of them), far fewer than the camera sent.
    expect(frames.length).toBeLessThanOrEqual(counts.analysed);
    expect(counts.analysed).toBeLessThan((counts.delivered + counts.beforeFirstFrame) / 2);
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

  test('a detection decoder that dies ends the run: the source restarts both processes and frames and JPEGs go on', async () => {
    const stream = cleanup.defer(await startMjpegStream(jpegs, 10), (s) => s.close());
    const source = cleanup.defer(
      createSource(`url:${stream.url}`, { mjpeg: { lowres: 2 }, framePool: true, backoff: { initialMs: 100, maxMs: 500, factor: 2, resetAfterMs: 30_000 } }),
      (s) => s.stop(),
    );
    let frames = 0;
    let received = 0;
    source.onFrame(() => frames++);
    source.onJpeg!(() => received++);
    await source.start();
    await waitFor(() => frames >= 3, { timeoutMs: 30_000, what: 'first frames' });
    // The decoder is the ffmpeg child of this process that reads multipart on stdin.
    const decoders = readdirSync('/proc')
      .filter((pid) => /^\d+$/.test(pid))
      .filter((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mpjpeg');
        } catch (error) {
          void error; // the process ended while we looked
          return false;
        }
      });
    expect(decoders).toHaveLength(1);
    process.kill(Number(decoders[0]), 'SIGKILL');
    await waitFor(() => source.stats().restarts === 1, { timeoutMs: 30_000, what: 'a restart after the decoder died' });
    expect(source.stats().lastError?.code).toBe('CAPTURE_SOURCE_EXITED');
    expect(source.stats().lastError?.message).toContain('detection decoder');
    const [framesBefore, jpegsBefore] = [frames, received];
    await waitFor(() => frames >= framesBefore + 3 && received >= jpegsBefore + 10, { timeoutMs: 30_000, what: 'frames and JPEGs after the restart' });
    expect(source.state()).toBe('running');
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
