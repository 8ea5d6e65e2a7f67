import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { resolveDetectorConfig } from '../src/config';
import { analysisGeometry } from '../src/downscale';
import { heatmapRgba, renderHeatmapPng } from '../src/heatmap';
import { buildAnalysisMask, loadMaskImage, parsePgm, watchedIndices } from '../src/mask';

const ascii = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));

describe('parsePgm', () => {
  test.each([
    ['binary 8-bit', Buffer.concat([Buffer.from('P5\n3 2\n255\n'), Buffer.from([0, 128, 255, 10, 20, 30])]), 3, 2, [0, 128, 255, 10, 20, 30]],
    ['binary with a comment', Buffer.concat([Buffer.from('P5\n# made by hand\n2 1\n255\n'), Buffer.from([0, 255])]), 2, 1, [0, 255]],
    ['binary 16-bit, big-endian', Buffer.concat([Buffer.from('P5 2 1 65535\n'), Buffer.from([0xff, 0xff, 0x80, 0x00])]), 2, 1, [255, 128]],
    ['plain (P2) with maxval 1', Buffer.from('P2\n2 2\n1\n0 1\n1 0\n'), 2, 2, [0, 255, 255, 0]],
  ])('%s', (_name, bytes, width, height, data) => {
    const image = parsePgm(Uint8Array.from(bytes));
    expect([image.width, image.height, [...image.data]]).toEqual([width, height, data]);
  });

  test.each([
    ['not a PGM', ascii('P6\n1 1\n255\n\0\0\0')],
    ['truncated raster', ascii('P5\n4 4\n255\n\0\0')],
    ['missing height', ascii('P5\n4')],
    ['zero size', ascii('P5\n0 4\n255\n')],
  ])('%s is DETECTOR_BAD_MASK', (_name, bytes) => {
    expect(() => parsePgm(bytes)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
  });
});

describe('buildAnalysisMask', () => {
  const g = analysisGeometry(640, 360, 160); // 160x90, box 4

  test('no mask: null (every pixel counts)', () => {
    expect(buildAnalysisMask(undefined, g)).toBeNull();
    expect(buildAnalysisMask({ rects: [] }, g)).toBeNull();
  });

  test('a rectangle masks the analysis pixels whose centre is inside', () => {
    const watched = buildAnalysisMask({ rects: [{ x: 0, y: 0, width: 0.5, height: 0.1 }] }, g)!;
    // Top 9 rows of the left 80 columns are masked.
    expect(watched[0]).toBe(0);
    expect(watched[8 * 160 + 79]).toBe(0);
    expect(watched[9 * 160]).toBe(1);
    expect(watched[80]).toBe(1);
    expect(watchedIndices(watched).length).toBe(160 * 90 - 80 * 9);
  });

  test('an image at frame size is averaged per analysis pixel; black masks', () => {
    const data = new Uint8Array(640 * 360).fill(255);
    for (let y = 0; y < 360; y++) for (let x = 320; x < 640; x++) data[y * 640 + x] = 0; // right half black
    const watched = buildAnalysisMask({ image: { width: 640, height: 360, data } }, g)!;
    expect(watched[79]).toBe(1);
    expect(watched[80]).toBe(0);
    expect(watchedIndices(watched).length).toBe(80 * 90);
  });

  test('an image at analysis size is used as is, and any size with the frame aspect is resampled', () => {
    const small = new Uint8Array(160 * 90).fill(255);
    small[5] = 0;
    expect(buildAnalysisMask({ image: { width: 160, height: 90, data: small } }, g)![5]).toBe(0);
    const half = new Uint8Array(320 * 180).fill(0);
    expect(() => buildAnalysisMask({ image: { width: 320, height: 180, data: half } }, g)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
    half.fill(255, 0, 320 * 90); // top half watched
    expect(watchedIndices(buildAnalysisMask({ image: { width: 320, height: 180, data: half } }, g)!).length).toBe(160 * 45);
  });

  test('a mask with the wrong aspect, or one hiding everything, is DETECTOR_BAD_MASK', () => {
    expect(() => buildAnalysisMask({ image: { width: 100, height: 100, data: new Uint8Array(10000).fill(255) } }, g)).toThrow(
      expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }),
    );
    expect(() => buildAnalysisMask({ rects: [{ x: 0, y: 0, width: 1, height: 1 }] }, g)).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
  });

  test('config rejects rectangles outside the frame and malformed images', () => {
    expect(() => resolveDetectorConfig({ mask: { rects: [{ x: 0.8, y: 0, width: 0.5, height: 0.1 }] } })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
    expect(() => resolveDetectorConfig({ mask: { image: { width: 4, height: 4, data: new Uint8Array(3) } } })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_MASK' }));
    expect(() => resolveDetectorConfig({ triggerLevel: -1 })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_CONFIG' }));
    expect(() => resolveDetectorConfig({ confirmFrames: 1.5 })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_CONFIG' }));
    expect(() => resolveDetectorConfig({ lighting: { compensation: 'magic' as never } })).toThrow(expect.objectContaining({ code: 'DETECTOR_BAD_CONFIG' }));
  });
});

describe('mask files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'preroll-mask-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('loads a PNG through sharp and a PGM by hand, to the same mask', async () => {
    const grey = new Uint8Array(64 * 36).fill(255);
    grey.fill(0, 0, 64 * 18);
    await sharp(Buffer.from(grey), { raw: { width: 64, height: 36, channels: 1 } }).png().toFile(join(dir, 'mask.png'));
    await writeFile(join(dir, 'mask.pgm'), Buffer.concat([Buffer.from('P5\n64 36\n255\n'), Buffer.from(grey)]));
    const png = await loadMaskImage(join(dir, 'mask.png'));
    const pgm = await loadMaskImage(join(dir, 'mask.pgm'));
    expect([png.width, png.height]).toEqual([64, 36]);
    expect(Buffer.from(png.data).equals(Buffer.from(pgm.data))).toBe(true);
    expect(Buffer.from(png.data).equals(Buffer.from(grey))).toBe(true);
  });

  test('a missing or undecodable file is DETECTOR_BAD_MASK', async () => {
    await writeFile(join(dir, 'junk.png'), 'not an image');
    await expect(loadMaskImage(join(dir, 'missing.png'))).rejects.toMatchObject({ code: 'DETECTOR_BAD_MASK' });
    await expect(loadMaskImage(join(dir, 'junk.png'))).rejects.toMatchObject({ code: 'DETECTOR_BAD_MASK' });
  });
});

describe('heat-map', () => {
  const map = { width: 8, height: 4, data: new Uint8Array(32) };
  map.data[9] = 200;
  map.data[10] = 60;

  test('RGBA: transparent where nothing changed, opaque red at the peak', () => {
    const rgba = heatmapRgba(map);
    expect(rgba[3]).toBe(0);
    expect([...rgba.subarray(36, 40)]).toEqual([255, 0, 0, 220]);
    expect(rgba[43]).toBeGreaterThan(0);
    expect(rgba[43]).toBeLessThan(220);
  });

  test('renders a PNG with alpha at the frame size', async () => {
    const png = await renderHeatmapPng(map, 320, 160);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels, meta.hasAlpha]).toEqual(['png', 320, 160, 4, true]);
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // The hot analysis pixel (1,1) covers frame pixels 40..79 x 40..79; a corner stays clear.
    expect(data[(60 * 320 + 60) * 4 + 3]).toBeGreaterThan(150);
    expect(data[(150 * 320 + 300) * 4 + 3]).toBe(0);
  });

  test('bad sizes are DETECTOR_BAD_HEATMAP', async () => {
    await expect(renderHeatmapPng(map, 0, 10)).rejects.toMatchObject({ code: 'DETECTOR_BAD_HEATMAP' });
    await expect(renderHeatmapPng({ width: 4, height: 4, data: new Uint8Array(3) }, 10, 10)).rejects.toMatchObject({ code: 'DETECTOR_BAD_HEATMAP' });
  });
});
