/**
 * @preroll/classify: object labels for events. An on-device COCO detector (MB3-CenterNet, shipped
 * in an npm package, run with TensorFlow.js on WebAssembly) looks at an event's best frames once,
 * cropped around the motion, and the COCO classes map to person / animal / vehicle / other.
 * See docs/labels.md.
 */
export { ClassifyError } from './errors';
export type { ClassifyErrorCode } from './errors';
export { COCO_CLASSES, KEPT_SUB_LABELS, taxonomyOf } from './taxonomy';
export { cropAround, maskBounds, mergeDetections } from './geometry';
export type { Detection, Rect } from './geometry';
export { MAX_IMAGE_SIDE, i420ToRgb, modelInput, motionRegionFromHeatmap } from './image';
export type { I420Frame, RgbImage } from './image';
export { MODEL_INPUT, defaultModelDir, loadModel } from './model';
export type { LoadedModel, RawDetections } from './model';
export { DEFAULT_MIN_CONFIDENCE, MAX_EVENT_IMAGES, createClassifier } from './classifier';
export type { Classifier, ClassifierOptions, ClassifierStats, EventClassification, EventImages } from './classifier';
