import type { EventRecord } from '@preroll/store';
import type { EventLabel, RecordingKind } from '@preroll/layout';

/**
 * The JSON summary of a finished recording: the body of every webhook and the payload of the
 * MQTT `<prefix>/event` topic. Paths are relative to the data directory; the clip is served at
 * `/api/events/<id>/clip`.
 */
export interface EventSummary {
  /**
   * `recording.finished` when the recording is closed; `recording.labelled` once more for a
   * motion event when its final classification is stored (same fields, `labels` complete).
   */
  readonly type: 'recording.finished' | 'recording.labelled';
  /** Summary format version. */
  readonly version: 1;
  readonly id: string;
  readonly camera: string;
  readonly kind: RecordingKind;
  readonly day: string;
  readonly startedAt: string;
  readonly endedAt: string;
  readonly triggeredAt: string | null;
  readonly durationS: number;
  readonly preRollMs: number;
  readonly frames: number;
  readonly width: number;
  readonly height: number;
  readonly triggerLevel: number | null;
  readonly peakScore: number | null;
  readonly favorite: boolean;
  /** What started the event: `video` and/or sensor names, first first; empty for manual recordings and segments. */
  readonly cues: readonly string[];
  readonly clipBytes: number;
  readonly files: { readonly clip: string; readonly snapshot: string | null; readonly thumbnail: string | null };
  /**
   * What was seen, strongest first (see docs/labels.md): at `recording.finished` the early
   * labels when they are known (else null), at `recording.labelled` the final ones ([]: "motion
   * only"). Null also with labels off and for kinds that are not classified.
   */
  readonly labels: readonly EventLabel[] | null;
  /** API paths of the recording on the server that recorded it. */
  readonly links: { readonly event: string; readonly clip: string; readonly snapshot: string | null };
}

/**
 * The summary of `record` (pure). `type` and `labels` default to the finished recording and the
 * row's labels; the server passes the early labels at `recording.finished` when the row has none yet.
 */
export function eventSummary(record: EventRecord, options: { type?: EventSummary['type']; labels?: readonly EventLabel[] | null } = {}): EventSummary {
  const base = `/api/events/${encodeURIComponent(record.id)}`;
  return {
    type: options.type ?? 'recording.finished',
    version: 1,
    id: record.id,
    camera: record.camera,
    kind: record.kind,
    day: record.day,
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    triggeredAt: record.triggeredAt,
    durationS: record.durationS,
    preRollMs: record.preRollMs,
    frames: record.frames,
    width: record.width,
    height: record.height,
    triggerLevel: record.triggerLevel,
    peakScore: record.peakScore,
    favorite: record.favorite,
    cues: record.cues,
    clipBytes: record.clipBytes,
    files: { clip: record.files.clip, snapshot: record.files.snapshot, thumbnail: record.files.thumbnail },
    labels: record.labels ?? options.labels ?? null,
    links: { event: base, clip: `${base}/clip`, snapshot: record.files.snapshot === null ? null : `${base}/snapshot` },
  };
}
