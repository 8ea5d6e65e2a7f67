/** Stable error codes of the detector package. */
export type DetectorErrorCode = 'DETECTOR_BAD_CONFIG' | 'DETECTOR_BAD_MASK' | 'DETECTOR_BAD_FRAME' | 'DETECTOR_BAD_HEATMAP';

/** An error from the detector, with a stable code, the offending value and the cause. */
export class DetectorError extends Error {
  override readonly name = 'DetectorError';
  constructor(
    readonly code: DetectorErrorCode,
    message: string,
    readonly value?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
