export { createDetector } from './detector';
export { DEFAULT_DETECTOR_CONFIG, resolveDetectorConfig } from './config';
export type { DetectorOptions } from './config';
export { DetectorError } from './errors';
export type { DetectorErrorCode } from './errors';
export { analysisGeometry, boxDownscale } from './downscale';
export type { AnalysisGeometry } from './downscale';
export { frameStats, fitBrightness, residualMse, scoreFrame, diffMagnitudes } from './score';
export type { BrightnessFit, FrameScore, FrameStats } from './score';
export { judgeFrame } from './judge';
export type { JudgeInput, JudgeResult } from './judge';
export { nextEventState, endEvent, INITIAL_EVENT_STATE } from './state';
export type { ActiveState, EndTransition, EventState, EventStateConfig, EventTransition, IdleState, Peak, StartTransition, StateSample } from './state';
export { triggerLadder, stepTriggerLevel, clampTriggerLevel, ceilToLadder } from './trigger';
export {
  estimateNoiseFloor,
  percentile,
  calibrateFromScores,
  quietestWindow,
  CALIBRATION_MARGIN,
  CALIBRATION_PEAK_MARGIN,
  CALIBRATION_MIN_LEVEL,
} from './calibrate';
export type { ScoreCalibration } from './calibrate';
export { parsePgm, loadMaskImage, buildAnalysisMask, watchedIndices } from './mask';
export { heatmapRgba, renderHeatmapPng } from './heatmap';
export { createNoiseState, followNoise, filledVariances, robustSigma, robustSigmaFromHistogram, noiseBand, noiseBin, NOISE_BANDS, NOISE_BINS } from './noise';
export type { NoiseFollow, NoiseState } from './noise';
export { findBlobs } from './blobs';
export type { Blob, BlobScratch } from './blobs';
export { updateActivity } from './activity';
export type { ActivityLearning } from './activity';
export { analyseChange, boxMean3, createChangeBuffers } from './change';
export type { ChangeBuffers, ChangeParams, ChangeResult } from './change';
export { createReferenceRing, addReference, pickReference, clearReferences, REFERENCE_RING_MAX } from './reference';
export type { ReferenceRing } from './reference';
export { wantedAutoLevel, nextAutoLevel, offsetLevel } from './auto';
export type { AutoLevelConfig, AutoLevelState } from './auto';
export type {
  ActivityConfig,
  AutoLevelSettings,
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
  MotionBox,
  MotionSample,
  NightConfig,
  NoiseConfig,
  RegionsConfig,
  PushResult,
  ScoreSample,
} from './types';
export { createRandom, randomSceneSpec, createSceneRenderer, sceneTruth, matchEvents, pathProgress } from './synthetic';
export type { EventMatch, SceneBrightnessStep, SceneGlitch, SceneObject, SceneRenderer, SceneSpec } from './synthetic';
export { nextTriggerGateState, quietSinceUs, gateTriggerLagMs, videoCounts, sensorsCount, INITIAL_TRIGGER_GATE_STATE, TRIGGER_GATE_MODES, VIDEO_CUE } from './trigger-gate';
export type { GateSensorState, PendingCue, TriggerGateConfig, TriggerGateInput, TriggerGateMode, TriggerGateOutput, TriggerGateState } from './trigger-gate';
