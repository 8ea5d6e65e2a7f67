/** The recorder's input (defined with the Annex-B code in @preroll/capture). */
export type { AccessUnit } from '@preroll/capture';
export { RecorderError } from './errors';
export type { RecorderErrorCode } from './errors';
export { createEncoder, buildEncoderArgs, buildEncoderCodecArgs, encoderCodecArgs, resolveEncoderCodec } from './encoder';
export type {
  BackpressurePolicy,
  Encoder,
  EncoderArgsInput,
  EncoderCodec,
  EncoderDiscontinuity,
  EncoderOptions,
  EncoderState,
  EncoderStats,
} from './encoder';
export { createRing, clipStart, trimCount } from './ring';
export type { Ring, RingOptions, RingStats, RingUnitLike } from './ring';
export { createClipWriter, remuxToFaststart } from './clip-writer';
export type { ClipWriter, ClipWriterOptions, ClipWriteSummary } from './clip-writer';
export { createRecorder } from './recorder';
export type { BreakMark, RecordedClip, Recorder, RecorderOptions, RecorderState, RecorderStats, TriggerInput } from './recorder';
export { nextEventState } from './event-state';
export type { EventAction, EventInput, EventState } from './event-state';
export { recoverPartialClips, recoverPartialClip } from './recovery';
export { probeClip } from './probe';
export { finishRecording } from './finish';
export type { FinishedRecording, FinishInput, FinishMedia, HeatmapRenderer, ThumbnailFrame } from './finish';
export type { RecoveredClip } from './recovery';
export { completePrefix, parseBoxHeader, readTopLevelBoxes, trimToCompleteFragments } from './mp4';
export type { BoxHeader, CompletePrefix } from './mp4';
export { partPaths } from './parts';
export type { PartInfo, PartPaths } from './parts';
export { i420ToRgb, encodeSnapshot, encodeThumbnail, thumbnailCrop } from './images';
export type { I420Image, PixelBox, RegionBox, ThumbnailShape } from './images';
export { createSegmenter, segmentAction, lookbackEvictions, LOOKBACK_DIR } from './segmenter';
export type { OpenSegmentState, SegmentAction, SegmentKind, SegmentRecord, Segmenter, SegmenterOptions, SegmenterStats, SegmentWant } from './segmenter';
export { writeMemory, lengthPrefixedToAnnexB, parseAvcC } from './memory';
export type { MemoryOptions, MemorySource, SavedMemory } from './memory';
export { createLiveMp4Muxer, toLengthPrefixed } from './live-mp4';
export type { LiveMp4Muxer } from './live-mp4';
export { createJpegRing, jpegSize } from './jpeg-ring';
export type { JpegItem, JpegRing, JpegRingOptions, JpegRingStats } from './jpeg-ring';
export { buildJpegEncoderArgs, createHeldRecorder, createOnDemandEncoder } from './on-demand';
export type { HeldRecorder, OnDemandEncoder, OnDemandEncoderOptions, OnDemandEncoderStats, OnDemandState, RecorderCommands } from './on-demand';
export { decodeJpegFrame } from './jpeg-frame';
