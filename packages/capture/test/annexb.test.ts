import fc from 'fast-check';
import { runTool } from '@preroll/process';
import { codecStringFromSps, createAccessUnitSplitter, describeAccessUnit, NAL, nalUnits, withParameterSets } from '../src';

/** Applies H.264 emulation prevention, so payload bytes never form a start code. */
function escapeRbsp(bytes: number[]): number[] {
  const out: number[] = [];
  let zeros = 0;
  for (const b of bytes) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out;
}

interface NalSpec {
  readonly type: number;
  /** For slices: first_mb_in_slice == 0 (the first slice of a picture). */
  readonly first?: boolean;
  readonly payload: number[];
  readonly fourByteCode: boolean;
}

function encodeNal(nal: NalSpec): number[] {
  const header = 0x60 | nal.type;
  const body = [...nal.payload];
  // rbsp_trailing_bits: the last byte is never zero.
  if (body[body.length - 1] === 0) body[body.length - 1] = 0x01;
  if (nal.type === NAL.SLICE || nal.type === NAL.IDR) {
    // The first payload bit is first_mb_in_slice's ue(v) code: 1 means 0.
    body[0] = nal.first ? body[0] | 0x80 : body[0] & 0x7f || 0x40;
  }
  return [...(nal.fourByteCode ? [0, 0, 0, 1] : [0, 0, 1]), header, ...escapeRbsp(body)];
}

const payload = fc.array(fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constant(0)), { minLength: 1, maxLength: 40 });

/** One access unit: optional AUD, optional SPS/PPS/SEI, then 1..3 slices of one picture. */
const accessUnit = fc.record({
  aud: fc.boolean(),
  params: fc.boolean(),
  sei: fc.boolean(),
  idr: fc.boolean(),
  slices: fc.array(payload, { minLength: 1, maxLength: 3 }),
  extra: fc.array(payload, { minLength: 3, maxLength: 3 }),
  four: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
});

type AuSpec = typeof accessUnit extends fc.Arbitrary<infer T> ? T : never;

function buildAu(au: AuSpec, withAud: boolean): Buffer {
  const nals: NalSpec[] = [];
  let f = 0;
  if (withAud && au.aud) nals.push({ type: NAL.AUD, payload: [0xf0], fourByteCode: au.four[f++] });
  if (au.params) {
    nals.push({ type: NAL.SPS, payload: [0x42, 0xc0, 0x1e, ...au.extra[0]], fourByteCode: au.four[f++] });
    nals.push({ type: NAL.PPS, payload: au.extra[1], fourByteCode: au.four[f++] });
  }
  if (au.sei) nals.push({ type: NAL.SEI, payload: au.extra[2], fourByteCode: au.four[f++] });
  au.slices.forEach((p, i) => nals.push({ type: au.idr ? NAL.IDR : NAL.SLICE, first: i === 0, payload: p, fourByteCode: au.four[4 + i] }));
  return Buffer.from(nals.flatMap(encodeNal));
}

function splitInChunks(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    chunks.push(data.subarray(prev, p));
    prev = p;
  }
  return chunks;
}

describe('Annex-B access-unit splitter', () => {
  it('recovers exactly the access units of any stream, with or without AUDs, in any chunking (property)', () => {
    fc.assert(
      fc.property(fc.array(accessUnit, { minLength: 1, maxLength: 12 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 30 }), (aus, withAud, cuts) => {
        // Without AUDs every unit still needs a picture boundary: the first slice marks it.
        const units = aus.map((au) => buildAu(au, withAud));
        const stream = Buffer.concat(units);
        const splitter = createAccessUnitSplitter();
        const out: Buffer[] = [];
        for (const chunk of splitInChunks(stream, cuts)) out.push(...splitter.push(chunk));
        out.push(...splitter.flush());
        expect(out.map((b) => b.toString('hex'))).toEqual(units.map((b) => b.toString('hex')));
      }),
      { numRuns: 300 },
    );
  });

  it('drops bytes before the first start code and keeps nothing after flush', () => {
    const splitter = createAccessUnitSplitter();
    const au = Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 0x88, 0x11]);
    expect(splitter.push(Buffer.concat([Buffer.from([7, 7, 7]), au]))).toEqual([]);
    expect(splitter.flush().map((b) => b.toString('hex'))).toEqual([au.toString('hex')]);
    expect(splitter.pendingBytes()).toBe(0);
    expect(splitter.flush()).toEqual([]);
  });

  it.each([
    ['with AUDs', 'aud=1'],
    ['without AUDs', 'aud=0'],
  ])('splits real libx264 output %s into one unit per frame, keyframes every GOP with SPS/PPS', async (_name, params) => {
    const { stdout } = await runTool('ffmpeg', [
      '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10', '-frames:v', '35',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '10', '-keyint_min', '10', '-sc_threshold', '0', '-bf', '0',
      '-x264-params', params, '-f', 'h264', 'pipe:1',
    ]);
    const splitter = createAccessUnitSplitter();
    const units: Buffer[] = [];
    for (let off = 0; off < stdout.length; off += 4093) units.push(...splitter.push(stdout.subarray(off, off + 4093)));
    units.push(...splitter.flush());
    expect(units).toHaveLength(35);
    expect(Buffer.concat(units).equals(stdout)).toBe(true);
    const infos = units.map(describeAccessUnit);
    expect(infos.map((i, n) => (i.keyframe ? n : -1)).filter((n) => n >= 0)).toEqual([0, 10, 20, 30]);
    for (const info of infos.filter((i) => i.keyframe)) expect(info.hasSps && info.hasPps).toBe(true);
    expect(units.every((u) => nalUnits(u)[0].type === (params === 'aud=1' ? NAL.AUD : NAL.SPS) || !describeAccessUnit(u).keyframe)).toBe(true);
    expect(codecStringFromSps(infos[0].sps as Buffer)).toMatch(/^avc1\.[0-9a-f]{6}$/);
  });
});

describe('parameter sets and codec strings', () => {
  const sps = Buffer.from([0x67, 0x42, 0xc0, 0x1f, 0xda]);
  const pps = Buffer.from([0x68, 0xce, 0x0f, 0xc8]);

  it('inserts SPS/PPS after the AUD of a keyframe that lacks them', () => {
    const idr = Buffer.from([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x65, 0x88, 0x84]);
    const fixed = withParameterSets(idr, sps, pps);
    expect(nalUnits(fixed).map((n) => n.type)).toEqual([NAL.AUD, NAL.SPS, NAL.PPS, NAL.IDR]);
    expect(describeAccessUnit(fixed)).toMatchObject({ keyframe: true, hasSps: true, hasPps: true });
  });

  it('inserts them first when there is no AUD, and leaves complete units alone', () => {
    const idr = Buffer.from([0, 0, 1, 0x65, 0x88, 0x84]);
    expect(nalUnits(withParameterSets(idr, sps, pps)).map((n) => n.type)).toEqual([NAL.SPS, NAL.PPS, NAL.IDR]);
    const complete = Buffer.concat([Buffer.from([0, 0, 0, 1]), sps, Buffer.from([0, 0, 0, 1]), pps, idr]);
    expect(withParameterSets(complete, sps, pps)).toBe(complete);
  });

  it.each([
    [[0x67, 0x42, 0xc0, 0x1f], 'avc1.42c01f'],
    [[0x67, 0x64, 0x00, 0x28], 'avc1.640028'],
    [[0x67, 0x4d, 0x40, 0x0b], 'avc1.4d400b'],
  ])('codec string of SPS %j is %s', (bytes, expected) => {
    expect(codecStringFromSps(Buffer.from(bytes))).toBe(expected);
  });
});
