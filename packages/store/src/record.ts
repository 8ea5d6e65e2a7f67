import type { Discontinuity, EventLabel, EventSidecar, Offloaded, RecordingKind, UploadState } from '@preroll/layout';

/** One recording as the index holds it (the shape the API serves, plus file paths). */
export interface EventRecord {
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  /** Local calendar day of the start, `YYYY-MM-DD` (the gallery's day filter). */
  readonly day: string;
  /** ISO-8601 (UTC) wall time of the first frame. */
  readonly startedAt: string;
  readonly endedAt: string;
  readonly triggeredAt: string | null;
  readonly preRollMs: number;
  readonly durationS: number;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly triggerLevel: number | null;
  readonly peakScore: number | null;
  readonly favorite: boolean;
  /** What started the event: `video` and/or sensor names, first first; empty when nothing did (manual, segments). */
  readonly cues: readonly string[];
  /** Someone has looked at it (the gallery's unreviewed count leaves it out). */
  readonly reviewed: boolean;
  readonly uploadState: UploadState;
  /** Non-null when the clip was uploaded and removed from this device (`files.clip` is then absent). */
  readonly offloaded: Offloaded | null;
  /** Paths relative to the data directory (serve them with `sendFile(rel, { root: dataDir })`). */
  readonly files: {
    readonly clip: string;
    readonly snapshot: string | null;
    readonly thumbnail: string | null;
    readonly heatmap: string | null;
    readonly sidecar: string;
  };
  /** Size of the clip file. */
  readonly clipBytes: number;
  /** Size of all the recording's files (clip, images, sidecar) when it was indexed: what deleting it frees. */
  readonly totalBytes: number;
  /** Objects the detector found, strongest first; `[]`: none found ("motion only"); null: not classified. */
  readonly labels: readonly EventLabel[] | null;
  /** Breaks in the video (camera restarts), as the sidecar lists them; empty (or absent in a record made by hand) when there is none. */
  readonly discontinuities?: readonly Discontinuity[];
}

/** The database row, column for column. */
export interface RecordingRow {
  id: string;
  camera: string;
  kind: RecordingKind;
  day: string;
  started_at_ms: number;
  ended_at_ms: number;
  triggered_at_ms: number | null;
  pre_roll_ms: number;
  duration_s: number;
  frames: number;
  width: number;
  height: number;
  trigger_level: number | null;
  peak_score: number | null;
  clip_path: string;
  snapshot_path: string | null;
  thumbnail_path: string | null;
  heatmap_path: string | null;
  sidecar_path: string;
  clip_bytes: number;
  total_bytes: number;
  favorite: 0 | 1;
  upload_state: UploadState;
  indexed_at_ms: number;
  offloaded_at_ms: number | null;
  offloaded_to: string | null;
  reviewed: 0 | 1;
  /** The sidecar's `labels` as JSON, or null when it has none. */
  labels_json: string | null;
  /** The sidecar's `cues` joined by commas, or null when it has none. */
  cues: string | null;
  /** The sidecar's `discontinuities` as JSON, or null when it has none. */
  discontinuities_json: string | null;
}

/** `YYYY-MM-DD` of an instant in the process's local time zone (the day folders use local time too). */
export function localDay(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The row for a validated sidecar found at `sidecarPath` (relative), with measured file sizes. */
export function sidecarToRow(sidecar: EventSidecar, sidecarPath: string, totalBytes: number, indexedAtMs: number): RecordingRow {
  const startedAtMs = Date.parse(sidecar.startedAt);
  return {
    id: sidecar.id,
    camera: sidecar.camera,
    kind: sidecar.kind,
    day: localDay(startedAtMs),
    started_at_ms: startedAtMs,
    ended_at_ms: Date.parse(sidecar.endedAt),
    triggered_at_ms: sidecar.triggeredAt === null ? null : Date.parse(sidecar.triggeredAt),
    pre_roll_ms: sidecar.preRollMs,
    duration_s: sidecar.durationS,
    frames: sidecar.frames,
    width: sidecar.width,
    height: sidecar.height,
    trigger_level: sidecar.triggerLevel,
    peak_score: sidecar.peakScore,
    clip_path: sidecar.files.clip,
    snapshot_path: sidecar.files.snapshot ?? null,
    thumbnail_path: sidecar.files.thumbnail ?? null,
    heatmap_path: sidecar.files.heatmap ?? null,
    sidecar_path: sidecarPath,
    clip_bytes: sidecar.bytes,
    total_bytes: totalBytes,
    favorite: sidecar.favorite ? 1 : 0,
    upload_state: sidecar.uploadState ?? 'none',
    indexed_at_ms: indexedAtMs,
    offloaded_at_ms: sidecar.offloaded ? Date.parse(sidecar.offloaded.at) : null,
    offloaded_to: sidecar.offloaded ? sidecar.offloaded.remote : null,
    reviewed: sidecar.reviewed ? 1 : 0,
    labels_json: sidecar.labels === undefined ? null : JSON.stringify(sidecar.labels),
    cues: sidecar.cues?.length ? sidecar.cues.join(',') : null,
    discontinuities_json: sidecar.discontinuities?.length ? JSON.stringify(sidecar.discontinuities) : null,
  };
}

/** The API shape of a row. */
export function rowToRecord(row: RecordingRow): EventRecord {
  return {
    id: row.id,
    camera: row.camera,
    kind: row.kind,
    day: row.day,
    startedAt: new Date(row.started_at_ms).toISOString(),
    endedAt: new Date(row.ended_at_ms).toISOString(),
    triggeredAt: row.triggered_at_ms === null ? null : new Date(row.triggered_at_ms).toISOString(),
    preRollMs: row.pre_roll_ms,
    durationS: row.duration_s,
    frames: row.frames,
    width: row.width,
    height: row.height,
    triggerLevel: row.trigger_level,
    peakScore: row.peak_score,
    favorite: row.favorite === 1,
    cues: row.cues ? row.cues.split(',') : [],
    reviewed: row.reviewed === 1,
    uploadState: row.upload_state,
    offloaded: row.offloaded_at_ms === null ? null : { at: new Date(row.offloaded_at_ms).toISOString(), remote: row.offloaded_to ?? '' },
    files: {
      clip: row.clip_path,
      snapshot: row.snapshot_path,
      thumbnail: row.thumbnail_path,
      heatmap: row.heatmap_path,
      sidecar: row.sidecar_path,
    },
    clipBytes: row.clip_bytes,
    totalBytes: row.total_bytes,
    labels: row.labels_json === null ? null : (JSON.parse(row.labels_json) as EventLabel[]),
    discontinuities: row.discontinuities_json === null ? [] : (JSON.parse(row.discontinuities_json) as Discontinuity[]),
  };
}

/** Every file of a row, sidecar first (removing it first means a crash mid-delete cannot resurrect the row). */
export function rowFiles(row: Pick<RecordingRow, 'sidecar_path' | 'clip_path' | 'snapshot_path' | 'thumbnail_path' | 'heatmap_path'>): string[] {
  return [row.sidecar_path, row.clip_path, row.snapshot_path, row.thumbnail_path, row.heatmap_path].filter((p): p is string => p !== null);
}
