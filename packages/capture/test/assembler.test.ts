import fc from 'fast-check';
import { alignStride, FrameAssembler, i420Bytes, rawFrameBytes, type RawLayout } from '../src/index';

const PAD = 0xee;

/** A raw strided frame whose pixels encode (plane, x, y, n) and whose padding is 0xEE. */
function rawFrame(layout: RawLayout, n: number): Buffer {
  const { width, height, strideY } = layout;
  const buf = Buffer.alloc(rawFrameBytes(layout), PAD);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) buf[y * strideY + x] = (x + 3 * y + n) % 200;
  const cs = strideY / 2;
  const base = strideY * height;
  for (let p = 0; p < 2; p++) {
    for (let y = 0; y < height / 2; y++) {
      for (let x = 0; x < width / 2; x++) buf[base + p * cs * (height / 2) + y * cs + x] = (50 * p + x + y + n) % 200;
    }
  }
  return buf;
}

/** What the packed frame must be: the same formula with no padding. */
function expectedPacked(width: number, height: number, n: number): Buffer {
  const out = Buffer.alloc(i420Bytes(width, height));
  let i = 0;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[i++] = (x + 3 * y + n) % 200;
  for (let p = 0; p < 2; p++) for (let y = 0; y < height / 2; y++) for (let x = 0; x < width / 2; x++) out[i++] = (50 * p + x + y + n) % 200;
  return out;
}

describe('FrameAssembler', () => {
  test('removes stride padding from luma and both chroma planes', () => {
    const layout = { width: 100, height: 20, strideY: alignStride(100, 64) };
    expect(layout.strideY).toBe(128);
    const frames: Buffer[] = [];
    new FrameAssembler(layout).push(rawFrame(layout, 3), (f) => frames.push(f!));
    expect(frames).toHaveLength(1);
    expect(frames[0].equals(expectedPacked(100, 20, 3))).toBe(true);
    expect(frames[0].includes(PAD)).toBe(false);
  });

  test('any chunking of the stream yields the same frames (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(64, 128),
        fc.integer({ min: 16, max: 60 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 8 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }),
        (align, width, height, count, cuts) => {
          const layout = { width, height, strideY: alignStride(width, align) };
          const stream = Buffer.concat(Array.from({ length: count }, (_, n) => rawFrame(layout, n)));
          const assembler = new FrameAssembler(layout);
          const frames: Buffer[] = [];
          let offset = 0;
          let k = 0;
          while (offset < stream.length) {
            const size = cuts[k++ % cuts.length];
            assembler.push(stream.subarray(offset, offset + size), (f) => frames.push(f!));
            offset += size;
          }
          expect(frames).toHaveLength(count);
          frames.forEach((f, n) => expect(f.equals(expectedPacked(width, height, n))).toBe(true));
          expect(assembler.pending).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('reads into the target it names (straight into the frame when unpadded) yield the same frames, whatever the read sizes (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1, 64),
        fc.integer({ min: 16, max: 60 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 8 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }),
        (align, width, height, count, reads) => {
          const layout = { width, height, strideY: alignStride(width, align) };
          const stream = Buffer.concat(Array.from({ length: count }, (_, n) => rawFrame(layout, n)));
          const assembler = new FrameAssembler(layout);
          const frames: Buffer[] = [];
          let offset = 0;
          let k = 0;
          while (offset < stream.length) {
            // A read fills at most the target and at most what the "pipe" holds.
            const target = assembler.readTarget();
            const bytes = stream.copy(target, 0, offset, Math.min(stream.length, offset + reads[k++ % reads.length]));
            offset += bytes;
            assembler.commitRead(bytes, (f) => frames.push(f!));
          }
          expect(frames).toHaveLength(count);
          frames.forEach((f, n) => expect(f.equals(expectedPacked(width, height, n))).toBe(true));
          expect(new Set(frames).size).toBe(count);
        },
      ),
      { numRuns: 150 },
    );
  });

  test('an unpadded layout hands frames over without copying and never reuses their memory', () => {
    const layout = { width: 64, height: 4, strideY: 64 };
    const assembler = new FrameAssembler(layout);
    const frames: Buffer[] = [];
    assembler.push(Buffer.concat([rawFrame(layout, 0), rawFrame(layout, 1)]), (f) => frames.push(f!));
    expect(frames[0].equals(expectedPacked(64, 4, 0))).toBe(true);
    expect(frames[1].equals(expectedPacked(64, 4, 1))).toBe(true);
  });

  test('rejects a stride below the width', () => {
    expect(() => new FrameAssembler({ width: 100, height: 10, strideY: 64 })).toThrow(RangeError);
  });
});
