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
export type { EventSidecar, RecordingKind, RecordingPaths, ScorePoint, UploadState } from './sidecar';
