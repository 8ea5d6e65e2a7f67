import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EventSidecar, RecordingKind } from '@preroll/layout';
import { recordingId, recordingPaths, writeSidecarAtomic } from '@preroll/layout';
import { openStore, type Store, type StoreChange } from '../src/store';
import { waitFor as sharedWaitFor } from '@preroll/testkit';

/** A fresh temporary data directory; remove it with `fsp.rm(dir, { recursive: true, force: true })`. */
export async function tempDataDir(prefix = 'preroll-store-'): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A started store over `dir` that watches its files (short settle times) and records its changes. */
export async function openWatchedStore(dir: string): Promise<{ store: Store; changes: StoreChange[] }> {
  const store = await openStore({ dataDir: dir, retention: NO_LIMITS, watchStabilityMs: 150, watchDebounceMs: 50 });
  const changes: StoreChange[] = [];
  store.onChange((c) => changes.push(c));
  await store.start({ retentionTimer: false });
  return { store, changes };
}

/** A valid sidecar for a recording starting at `startedAtMs` (paths per the recorder's layout). */
export function makeSidecar(startedAtMs: number, overrides: Partial<EventSidecar> & { kind?: RecordingKind; camera?: string } = {}): EventSidecar {
  const kind = overrides.kind ?? 'motion';
  const id = overrides.id ?? recordingId(startedAtMs, kind, overrides.camera);
  const paths = /^\d{4}-\d{2}-\d{2}_/.test(id) ? recordingPaths(id) : { clip: `events/misc/${id}.mp4`, snapshot: `events/misc/${id}.jpg`, thumbnail: `events/misc/${id}.thumb.jpg` };
  const durationS = overrides.durationS ?? 4;
  return {
    version: 1,
    id,
    camera: overrides.camera ?? 'cam',
    kind,
    startedAt: new Date(startedAtMs).toISOString(),
    endedAt: new Date(startedAtMs + durationS * 1000).toISOString(),
    triggeredAt: kind === 'segment' ? null : new Date(startedAtMs + 1000).toISOString(),
    preRollMs: 1000,
    durationS,
    frames: durationS * 10,
    width: 320,
    height: 240,
    triggerLevel: 40,
    peakScore: 123.5,
    scores: [{ tMs: 0, score: 1 }, { tMs: 100, score: 123.5 }],
    files: { clip: paths.clip, snapshot: paths.snapshot, thumbnail: paths.thumbnail },
    bytes: 1000,
    ...overrides,
  };
}

/**
 * Writes a recording's files the way the recorder lays them out: a clip of `clipBytes` bytes,
 * snapshot and thumbnail, then the sidecar last (atomically). Returns the sidecar written,
 * with `bytes` set to the clip's real size.
 */
export async function writeRecording(dataDir: string, sidecar: EventSidecar, clipBytes = 1000): Promise<EventSidecar> {
  const full = { ...sidecar, bytes: clipBytes };
  await fsp.mkdir(path.join(dataDir, path.dirname(full.files.clip)), { recursive: true });
  await fsp.writeFile(path.join(dataDir, full.files.clip), Buffer.alloc(clipBytes, 1));
  if (full.files.snapshot) await fsp.writeFile(path.join(dataDir, full.files.snapshot), Buffer.alloc(100, 2));
  if (full.files.thumbnail) await fsp.writeFile(path.join(dataDir, full.files.thumbnail), Buffer.alloc(50, 3));
  await writeSidecarAtomic(path.join(dataDir, path.dirname(full.files.clip), `${full.id}.json`), full);
  return full;
}

/** True when the file exists. */
export async function exists(file: string): Promise<boolean> {
  return fsp.access(file).then(
    () => true,
    () => false,
  );
}

/** Polls `check` every 25 ms until it returns true or `timeoutMs` passes; true when it did (the shared `waitFor` of @preroll/testkit). */
export function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  return sharedWaitFor(check, { timeoutMs }).then(
    () => true,
    () => false,
  );
}

/**
 * Retention switched off, for tests about something else: with the default 80 % disk limit a
 * nearly full developer disk would make background retention delete the test's recordings.
 */
export const NO_LIMITS = { maxDiskPct: null, maxTotalBytes: null, maxAgeDays: null } as const;
