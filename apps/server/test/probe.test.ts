import { delimiter, resolve } from 'node:path';
import { main } from '../src/cli';
import { memoryIo } from './io';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

describe('preroll probe', () => {
  const savedPath = process.env.PATH;
  afterEach(() => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_RPICAM_BUSY;
  });

  test('--json: one line per frame then a summary (fake Pi camera)', async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    const io = memoryIo();
    const code = await main(['probe', '--source', 'rpicam:320x240@30', '--frames', '6', '--json'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    const lines = io.jsonLines();
    expect(lines).toHaveLength(7);
    lines.slice(0, 6).forEach((line, n) => {
      expect(line).toMatchObject({ type: 'frame', seq: n, width: 320, height: 240 });
      expect(Object.keys(line).sort()).toEqual(['height', 'lumaMean', 'ptsUs', 'seq', 'type', 'width']);
      expect(line.lumaMean).toBeGreaterThan(16);
      expect(line.lumaMean).toBeLessThan(216);
    });
    expect(lines[5].ptsUs).toBeGreaterThanOrEqual(5 * 33_333);
    // `dropped` counts sensor frames the camera skipped (gaps in its timestamps): none on an idle
    // machine, a few when a loaded one makes the reader late, so only its type is checked here.
    expect(lines[6]).toMatchObject({ type: 'summary', frames: 6, width: 320, height: 240, dropped: expect.any(Number) });
    // 30 on an idle machine; lower when a loaded one makes the camera skip frames.
    expect(lines[6].fps).toBeGreaterThan(0);
    expect(lines[6].fps).toBeLessThanOrEqual(31);
  });

  test('the lumaMean excludes stride padding (it matches the mean of the visible pixels)', async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    const io = memoryIo();
    // 100 px rows are padded to 128 bytes of 0xEE (238); a mean that counted them would be far higher.
    await main(['probe', '--source', 'rpicam:100x40@30', '--frames', '1', '--json'], io);
    let sum = 0;
    for (let y = 0; y < 40; y++) for (let x = 0; x < 100; x++) sum += 16 + ((x + 2 * y) % 200);
    expect(io.jsonLines()[0].lumaMean).toBeCloseTo(sum / 4000, 2);
  });

  test('a failing camera exits 1 with the error code and message', async () => {
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedPath}`;
    process.env.FAKE_RPICAM_BUSY = '1';
    const io = memoryIo();
    expect(await main(['probe', '--source', 'rpicam', '--frames', '3', '--json'], io)).toBe(1);
    expect(io.err()).toMatch(/CAPTURE_CAMERA_BUSY: the camera is in use/);
  });

  test('bad usage exits 2 with the usage text', async () => {
    const io = memoryIo();
    expect(await main(['probe', '--frames', 'many'], io)).toBe(2);
    expect(io.err()).toMatch(/--frames must be an integer/);
    expect(io.err()).toMatch(/Usage: preroll probe/);
    expect(await main(['probe', '--source', 'webcam'], memoryIo())).toBe(1);
  });

  test('without a camera the default source is the demo scene, and says why', async () => {
    process.env.PATH = savedPath?.split(delimiter).filter((dir) => !dir.includes('test-fixtures')).join(delimiter);
    const io = memoryIo();
    expect(await main(['probe', '--frames', '2', '--json'], io)).toBe(0);
    expect(io.err()).toMatch(/using source "demo" \(rpicam-vid is not installed/);
    expect(io.jsonLines()[2]).toMatchObject({ type: 'summary', frames: 2, width: 640, height: 360 });
  });
});
