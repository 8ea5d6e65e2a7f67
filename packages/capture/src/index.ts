export { createFrame, i420Bytes } from './frame';
export type { Frame } from './frame';
export type { AiCameraStats, CaptureState, CaptureStats, FrameListener, FrameSource, ReconfigureResult } from './source';
export {
  DEFAULT_POST_PROCESS_FILE,
  DetectionPairer,
  IMX500_SENSOR_SIZE,
  MAX_METADATA_LINE_BYTES,
  MetadataParser,
  PAIRING_WINDOW_FRAMES,
  decodeSsdTensor,
  isAiCameraLine,
  parseRectangle,
  readPostProcessClasses,
  recordObjects,
  sensorBoxToFrame,
} from './imx500';
export type { Box, CameraObject, FrameDetections, MetadataRecord, MetadataStats, TensorDetection } from './imx500';
export { AUTOFOCUS_MODES, AWB_MODES, DENOISE_MODES, HDR_MODES, RPICAM_CONTROL_LIMITS, TUNING_FILE_NAME, checkRpicamControls, rpicamControlArgs, tuningDirectory } from './controls';
export type { RpicamControls } from './controls';
export { listV4l2Controls, parseV4l2Controls, setV4l2Controls } from './v4l2';
export type { V4l2Control } from './v4l2';
export { AI_CAMERA_FIRST_FRAME_MS, createSource, DEFAULT_POOL_FRAMES } from './create';
export type { SourceOptions } from './create';
export { parseSourceSpec, describeSpec, checkSize, checkFps, URL_SCHEMES } from './spec';
export type { SourceSpec } from './spec';
export { CaptureError } from './errors';
export type { CaptureErrorCode } from './errors';
export { FrameAssembler, rawFrameBytes, alignStride, allocatingBuffers } from './assembler';
export type { RawLayout, FrameBuffers } from './assembler';
export { createFramePool, createFrameSlot, retainFrame, releaseFrame, frameAlive } from './pool';
export type { FramePool, FramePoolOptions, FramePoolStats, FrameRelease, FrameSlot } from './pool';
export { detectBoard, boardFromModel } from './pi';
export type { BoardInfo } from './pi';
export { createLatestSlot } from './latest';
export type { LatestSlot } from './latest';
export { chooseDefaultSource, listRpicamCameras, parseCameraList } from './default-source';
export type { DefaultSourceChoice } from './default-source';
export { DEMO_MOTION, DEFAULT_CAMERA_FORMAT, DEFAULT_DEMO_FORMAT, parseShowinfoPtsTime } from './args';
export { AnalysisPicker, JpegSplitter, mjpegDecoderArgs, mjpegLowresFor, mjpegSourceArgs, isDecodeErrorLine, startMjpegRun, DEFAULT_ANALYSIS_FPS } from './mjpeg';
export type { CameraJpeg, JpegListener, JpegSplitterStats, MjpegOptions, MjpegRunEvents } from './mjpeg';
export { DEFAULT_PASSTHROUGH, createCameraUnitBuilder, passthroughArgs, passthroughDecision, probeStream, urlRouteDecision } from './passthrough';
export type { CameraUnit, CameraUnitBuilder, PassthroughOptions, StreamProbe, UrlRoute } from './passthrough';
export { frameIndexFrom90k, IndexedPts, splitArgs, startSplitRun } from './split';
export type { SplitOptions, SplitRunEvents } from './split';
export { createTsDemuxer, parsePes, ticks90kToUs, STREAM_TYPE_H264, TS_PACKET_BYTES } from './ts-demux';
export type { TsDemuxer, TsStreamInfo, TsVideoPacket } from './ts-demux';
export { NAL, nalUnits, createAccessUnitSplitter, createParameterSetKeeper, describeAccessUnit, withParameterSets, codecStringFromSps } from './annexb';
export type { AccessUnit, AccessUnitInfo, AccessUnitSplitter, CompletedUnit, NalUnitRef, ParameterSetKeeper } from './annexb';
