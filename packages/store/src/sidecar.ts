/**
 * The sidecar JSON written next to every recording. It is the source of truth the SQLite index
 * is rebuilt from, so it carries everything a row holds. Paths are relative to the data
 * directory and use forward slashes.
 *
 * Layout written by the recorder (one folder per day, local time):
 *   events/YYYY-MM-DD/<id>.mp4        the clip
 *   events/YYYY-MM-DD/<id>.jpg        snapshot of the trigger frame
 *   events/YYYY-MM-DD/<id>.thumb.jpg  small thumbnail
 *   events/YYYY-MM-DD/<id>.heat.png   motion heat-map of the trigger moment (optional)
 *   events/YYYY-MM-DD/<id>.json       this sidecar, written atomically (temp file + rename)
 * where <id> is `YYYY-MM-DD_HH-MM-SS-mmm_<kind>` of the clip start (unique per camera; a
 * `_<camera>` suffix is added for cameras other than the default one).
 */

/** What kind of recording a row is. */
export type RecordingKind = 'motion' | 'manual' | 'segment' | 'memory' | 'photo';

/** One point of the per-frame motion score series, relative to the clip's first frame. */
export interface ScorePoint {
  /** Milliseconds since the first frame of the clip. */
  readonly tMs: number;
  readonly score: number;
}

/** Contents of `<id>.json`. */
export interface EventSidecar {
  readonly version: 1;
  /** Stable id, also the file base name; matches /^[A-Za-z0-9_-]{1,100}$/. */
  readonly id: string;
  /** Camera id from the config; `cam` for a single-camera setup. */
  readonly camera: string;
  readonly kind: RecordingKind;
  /** ISO-8601 wall time of the clip's first frame. */
  readonly startedAt: string;
  /** ISO-8601 wall time of the clip's last frame (plus one frame duration). */
  readonly endedAt: string;
  /** ISO-8601 wall time of the trigger (motion start or manual start); null for segments. */
  readonly triggeredAt: string | null;
  /** How much video precedes the trigger in the clip, in milliseconds. */
  readonly preRollMs: number;
  readonly durationS: number;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly triggerLevel: number | null;
  readonly peakScore: number | null;
  readonly scores: readonly ScorePoint[];
  /** Files of this recording, relative to the data directory. */
  readonly files: {
    readonly clip: string;
    readonly snapshot?: string;
    readonly thumbnail?: string;
    readonly heatmap?: string;
  };
  /** Size of the clip file in bytes. */
  readonly bytes: number;
  readonly favorite?: boolean;
}
