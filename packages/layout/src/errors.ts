/** Stable error codes of the recording format. */
export type LayoutErrorCode =
  /** A sidecar file could not be read (missing, permissions, I/O error); the cause has the errno. */
  | 'LAYOUT_SIDECAR_UNREADABLE'
  /** A sidecar file is not valid JSON (e.g. truncated). */
  | 'LAYOUT_SIDECAR_BAD_JSON'
  /** A sidecar has a `version` this build does not understand. */
  | 'LAYOUT_SIDECAR_VERSION'
  /** A sidecar is JSON but a field is missing, of the wrong type, out of range or unsafe. */
  | 'LAYOUT_SIDECAR_INVALID'
  /** A file of a recording could not be written (disk full, permissions); the cause has the errno. */
  | 'LAYOUT_WRITE_FAILED'
  /** A recording id or camera id does not follow the format. */
  | 'LAYOUT_BAD_ID'
  /** The facts of a finished recording are inconsistent (negative duration, no clip path...). */
  | 'LAYOUT_BAD_FACTS';

/** An error of the recording format, with a stable code, the offending value and the cause. */
export class LayoutError extends Error {
  override readonly name = 'LayoutError';
  constructor(
    readonly code: LayoutErrorCode,
    message: string,
    /** The offending value: a path, an id, a field name. */
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
