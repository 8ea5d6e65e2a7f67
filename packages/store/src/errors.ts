/** Stable error codes of the store package. */
export type StoreErrorCode =
  /** A sidecar file could not be read (missing, permissions, I/O error). */
  | 'STORE_SIDECAR_UNREADABLE'
  /** A sidecar file is not valid JSON (e.g. truncated by a power cut before the atomic rename existed). */
  | 'STORE_SIDECAR_BAD_JSON'
  /** A sidecar has a `version` this build does not understand. */
  | 'STORE_SIDECAR_VERSION'
  /** A sidecar is JSON but a field is missing, of the wrong type, out of range or unsafe. */
  | 'STORE_SIDECAR_INVALID'
  /** A sidecar could not be written (disk full, permissions). */
  | 'STORE_SIDECAR_WRITE_FAILED'
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

/** True when `error` is a Node system error with the given `code` (ENOENT, ENOSPC, ...). */
export function isErrnoCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
