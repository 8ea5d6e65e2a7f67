/**
 * @preroll/store: the SQLite index of recordings, rebuildable from their sidecar files, kept in
 * step with the data directory, with retention. See docs/store.md.
 */
export { StoreError, isErrnoCode } from './errors';
export type { StoreErrorCode } from './errors';
export {
  DEFAULT_CAMERA,
  RECORDING_KINDS,
  SIDECAR_TEMP_MARKER,
  SIDECAR_VERSION,
  UPLOAD_STATES,
  isSafeRelativePath,
  parseSidecar,
  parseSidecarText,
  readSidecar,
  recordingId,
  recordingPaths,
  writeSidecarAtomic,
} from './sidecar';
export type { EventSidecar, Offloaded, RecordingKind, RecordingPaths, ScorePoint, UploadState } from './sidecar';
export type { EventRecord } from './record';
export { localDay } from './record';
export { decodeCursor, encodeCursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './query';
export type { CountQuery, CursorPosition, DayCount, EventPage, ListQuery } from './query';
export { DEFAULT_RETENTION, planRetention, statfsDiskUsage } from './retention';
export type { DiskUsage, DiskUsageReader, RetentionCandidate, RetentionDecision, RetentionInput, RetentionLimits, RetentionPlan, RetentionReason } from './retention';
export { DB_FILE, openStore } from './store';
export type {
  DeleteAllResult,
  DeleteReason,
  DeleteResult,
  OpenReport,
  RebuildReport,
  ReconcileReport,
  RetentionResult,
  RetentionRunOptions,
  Store,
  StoreChange,
  StoreOptions,
  StoreStats,
} from './store';
export { reindex } from './reindex';
export type { ReindexReport } from './reindex';
export { EVENTS_DIR } from './scan';
export type { Orphan, OrphanKind, SkippedSidecar } from './scan';
export type { DatabaseState } from './database';
