/** Stable error codes of the capture package. */
export type CaptureErrorCode =
  | 'CAPTURE_BAD_SPEC'
  | 'CAPTURE_BAD_SIZE'
  | 'CAPTURE_UNSUPPORTED_URL'
  | 'CAPTURE_FILE_NOT_FOUND'
  | 'CAPTURE_DEVICE_NOT_FOUND'
  | 'CAPTURE_BINARY_NOT_FOUND'
  | 'CAPTURE_CAMERA_BUSY'
  | 'CAPTURE_NO_CAMERA'
  | 'CAPTURE_SOURCE_EXITED'
  | 'CAPTURE_STALLED'
  | 'CAPTURE_NO_FRAMES'
  | 'CAPTURE_STOPPED'
  | 'CAPTURE_BAD_CONTROL'
  | 'CAPTURE_NOT_RECONFIGURABLE'
  | 'CAPTURE_RECONFIGURE_FAILED'
  | 'CAPTURE_V4L2_CTL'
  | 'CAPTURE_FRAME_RELEASED'
  | 'CAPTURE_FRAME_DOUBLE_RELEASE'
  | 'CAPTURE_PROBE_FAILED'
  | 'CAPTURE_CODEC_CHANGED'
  | 'CAPTURE_PASSTHROUGH_UNSUPPORTED'
  | 'CAPTURE_BAD_METADATA'
  | 'CAPTURE_BAD_POST_PROCESS';

/** An error of a frame source, with a stable code, the offending value and the cause. */
export class CaptureError extends Error {
  override readonly name = 'CaptureError';
  constructor(
    readonly code: CaptureErrorCode,
    message: string,
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Errors after which restarting cannot help (the user must change something). */
  get fatal(): boolean {
    return FATAL.has(this.code);
  }
}

const FATAL = new Set<CaptureErrorCode>([
  'CAPTURE_BAD_SPEC',
  'CAPTURE_BAD_SIZE',
  'CAPTURE_UNSUPPORTED_URL',
  'CAPTURE_FILE_NOT_FOUND',
  'CAPTURE_BINARY_NOT_FOUND',
  'CAPTURE_BAD_CONTROL',
  'CAPTURE_PASSTHROUGH_UNSUPPORTED',
]);
