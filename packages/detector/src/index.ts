export { DEFAULT_DETECTOR_CONFIG, resolveDetectorConfig } from './config';
export type { DetectorOptions } from './config';
export { DetectorError } from './errors';
export type { DetectorErrorCode } from './errors';
export type {
  Calibration,
  Detector,
  DetectorConfig,
  DetectorEndEvent,
  DetectorEvent,
  DetectorMask,
  DetectorStartEvent,
  EndReason,
  HeatMap,
  LightingConfig,
  MaskImage,
  MaskRect,
  MotionSample,
  PushResult,
  ScoreSample,
} from './types';
