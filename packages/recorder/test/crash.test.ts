import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { ffprobeJson, runTool } from '@preroll/process';
import { readSidecar } from '@preroll/layout';
import { readTopLevelBoxes, recoverPartialClips } from '../src';
import { CRASH_GOP, CRASH_PTS } from './fixtures/record-child';
import { decodedLumaMeans, lumaOf, probe, tempDir } from './helpers';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function findPart(dataDir: string): string | null {
  const events = path.join(dataDir, 'events');
  if (!existsSync(events)) return null;
  for (const day of readdirSync(events)) {
    const part = readdirSync(path.join(events, day)).find((n) => n.endsWith('.part.mp4'));
    if (part) return path.join(events, day, part);
  }
  return null;
}

describe('crash safety', () => {
  it('a recorder killed with SIGKILL mid-event leaves a clip that plays up to its last fragment, and start-up recovery makes it a normal recording', async () => {
    const { dir, cleanup } = tempDir();
    const fixtures = path.join(__dirname, 'fixtures');
    const child = spawn(process.execPath, ['-r', path.join(fixtures, 'ts-register.js'), path.join(fixtures, 'record-child.ts'), dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    // The child transpiles the packages it loads: on a loaded machine its start alone can take
    // longer than the recording; the fragments' deadline counts from its "recording" line.
    const recording = new Promise<void>((resolve) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('recording')) resolve();
      });
    });
    try {
      let timer: NodeJS.Timeout | undefined;
      const started = await Promise.race([
        recording.then(() => true),
        exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 40_000))),
      ]).finally(() => clearTimeout(timer));
      if (!started) throw new Error(`the recorder child never started recording; child stderr: ${stderr}`);
      // Wait for a few fragments of the event to be on disk, then pull the plug.
      let part: string | null = null;
      // The child transpiles the sources on start: on a loaded machine that alone can take 15 s.
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (Date.now() > deadline) throw new Error(`no fragments in time; child stderr: ${stderr}`);
        part = findPart(dir);
        if (part && (await readTopLevelBoxes(part)).boxes.filter((b) => b.type === 'moof').length >= 4) break;
        await sleep(20);
      }
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      const partFile = part as string;

      // The killed file itself plays: every packet ffprobe lists decodes, starting with a keyframe.
      const copy = path.join(dir, 'as-killed.mp4');
      copyFileSync(partFile, copy);
      const raw = await probe(copy);
      expect(raw.packets.length).toBeGreaterThanOrEqual(4 * CRASH_GOP);
      expect(raw.packets[0].key).toBe(true);
      const decoded = await runTool('ffmpeg', ['-v', 'error', '-i', copy, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
      expect(decoded.stdout.length / (320 * 240)).toBeGreaterThanOrEqual(raw.packets.length - CRASH_GOP);

      // Next start: recovery finds it, remuxes it and writes the sidecar.
      const results = await recoverPartialClips({ dataDir: dir });
      expect(results).toHaveLength(1);
      const [result] = results;
      expect(result.status).toBe('recovered');
      expect(result.fragments).toBeGreaterThanOrEqual(4);
      const sidecar = result.recording!.sidecar;
      expect(sidecar.kind).toBe('manual');
      const clip = path.join(dir, sidecar.files.clip);
      const p = await probe(clip);
      expect(p.moovFirst).toBe(true);
      expect(p.frames[0].key).toBe(true);
      expect(p.packets).toHaveLength(sidecar.frames);
      expect(sidecar.frames).toBeGreaterThanOrEqual(raw.packets.length - CRASH_GOP);
      // Exact capture timestamps survive the crash: a contiguous run of the input, rebased.
      const clipPts = p.packets.map((x) => x.ptsUs);
      const first = CRASH_PTS.findIndex((_, s) => clipPts.every((t, k) => CRASH_PTS[s + k] - CRASH_PTS[s] === t));
      expect(first).toBeGreaterThanOrEqual(0);
      expect(first % CRASH_GOP).toBe(0);
      expect(CRASH_PTS[20] - CRASH_PTS[first]).toBeGreaterThanOrEqual(1_000_000);
      expect(sidecar.preRollMs).toBe(Math.round((CRASH_PTS[20] - CRASH_PTS[first]) / 1000));
      const means = await decodedLumaMeans(clip, 320, 240);
      means.forEach((m, k) => expect(Math.abs(m - lumaOf(first + k))).toBeLessThan(6));
      expect(await readSidecar(path.join(dir, path.dirname(sidecar.files.clip), `${sidecar.id}.json`))).toEqual(sidecar);
      expect(existsSync(path.join(dir, sidecar.files.snapshot as string))).toBe(true);
      expect(readdirSync(path.dirname(clip)).filter((n) => n.includes('.part') || n.endsWith('.tmp'))).toEqual([]);
      // A second start finds nothing more to do.
      expect(await recoverPartialClips({ dataDir: dir })).toEqual([]);
      const doc = await ffprobeJson(clip);
      expect(doc.format.format_name).toContain('mp4');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      cleanup();
    }
  }, 180_000);
});
