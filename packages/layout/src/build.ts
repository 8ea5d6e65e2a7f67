import { LayoutError } from './errors';
import type { RecordingKind } from './ids';
import { SIDECAR_VERSION, type Discontinuity, type EventSidecar, type ScorePoint, type ThumbnailSource } from './sidecar';

/**
 * What is known of a recording when it is finished: the facts every kind of recording (motion
 * and manual clips, segments, memories, recovered clips, photos) hands to {@link buildSidecar}.
 */
export interface RecordingFacts {
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  /** Wall time of the first frame (of the photo), milliseconds since the epoch. */
  readonly firstWallMs: number;
  /** Duration of the final file, microseconds (0 for a photo). */
  readonly durationUs: number;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  /** Wall time of the trigger (motion start, manual start, button press); null when there is none (segments). */
  readonly triggerWallMs: number | null;
  /** Video before the trigger, microseconds. */
  readonly preRollUs: number;
  readonly triggerLevel: number | null;
  /** The peak score the detector reported for the event, if any. */
  readonly peakScore: number | null;
  /** Per-frame scores relative to the first frame; points past the end of the file are dropped. */
  readonly scores: readonly ScorePoint[];
  /** The files written, relative to the data directory. */
  readonly files: EventSidecar['files'];
  /** Size of the clip file in bytes. */
  readonly bytes: number;
  /** Where the thumbnail was cut from (with `files.thumbnail`). */
  readonly thumbnailFrom?: ThumbnailSource;
  /** Starred from the start; memories always are (retention must not take what a user asked to keep). */
  readonly favorite?: boolean;
  /** Already reviewed (e.g. a photo someone just took); a new recording is unreviewed by default. */
  readonly reviewed?: boolean;
  /** What started the event (`video`, sensor names), in the order they fired. */
  readonly cues?: readonly string[];
  /** Breaks in the video (camera restarts), relative to the first frame; one past the end is put at the end. */
  readonly discontinuities?: readonly Discontinuity[];
}

/**
 * The sidecar of a finished recording, from its facts (pure): ISO times from the first frame and
 * the duration, the trigger clamped to the first frame, the pre-roll clamped to the duration,
 * durations rounded to the millisecond, scores cut at the end of the file, the peak the larger
 * of the detector's and the series'. Throws `LAYOUT_BAD_FACTS` for facts no recording can have.
 * The one place a sidecar is made; `writeSidecarAtomic` writes it.
 */
export function buildSidecar(facts: RecordingFacts): EventSidecar {
  const bad = (field: string, why: string): never => {
    throw new LayoutError('LAYOUT_BAD_FACTS', `recording ${facts.id}: ${field} ${why}`, field);
  };
  if (!Number.isFinite(facts.firstWallMs)) bad('firstWallMs', 'must be a finite time');
  if (!Number.isFinite(facts.durationUs) || facts.durationUs < 0) bad('durationUs', 'must be >= 0');
  if (!Number.isSafeInteger(facts.frames) || facts.frames < 0) bad('frames', 'must be an integer >= 0');
  if (!Number.isSafeInteger(facts.bytes) || facts.bytes < 0) bad('bytes', 'must be an integer >= 0');
  if (facts.triggerWallMs !== null && !Number.isFinite(facts.triggerWallMs)) bad('triggerWallMs', 'must be a finite time or null');
  const durationMs = facts.durationUs / 1000;
  const preRollUs = Math.min(Math.max(0, Number.isFinite(facts.preRollUs) ? facts.preRollUs : 0), facts.durationUs);
  const scores = facts.scores.filter((p) => p.tMs >= 0 && p.tMs <= durationMs);
  const seriesPeak = scores.reduce<number | null>((max, p) => (max === null || p.score > max ? p.score : max), null);
  const peakScore = facts.peakScore === null && seriesPeak === null ? null : Math.max(facts.peakScore ?? 0, seriesPeak ?? 0);
  const favorite = facts.favorite ?? facts.kind === 'memory';
  // A break the file holds stays listed; one placed a little past the last frame (the restart was reported late) sits at the end.
  const discontinuities = (facts.discontinuities ?? []).filter((d) => d.atMs >= 0).map((d) => ({ ...d, atMs: Math.min(Math.round(d.atMs), Math.floor(durationMs)), keys: [...d.keys] }));
  return {
    version: SIDECAR_VERSION,
    id: facts.id,
    camera: facts.camera,
    kind: facts.kind,
    startedAt: new Date(facts.firstWallMs).toISOString(),
    endedAt: new Date(facts.firstWallMs + durationMs).toISOString(),
    triggeredAt: facts.triggerWallMs === null ? null : new Date(Math.max(facts.triggerWallMs, facts.firstWallMs)).toISOString(),
    preRollMs: Math.round(preRollUs / 1000),
    durationS: Math.round(durationMs) / 1000,
    frames: facts.frames,
    width: facts.width,
    height: facts.height,
    triggerLevel: facts.triggerLevel,
    peakScore,
    scores,
    files: facts.files,
    bytes: facts.bytes,
    ...(facts.thumbnailFrom && facts.files.thumbnail ? { thumbnailFrom: facts.thumbnailFrom } : {}),
    ...(favorite ? { favorite: true } : {}),
    ...(facts.cues?.length ? { cues: [...facts.cues] } : {}),
    ...(facts.reviewed ? { reviewed: true } : {}),
    ...(discontinuities.length ? { discontinuities } : {}),
  };
}
