/** Stable error codes of the object classifier. */
export type ClassifyErrorCode =
  /** The detector's model files are not installed (the npm package that ships them is missing). */
  | 'CLASSIFY_MODEL_MISSING'
  /** The model files exist but could not be loaded (corrupt, wrong format, runtime failure). */
  | 'CLASSIFY_MODEL_LOAD_FAILED'
  /** An image could not be read or decoded, or its size or crop is out of range. */
  | 'CLASSIFY_BAD_IMAGE'
  /** More classifications were asked for than the queue holds; this one was refused. */
  | 'CLASSIFY_BUSY'
  /** The classifier was closed. */
  | 'CLASSIFY_CLOSED';

/** An error of the classifier, with a stable code, the offending value and the cause. */
export class ClassifyError extends Error {
  override readonly name = 'ClassifyError';
  constructor(
    readonly code: ClassifyErrorCode,
    message: string,
    /** The offending value: a path, a size, a count. */
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
