/**
 * @preroll/layout: the recording format shared by the recorder (which writes recordings) and
 * the store (which indexes them): ids, paths, the sidecar with its parser and its one builder,
 * and atomic writes. A leaf package: it depends on nothing of Preroll's. See docs/architecture.md.
 */
export { LayoutError, isErrnoCode } from './errors';
export type { LayoutErrorCode } from './errors';
export { DEFAULT_CAMERA, RECORDING_KINDS, isSafeId, memoryId, parseRecordingId, recordingId } from './ids';
export type { RecordingKind } from './ids';
export { EVENTS_DIR, PART_CLIP_SUFFIX, PART_INFO_SUFFIX, isSafeRelativePath, recordingPaths, sidecarPathOf } from './paths';
export type { RecordingPaths } from './paths';
export { DISCONTINUITY_REASONS, LABEL_NAMES, MAX_DISCONTINUITIES, MAX_LABELS, SIDECAR_VERSION, UPLOAD_STATES, parseSidecar, parseSidecarText, readSidecar, writeSidecarAtomic } from './sidecar';
export type { Discontinuity, DiscontinuityReason, EventLabel, EventSidecar, LabelName, Offloaded, ScorePoint, ThumbnailSource, UploadState } from './sidecar';
export { TEMP_MARKER, writeFileAtomic } from './atomic';
export { buildSidecar } from './build';
export type { RecordingFacts } from './build';
