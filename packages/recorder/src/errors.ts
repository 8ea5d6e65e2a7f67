/** Stable error codes of the recorder package. */
export type RecorderErrorCode =
  /** An option is out of range or of the wrong type; `value` is `{ key, value }`. */
  | 'RECORDER_BAD_OPTIONS'
  /** The configured H.264 encoder is not in this ffmpeg build; `value` is its name. */
  | 'RECORDER_ENCODER_UNAVAILABLE'
  /** The encoder process failed and will not be restarted any more; `value` is the exit description. */
  | 'RECORDER_ENCODER_FAILED'
  /** The encoder was used before `start()` or after `stop()`; `value` is its state. */
  | 'RECORDER_ENCODER_STATE'
  /** Writing the fragmented MP4 failed (disk full, permissions); `value` is the file. */
  | 'RECORDER_WRITE_FAILED'
  /** Remuxing a closed clip to a faststart MP4 failed; `value` is the file. */
  | 'RECORDER_REMUX_FAILED'
  /** A partial clip holds no complete fragment, so nothing can be recovered; `value` is the file. */
  | 'RECORDER_NOT_RECOVERABLE'
  /** A memory was asked for but the look-back holds no video for that time; `value` is `{ fromPtsUs, toPtsUs }`. */
  | 'RECORDER_NOTHING_TO_SAVE'
  /** Reading a segment back for a memory failed (missing or unreadable file); `value` is the file. */
  | 'RECORDER_JOIN_FAILED';

/** An error of the recorder package, with a stable code, the offending value and the cause. */
export class RecorderError extends Error {
  override readonly name = 'RecorderError';
  constructor(
    readonly code: RecorderErrorCode,
    message: string,
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
