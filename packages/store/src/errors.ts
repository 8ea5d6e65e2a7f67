import { LayoutError, type LayoutErrorCode } from '@preroll/layout';

/** Stable error codes of the store package. */
export type StoreErrorCode =
  /** A sidecar's clip file is not on disk, so it cannot be indexed. */
  | 'STORE_CLIP_MISSING'
  /** Two sidecars claim the same id or the same clip file. */
  | 'STORE_DUPLICATE'
  /** The database file could not be opened or created at all (not a corruption: e.g. permissions). */
  | 'STORE_DB_OPEN_FAILED'
  /** The database was written by a newer Preroll (its `user_version` is above the known schema). */
  | 'STORE_SCHEMA_TOO_NEW'
  /** A schema migration failed; the database was left at the previous version. */
  | 'STORE_MIGRATION_FAILED'
  /** A pagination cursor is not one this store handed out. */
  | 'STORE_BAD_CURSOR'
  /** A query argument (day, kind, limit, id) is malformed. */
  | 'STORE_BAD_QUERY'
  /** No recording with that id. */
  | 'STORE_NOT_FOUND'
  /** The data directory is missing or not a directory. */
  | 'STORE_BAD_DATA_DIR'
  /** An option of `openStore` is out of range (e.g. a retention limit). */
  | 'STORE_BAD_OPTIONS'
  /** The store was used after `close()`. */
  | 'STORE_CLOSED'
  /** Deleting a recording's files failed for a reason other than "already gone". */
  | 'STORE_DELETE_FAILED';

/** An error from the store, with a stable code, the offending value and the cause. */
export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    /** The offending value: a path, an id, a cursor, a field name. */
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A known failure about one recording: the store's own, or the recording format's (a bad sidecar). */
export type RecordingErrorCode = StoreErrorCode | LayoutErrorCode;

/** True for an error of the store or of the recording format (both carry a stable `code` and `value`). */
export function isRecordingError(error: unknown): error is StoreError | LayoutError {
  return error instanceof StoreError || error instanceof LayoutError;
}

/** True when `error` is a Node system error with the given `code` (ENOENT, ENOSPC, ...). */
export function isErrnoCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
