/**
 * @preroll/store: the SQLite index of recordings, rebuildable from their sidecar files, kept in
 * step with the data directory, with retention. See docs/store.md.
 */
export { StoreError, isErrnoCode } from './errors';
export type { RecordingErrorCode, StoreErrorCode } from './errors';
export type { EventRecord } from './record';
export { localDay } from './record';
export { decodeCursor, encodeCursor, COUNTED_LABELS, DEFAULT_PAGE_SIZE, LABEL_FILTER_PATTERN, MAX_PAGE_SIZE } from './query';
export type { CountQuery, CursorPosition, DayCount, EventPage, LabelCount, ListQuery, Timeline } from './query';
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
  UpdateKind,
} from './store';
export { reindex } from './reindex';
export type { ReindexReport } from './reindex';
export type { Orphan, OrphanKind, SkippedSidecar } from './scan';
export type { DatabaseState } from './database';
