export { createFrame, i420Bytes } from './frame';
export type { Frame } from './frame';
export type { CaptureState, CaptureStats, FrameListener, FrameSource } from './source';
