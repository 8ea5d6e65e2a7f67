import type { RpicamControls } from './controls';
import type { Frame } from './frame';
import type { CameraUnit } from './passthrough';
import type { FrameDetections } from './imx500';
import type { JpegListener } from './mjpeg';
import type { FramePoolStats } from './pool';

/** Where a source is in its life; shown in the UI and in `/api/status`. */
export type CaptureState = 'idle' | 'starting' | 'running' | 'restarting' | 'ended' | 'failed' | 'stopped';

/** Counters a source keeps for status pages and benchmarks. */
export interface CaptureStats {
  /** Frames delivered to listeners. */
  readonly frames: number;
  /** Frames the source knows were lost (torn reads, restarts) before delivery. */
  readonly droppedFrames: number;
  /** Restarts since start. */
  readonly restarts: number;
  /** Frames per second over the last few seconds, from the frame timestamps. */
  readonly fps: number;
  /** Last error, if any, as `{ code, message }`. */
  readonly lastError: { code: string; message: string } | null;
  /** Last lines the source process wrote to stderr (its "black box"). */
  readonly stderrTail: readonly string[];
  /**
   * The frame pool (null while no frame size is known or with the pool off): its counters, the
   * frames dropped because every buffer was held (`dropped`, also in `droppedFrames`), and the
   * buffers a paused file allocated past it (`overflow`).
   */
  readonly pool?: (FramePoolStats & { readonly dropped: number; readonly overflow: number }) | null;
  /** Planned restarts with new camera settings (`reconfigure`). */
  readonly reconfigures?: number;
  /** MJPEG url sources: camera JPEGs passed through, dropped as malformed, and dropped before the run's first frame. */
  /**
   * MJPEG url sources: camera JPEGs delivered, dropped as malformed, dropped before the run's
   * first frame; handed to the detection decoder (`analysed`), and due for analysis but skipped
   * while the decoder was still busy (`decoderBusy`).
   */
  readonly jpegs?: { readonly delivered: number; readonly corrupt: number; readonly beforeFirstFrame: number; readonly analysed: number; readonly decoderBusy: number };
  /** The gap in frames of the last planned restart, milliseconds (frames lost in it count in `droppedFrames`). */
  readonly lastGapMs?: number | null;
  /** rpicam with the AI Camera (`aiCamera` option): its metadata stream; null otherwise. */
  readonly aiCamera?: AiCameraStats | null;
}

/** Counters of the AI Camera's detections (see imx500.ts). */
export interface AiCameraStats {
  /** Metadata records (frames) read. */
  readonly records: number;
  /** Records that carried the detector's output. */
  readonly tensors: number;
  /** Objects at or above the confidence floor, over all frames. */
  readonly objects: number;
  /** Metadata lines skipped (`CAPTURE_BAD_METADATA`). */
  readonly corrupt: number;
  /** Records dropped because their frame could not be paired. */
  readonly unmatched: number;
  /** Why the detections are off although asked for (an unreadable post-processing file), else null. */
  readonly error: { code: string; message: string } | null;
}

/** What a planned restart did. */
export interface ReconfigureResult {
  /** Time from the last frame of the old run to the first of the new one, milliseconds. */
  readonly gapMs: number;
  /** The camera arguments in force now (besides size, rate and output). */
  readonly args: readonly string[];
  /** Capture timestamp of the last frame before the restart (null before any frame): where the gap begins on the frames' clock. */
  readonly lastPtsUs: number | null;
}

/** Listener for frames; called synchronously on the read path, so it must not block. */
export type FrameListener = (frame: Frame) => void;

/**
 * A camera or video that yields {@link Frame}s. Every kind of source (`rpicam`, `file:`,
 * `v4l2:`, `url:`, `demo`) implements this, and yields identical frames.
 *
 * Backpressure: live sources never stop reading; listeners that cannot keep up must keep only
 * the latest frame (see `createLatestSlot`). A file source in fast mode honours
 * `pause()`/`resume()`, so offline pipelines can process every frame.
 */
export interface FrameSource {
  /** The spec this source was created from, secrets redacted (for logs and status). */
  readonly description: string;
  readonly width: number;
  readonly height: number;
  /** Nominal frames per second (the measured rate is in `stats().fps`). */
  readonly fps: number;
  /** True when the source can be paused without losing frames (file in fast mode). */
  readonly pausable: boolean;
  state(): CaptureState;
  stats(): CaptureStats;
  /** Adds a frame listener; returns a function that removes it. */
  onFrame(listener: FrameListener): () => void;
  /**
   * True for a passthrough source (a network camera sending H.264): its frames are a reduced
   * stream for detection, and the recording takes the camera's own access units from
   * {@link onUnit} instead of encoding the frames.
   */
  readonly passthrough?: boolean;
  /** Passthrough sources: adds a listener of the camera's access units (in stream order, on the frames' clock); returns a function that removes it. */
  onUnit?(listener: (unit: CameraUnit) => void): () => void;
  /**
   * rpicam with the AI Camera: adds a listener for each frame's detections (frames whose
   * metadata carried the detector's output, after the frame itself); returns a function that
   * removes it. Other sources never call it.
   */
  onDetections?(listener: (detections: FrameDetections) => void): () => void;
  /** Adds a state listener (state changes and errors); returns a function that removes it. */
  onState(listener: (state: CaptureState, error?: Error) => void): () => void;
  /** Spawns the process; resolves once the first frame has arrived, rejects with a CaptureError. */
  start(): Promise<void>;
  /** Stops reading and ends the process (quit, then SIGTERM, then SIGKILL). Idempotent. */
  stop(): Promise<void>;
  /** Resolves when a finite source (file without loop) has delivered its last frame, or the source stopped. */
  ended(): Promise<void>;
  pause(): void;
  resume(): void;
  /**
   * MJPEG url sources only (absent elsewhere): adds a listener for the camera's own JPEGs, on the
   * frames' clock and at the camera's rate (the frames may come at a lower rate and size).
   */
  onJpeg?(listener: JpegListener): () => void;
  /** rpicam: the image controls and frame rate in force; null for other sources. */
  cameraControls?(): { controls: RpicamControls; fps: number } | null;
  /**
   * rpicam: restarts `rpicam-vid` with new controls and/or frame rate. The state stays
   * `running` (listeners see a gap in the frames' timestamps, not an outage), so consumers keep
   * their pre-roll and an open clip spans the gap. Resolves at the first frame with the new
   * settings; when they bring no frame the old ones are restored and it rejects with
   * `CAPTURE_RECONFIGURE_FAILED`. Other sources reject with `CAPTURE_NOT_RECONFIGURABLE`.
   */
  reconfigure?(change: { controls?: RpicamControls; fps?: number }): Promise<ReconfigureResult>;
}
