import * as path from 'node:path';
import type { Logger } from 'pino';
import type { Frame } from '@preroll/capture';
import { createEmitter } from '@preroll/process';
import { DEFAULT_CAMERA, MAX_DISCONTINUITIES, readSidecar, recordingId, recordingPaths, sidecarPathOf, type Discontinuity, type RecordingKind, type ScorePoint } from '@preroll/layout';
import { createClipWriter, type ClipWriter, type ClipWriteSummary } from './clip-writer';
import { RecorderError } from './errors';
import { finishRecording, type FinishedRecording, type HeatmapRenderer } from './finish';
import type { I420Image, RegionBox } from './images';
import { nextEventState, type EventInput, type EventState } from './event-state';
import { fileExists, partPaths, writePartInfo, type PartInfo } from './parts';
import { recoverPartialClip } from './recovery';
import { clipStart, createRing, type Ring, type RingStats } from './ring';
import type { AccessUnit } from '@preroll/capture';

/** Options of {@link createRecorder}. */
export interface RecorderOptions {
  /** The data directory; clips go to `events/YYYY-MM-DD/` inside it. */
  readonly dataDir: string;
  /** Camera id (default `cam`, which adds no suffix to recording ids). */
  readonly camera?: string;
  /** Video before the trigger, milliseconds (the clip starts at a keyframe at least this early). Default 5000. */
  readonly preRollMs?: number;
  /** Video after the last motion, milliseconds. Default 3000. */
  readonly postRollMs?: number;
  /** See `RingOptions.maxTriggerLagMs`. Default 2000. */
  readonly maxTriggerLagMs?: number;
  /** Byte cap of the pre-roll ring. Default 64 MiB. */
  readonly ringMaxBytes?: number;
  /** fsync the partial clip after every fragment (power-cut safety on SD cards). Default true. */
  readonly fsync?: boolean;
  /** Minimum fragment length of the partial clip, milliseconds (fragments start at keyframes). Default 500. */
  readonly fragmentMs?: number;
  /** Nominal frame rate, for the first frame's duration until intervals are known. Default 30. */
  readonly fps?: number;
  /** Width of the thumbnail JPEG in pixels. Default 320. */
  readonly thumbnailWidth?: number;
  readonly logger?: Logger;
}

/** A finished clip: a finished recording, and where it lies on the capture clock. */
export interface RecordedClip extends FinishedRecording {
  /** The data directory the sidecar's relative paths are in. */
  readonly dataDir: string;
  /** Trigger timestamp (capture clock) of the event, e.g. to match detector events. */
  readonly triggerPtsUs: number;
  /** Capture timestamps of the first and last frame in the clip. */
  readonly firstPtsUs: number;
  readonly lastPtsUs: number;
  /** True when the clip was closed early because the encoder restarted (the event continues in a new clip). */
  readonly interrupted: boolean;
}

/** What the recorder is doing, as the status shows it. */
export interface RecorderState {
  /** An event (clip) is open. */
  readonly recording: boolean;
  /** A manual recording holds it. */
  readonly manual: boolean;
}

/** Counters for status pages and tests. */
export interface RecorderStats {
  readonly recording: boolean;
  readonly clipsStarted: number;
  readonly clipsWritten: number;
  readonly clipsFailed: number;
  /** Clips closed and still being finalised (remux, snapshot, sidecar). */
  readonly finalising: number;
  /** Bytes queued for the open clip's file. */
  readonly queuedBytes: number;
  /** Events that ended before any keyframe arrived (nothing could be recorded). */
  readonly eventsWithoutVideo: number;
  readonly ring: RingStats;
}

/** A break in the video the recorder is told about (a planned camera restart). */
export interface BreakMark {
  /** Wall time of the last frame before the break. */
  readonly wallMs: number;
  /** Its capture timestamp, when known: places the break exactly (the wall time is taken when the restart was reported). */
  readonly ptsUs?: number | null;
  readonly reason: Discontinuity['reason'];
  /** The configuration keys whose change restarted the camera. */
  readonly keys: readonly string[];
  /** Last frame before to first frame after, when known. */
  readonly gapMs: number | null;
  /** The open clip ends at the break (the caller stops the pipeline next). */
  readonly ended: boolean;
}

/** What starts a recording. */
export interface TriggerInput {
  /** Capture timestamp the pre-roll counts back from (motion start, or the moment of a manual start). */
  readonly ptsUs: number;
  /** The frame to keep as the snapshot (copied). */
  readonly frame?: Frame;
  /** The motion heat-map of the trigger, rendered when the clip is finished. */
  readonly heatmap?: HeatmapRenderer | null;
  readonly triggerLevel?: number;
  readonly score?: number;
  /** Motion regions of the trigger frame (fractions of the frame). */
  readonly boxes?: readonly RegionBox[];
  /** What started it: `video` and/or sensor names (kept in the sidecar's `cues`). */
  readonly cues?: readonly string[];
}

/**
 * The event recorder. Feed it every access unit (`push`), every motion score (`sample`) and
 * the detector's events; it keeps the pre-roll ring and writes one clip per event:
 * `<id>.part.mp4` (fragmented, crash-safe) while recording, then `<id>.mp4` (+faststart),
 * `<id>.jpg`, `<id>.thumb.jpg`, `<id>.heat.png` and `<id>.json` when the clip closes.
 *
 * Overlapping triggers (motion during the post-roll, manual during motion) extend the open
 * event. The clip holds each unit exactly once: the ring's units from the clip start up to
 * the newest, then every unit pushed afterwards, all on one synchronous path.
 */
export interface Recorder {
  /** Adds the next access unit (stream order) to the ring and to the open clip. */
  push(unit: AccessUnit): void;
  /**
   * Adds a motion score (kept for the clip's score series). With the scored `frame` and its
   * motion `boxes`, the frame of an open event's highest score is kept (one copy per event)
   * and its thumbnail is cut from it, around the boxes.
   */
  sample(ptsUs: number, score: number, frame?: Frame, boxes?: readonly RegionBox[]): void;
  /** Motion started (the detector's `start`). */
  motionStart(input: TriggerInput & { continued?: boolean }): void;
  /** Motion ended at `endPtsUs` (the last frame with motion); the clip runs on for the post-roll. `cues` adds those that joined the event. */
  motionEnd(input: { endPtsUs: number; peakScore?: number; cues?: readonly string[] }): void;
  /** Starts a manual recording (with pre-roll) or holds the open event. Returns false after `stop()`. */
  manualStart(input?: Partial<TriggerInput>): boolean;
  /** Ends the manual hold now (no post-roll for manual recordings). */
  manualStop(ptsUs?: number): void;
  /** The unit stream broke (encoder restart): closes the open clip, clears the ring; the event continues in a new clip. */
  discontinuity(reason: string): void;
  /**
   * The camera restarted (or is about to, with `ended`): the open clip's sidecar lists the break
   * in `discontinuities`, and so does a clip opened later whose pre-roll reaches back over it
   * (the ring keeps the video on both sides).
   */
  markBreak(mark: BreakMark): void;
  /** True while an event is open. */
  recording(): boolean;
  /** What is being recorded: an event open or not, and whether a manual recording holds it. */
  state(): RecorderState;
  /** Adds a listener for finished clips; returns a function that removes it. */
  onClip(listener: (clip: RecordedClip) => void): () => void;
  /** Adds a listener for the recording state ({@link RecorderState}); called on every change only. */
  onState(listener: (state: RecorderState) => void): () => void;
  /**
   * Saves `frame` as a photo (a recording of kind `photo`: JPEG, thumbnail, sidecar). The same
   * frame photographed twice is the same photo: its finished recording comes back as `already-final`.
   */
  takePhoto(frame: Pick<Frame, 'width' | 'height' | 'data' | 'wallMs'>): Promise<FinishedRecording>;
  /** End of stream: closes the open event at the last unit and waits until every clip is final. */
  flush(): Promise<void>;
  /** `flush()`, then refuses further input. */
  stop(): Promise<void>;
  stats(): RecorderStats;
  readonly ring: Ring;
}

interface OpenClip {
  readonly id: string;
  readonly writer: ClipWriter;
  readonly firstPtsUs: number;
  readonly firstWallMs: number;
  readonly width: number;
  readonly height: number;
  readonly scores: ScorePoint[];
  readonly breaks: Discontinuity[];
  lastPtsUs: number;
}

/** The open event: its state (see `event-state.ts`) and what the shell keeps for its clip. */
interface OpenEvent {
  state: EventState;
  triggerPtsUs: number;
  triggerWallMs: number;
  snapshot: I420Image | null;
  heatmap: HeatmapRenderer | null;
  triggerLevel: number | null;
  peakScore: number | null;
  /** The frame of the highest score so far (its buffer is reused: one frame copy per event). */
  peak: PeakFrame | null;
  /** Every cue that started or joined the event, first first. */
  cues: string[];
  clip: OpenClip | null;
  /** Breaks marked while the event waited for its first keyframe: its clip lists them. */
  pendingBreaks: BreakMark[];
  /** The trigger of the next clip when the detector continued a long event. */
  nextTrigger: TriggerInput | null;
}

/** The frame where the subject is most visible so far. */
interface PeakFrame {
  ptsUs: number;
  score: number;
  boxes: readonly RegionBox[];
  image: I420Image;
}

/** Creates a recorder (touches no file until the first event). Throws `RECORDER_BAD_OPTIONS`. */
export function createRecorder(options: RecorderOptions): Recorder {
  const camera = options.camera ?? DEFAULT_CAMERA;
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(camera)) throw new RecorderError('RECORDER_BAD_OPTIONS', 'camera id must match /^[A-Za-z0-9_-]{1,40}$/', { key: 'camera', value: camera });
  const preRollMs = options.preRollMs ?? 5000;
  const postRollMs = options.postRollMs ?? 3000;
  checkRange('postRollMs', postRollMs, 0, 600_000);
  const fragmentMs = options.fragmentMs ?? 500;
  checkRange('fragmentMs', fragmentMs, 1, 60_000);
  const fps = options.fps ?? 30;
  checkRange('fps', fps, 0.1, 240);
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) throw new RecorderError('RECORDER_BAD_OPTIONS', 'dataDir is required', { key: 'dataDir', value: options.dataDir });
  const ring = createRing({ preRollMs, maxTriggerLagMs: options.maxTriggerLagMs, maxBytes: options.ringMaxBytes, logger: options.logger });
  return new EventRecorder({ ...options, camera, preRollMs, postRollMs, fragmentMs, fps }, ring);
}

type Resolved = RecorderOptions & { camera: string; preRollMs: number; postRollMs: number; fragmentMs: number; fps: number };

class EventRecorder implements Recorder {
  private current: OpenEvent | null = null;
  private readonly states = createEmitter<[RecorderState]>('recorder state', () => this.log);
  private reported: RecorderState = { recording: false, manual: false };
  private lastUnit: AccessUnit | null = null;
  private readonly history: Array<{ ptsUs: number; score: number }> = [];
  /** Breaks still inside the ring's span, for clips whose pre-roll reaches back over them. */
  private breaks: BreakMark[] = [];
  private readonly clips = createEmitter<[RecordedClip]>('recorder clips', () => this.log);
  private readonly finalising = new Set<Promise<void>>();
  private stopped = false;
  private readonly log: Logger | undefined;
  private counters = { clipsStarted: 0, clipsWritten: 0, clipsFailed: 0, eventsWithoutVideo: 0 };

  constructor(
    private readonly options: Resolved,
    readonly ring: Ring,
  ) {
    this.log = options.logger;
  }

  /** The open event; changes of what it means for the status are reported to the state listeners. */
  private get event(): OpenEvent | null {
    return this.current;
  }

  private set event(next: OpenEvent | null) {
    this.current = next;
    this.report();
  }

  push(unit: AccessUnit): void {
    if (this.stopped) return;
    this.ring.push(unit);
    this.lastUnit = unit;
    const event = this.event;
    if (!event) return;
    const { state, action } = nextEventState(event.state, { type: 'unit', ptsUs: unit.ptsUs, keyframe: unit.keyframe });
    switch (action) {
      case 'split': {
        const next = event.nextTrigger as TriggerInput;
        this.closeClip(event, false);
        this.event = null;
        this.openEvent(state as EventState, next, true);
        return;
      }
      case 'end':
        this.endEvent(event);
        return;
      case 'open-clip':
        this.openClip(event);
        return;
      case 'write':
        (event.clip as OpenClip).writer.write(unit);
        (event.clip as OpenClip).lastPtsUs = unit.ptsUs;
        return;
      default:
        this.setEventState(event, state as EventState);
    }
  }

  sample(ptsUs: number, score: number, frame?: Frame, boxes?: readonly RegionBox[]): void {
    this.history.push({ ptsUs, score });
    // Keep scores as far back as the ring keeps video (plus slack for units still in the encoder).
    const oldest = this.ring.oldest()?.ptsUs;
    const limit = oldest === undefined ? ptsUs - (this.options.preRollMs + 5000) * 1000 : oldest;
    let drop = 0;
    while (drop < this.history.length && this.history[drop].ptsUs < limit) drop++;
    if (drop > 0) this.history.splice(0, drop);
    const clip = this.event?.clip;
    if (clip && ptsUs >= clip.firstPtsUs) clip.scores.push({ tMs: Math.round((ptsUs - clip.firstPtsUs) / 1000), score });
    const event = this.event;
    if (event && ptsUs >= event.triggerPtsUs) {
      event.peakScore = Math.max(event.peakScore ?? 0, score);
      if (frame && boxes && boxes.length > 0 && score > (event.peak?.score ?? -1)) keepPeak(event, frame, ptsUs, score, boxes);
    }
  }

  motionStart(input: TriggerInput & { continued?: boolean }): void {
    if (this.stopped) return;
    const event = this.event;
    const { state, action } = nextEventState(event?.state ?? null, { type: 'motion-start', continued: input.continued ?? false });
    if (action === 'open') {
      this.openEvent(state as EventState, input);
      return;
    }
    if (!event) return;
    this.setEventState(event, state as EventState);
    if (event.state.rollover) event.nextTrigger = input;
    for (const cue of input.cues ?? []) if (!event.cues.includes(cue)) event.cues.push(cue);
    if (action === 'extend') {
      if (input.triggerLevel !== undefined) event.triggerLevel = input.triggerLevel;
      if (!event.snapshot && input.frame) event.snapshot = copyImage(input.frame);
      if (!event.heatmap && input.heatmap) event.heatmap = input.heatmap;
    }
  }

  motionEnd(input: { endPtsUs: number; peakScore?: number; cues?: readonly string[] }): void {
    const event = this.event;
    if (!event) return;
    for (const cue of input.cues ?? []) if (!event.cues.includes(cue)) event.cues.push(cue);
    if (event.state.motionHold && input.peakScore !== undefined) event.peakScore = Math.max(event.peakScore ?? 0, input.peakScore);
    this.apply(event, { type: 'motion-end', endPtsUs: input.endPtsUs, postRollUs: this.options.postRollMs * 1000, clipLastPtsUs: event.clip?.lastPtsUs ?? null });
  }

  manualStart(input: Partial<TriggerInput> = {}): boolean {
    if (this.stopped) return false;
    const event = this.event;
    const { state, action } = nextEventState(event?.state ?? null, { type: 'manual-start' });
    if (action === 'open') {
      const ptsUs = input.ptsUs ?? input.frame?.ptsUs ?? this.lastUnit?.ptsUs ?? 0;
      this.openEvent(state as EventState, { ...input, ptsUs });
    } else if (event) this.setEventState(event, state as EventState);
    return true;
  }

  manualStop(ptsUs?: number): void {
    const event = this.event;
    if (!event) return;
    this.apply(event, { type: 'manual-stop', ptsUs: ptsUs ?? this.lastUnit?.ptsUs ?? event.triggerPtsUs, clipLastPtsUs: event.clip?.lastPtsUs ?? null });
  }

  discontinuity(reason: string): void {
    this.ring.clear(reason);
    const event = this.event;
    if (!event) return;
    const { state, action } = nextEventState(event.state, { type: 'discontinuity' });
    if (action === 'interrupt') this.closeClip(event, true);
    if (action === 'end') this.counters.eventsWithoutVideo++;
    if (state) {
      this.setEventState(event, state);
      event.nextTrigger = null;
    } else this.event = null;
  }

  markBreak(mark: BreakMark): void {
    const oldest = this.ring.oldest()?.wallMs;
    this.breaks = this.breaks.filter((b) => oldest !== undefined && b.wallMs >= oldest);
    if (this.breaks.length < MAX_DISCONTINUITIES) this.breaks.push(mark);
    const event = this.event;
    const clip = event?.clip;
    if (clip) addBreak(clip, mark);
    // No keyframe yet (a loaded encoder): the clip opened at the next one still ends here.
    else if (event && event.pendingBreaks.length < MAX_DISCONTINUITIES) event.pendingBreaks.push(mark);
    this.log?.info({ keys: mark.keys, gapMs: mark.gapMs, ended: mark.ended, clip: clip?.id ?? null }, 'recorder: the camera restarted; the break is marked');
  }

  recording(): boolean {
    return this.event !== null;
  }

  state(): RecorderState {
    return this.reported;
  }

  onClip(listener: (clip: RecordedClip) => void): () => void {
    return this.clips.on(listener);
  }

  onState(listener: (state: RecorderState) => void): () => void {
    return this.states.on(listener);
  }

  private setEventState(event: OpenEvent, state: EventState): void {
    event.state = state;
    this.report();
  }

  /** Tells the state listeners when what the status shows changed. */
  private report(): void {
    const now: RecorderState = { recording: this.current !== null, manual: this.current?.state.manualHold ?? false };
    if (now.recording === this.reported.recording && now.manual === this.reported.manual) return;
    this.reported = now;
    this.states.emit(now);
  }

  async takePhoto(frame: Pick<Frame, 'width' | 'height' | 'data' | 'wallMs'>): Promise<FinishedRecording> {
    const { dataDir, camera } = this.options;
    const id = recordingId(frame.wallMs, 'photo', camera);
    const sidecarFile = path.join(dataDir, recordingPaths(id).sidecar);
    if (await fileExists(sidecarFile)) {
      const sidecar = await readSidecar(sidecarFile);
      return { sidecar, sidecarPath: sidecarPathOf(sidecar), origin: 'already-final' };
    }
    // Sources may reuse frame buffers: the copy is what gets encoded.
    const image = { width: frame.width, height: frame.height, data: Buffer.from(frame.data) };
    return finishRecording({
      dataDir,
      id,
      camera,
      kind: 'photo',
      media: { type: 'photo', image, wallMs: frame.wallMs },
      triggerWallMs: frame.wallMs,
      preRollUs: 0,
      thumbnailWidth: this.options.thumbnailWidth,
      fsync: this.options.fsync,
      logger: this.log,
    });
  }

  async flush(): Promise<void> {
    const event = this.event;
    this.event = null;
    if (event?.clip) this.closeClip(event, false);
    else if (event) this.counters.eventsWithoutVideo++;
    while (this.finalising.size > 0) await Promise.all([...this.finalising]);
  }

  async stop(): Promise<void> {
    await this.flush();
    this.stopped = true;
  }

  stats(): RecorderStats {
    return {
      recording: this.event !== null,
      ...this.counters,
      finalising: this.finalising.size,
      queuedBytes: this.event?.clip?.writer.queuedBytes() ?? 0,
      ring: this.ring.stats(),
    };
  }

  /** Applies an input that may only end the event (a released hold). */
  private apply(event: OpenEvent, input: EventInput): void {
    const { state, action } = nextEventState(event.state, input);
    if (action === 'end') this.endEvent(event);
    else if (state) this.setEventState(event, state);
  }

  /** The event is over: its clip is finished, or it is counted as one without video. */
  private endEvent(event: OpenEvent): void {
    if (event.clip) this.closeClip(event, false);
    else {
      this.counters.eventsWithoutVideo++;
      this.log?.warn({ triggerPtsUs: event.triggerPtsUs }, 'recorder: event ended before any keyframe arrived; nothing recorded');
    }
    if (this.event === event) this.event = null;
  }

  private openEvent(state: EventState, input: TriggerInput, startAtNewest = false): void {
    const frame = input.frame;
    const wallFromFrame = frame ? frame.wallMs - (frame.ptsUs - input.ptsUs) / 1000 : null;
    const wallFromUnit = this.lastUnit ? this.lastUnit.wallMs - (this.lastUnit.ptsUs - input.ptsUs) / 1000 : Date.now();
    const event: OpenEvent = {
      state: { ...state, clipOpen: false },
      triggerPtsUs: input.ptsUs,
      triggerWallMs: wallFromFrame ?? wallFromUnit,
      snapshot: frame ? copyImage(frame) : null,
      heatmap: input.heatmap ?? null,
      triggerLevel: input.triggerLevel ?? null,
      peakScore: input.score ?? null,
      peak: null,
      cues: [...(input.cues ?? [])],
      clip: null,
      pendingBreaks: [],
      nextTrigger: null,
    };
    if (frame && input.boxes && input.boxes.length > 0) keepPeak(event, frame, frame.ptsUs, input.score ?? 0, input.boxes);
    this.event = event;
    this.openClip(event, startAtNewest);
  }

  /**
   * Starts the clip from the ring (if it holds a keyframe): ring units first, live units follow
   * in `push`. `startAtNewest` starts at the unit just pushed (a keyframe) instead of the pre-roll.
   */
  private openClip(event: OpenEvent, startAtNewest = false): void {
    const units = this.ring.units();
    const start = startAtNewest ? units.length - 1 : clipStart(units, event.triggerPtsUs, this.options.preRollMs);
    if (start < 0) return; // no keyframe yet: `push` opens the clip at the next one
    const first = units[start];
    const id = recordingId(first.wallMs, event.state.kind, this.options.camera);
    const parts = partPaths(this.options.dataDir, id);
    const writer = createClipWriter({ path: parts.clip, fsync: this.options.fsync ?? true, fragmentMs: this.options.fragmentMs, frameUs: 1e6 / this.options.fps, logger: this.log });
    const clip: OpenClip = { id, writer, firstPtsUs: first.ptsUs, firstWallMs: first.wallMs, width: first.width, height: first.height, scores: [], breaks: [], lastPtsUs: first.ptsUs };
    // Breaks inside the pre-roll (the ring spans the gap), and those marked while the event waited for a keyframe.
    const marks = new Set([...this.breaks.filter((mark) => (mark.ptsUs ?? null) !== null ? (mark.ptsUs as number) >= first.ptsUs : mark.wallMs >= first.wallMs).filter((mark) => !mark.ended), ...event.pendingBreaks]);
    event.pendingBreaks = [];
    for (const mark of [...marks].sort((a, b) => a.wallMs - b.wallMs)) addBreak(clip, mark);
    for (const point of this.history) {
      if (point.ptsUs >= first.ptsUs) clip.scores.push({ tMs: Math.round((point.ptsUs - first.ptsUs) / 1000), score: point.score });
    }
    for (let i = start; i < units.length; i++) {
      writer.write(units[i]);
      clip.lastPtsUs = units[i].ptsUs;
    }
    event.clip = clip;
    this.counters.clipsStarted++;
    const info: PartInfo = {
      version: 1,
      id,
      camera: this.options.camera,
      kind: event.state.kind,
      firstWallMs: first.wallMs,
      firstPtsUs: first.ptsUs,
      triggerPtsUs: event.triggerPtsUs,
      triggerWallMs: event.triggerWallMs,
      width: first.width,
      height: first.height,
      triggerLevel: event.triggerLevel,
    };
    this.log?.info({ id, preRollMs: Math.round((event.triggerPtsUs - first.ptsUs) / 1000), ringUnits: units.length - start }, 'recorder: clip started');
    // The part info only helps recovery after a crash; failing to write it must not stop recording.
    void writePartInfo(parts.info, info).catch((error: unknown) => this.log?.warn({ err: error, id }, 'recorder: cannot write part info'));
    this.apply(event, { type: 'clip-opened', lastPtsUs: clip.lastPtsUs });
  }

  private closeClip(event: OpenEvent, interrupted: boolean): void {
    const clip = event.clip;
    if (!clip) return;
    event.clip = null;
    // A clip ended by a restart ends at its last frame, whatever the wall clock said when the restart was asked for.
    const endMs = Math.round((clip.lastPtsUs - clip.firstPtsUs) / 1000);
    for (let i = 0; i < clip.breaks.length; i++) if (clip.breaks[i].ended) clip.breaks[i] = { ...clip.breaks[i], atMs: endMs };
    const snapshot = event.snapshot;
    // The next clip of a split event starts its own search for the peak.
    const peak = event.peak;
    event.peak = null;
    const meta = {
      kind: event.state.kind as RecordingKind,
      triggerPtsUs: event.triggerPtsUs,
      triggerWallMs: event.triggerWallMs,
      heatmap: event.heatmap,
      triggerLevel: event.triggerLevel,
      peakScore: event.peakScore,
      cues: [...event.cues],
    };
    const work = this.finishClip(clip, meta, snapshot, peak, interrupted).then(
      (recorded) => {
        this.counters.clipsWritten++;
        this.clips.emit(recorded);
      },
      (error: unknown) => {
        this.counters.clipsFailed++;
        this.log?.error({ err: error, code: (error as RecorderError).code, id: clip.id }, 'recorder: clip could not be finalised; its partial file is kept for recovery at the next start');
      },
    );
    const tracked = work.finally(() => this.finalising.delete(tracked));
    this.finalising.add(tracked);
  }

  private async finishClip(
    clip: OpenClip,
    meta: { kind: RecordingKind; triggerPtsUs: number; triggerWallMs: number; heatmap: HeatmapRenderer | null; triggerLevel: number | null; peakScore: number | null; cues: readonly string[] },
    snapshot: I420Image | null,
    peak: PeakFrame | null,
    interrupted: boolean,
  ): Promise<RecordedClip> {
    const dataDir = this.options.dataDir;
    let summary: ClipWriteSummary;
    try {
      summary = await clip.writer.close();
    } catch (error) {
      // The file is torn (disk full, I/O error): keep what its complete fragments hold.
      this.log?.error({ err: error, id: clip.id }, 'recorder: writing the clip failed; recovering its complete fragments');
      const recovered = await recoverPartialClip(dataDir, clip.id, this.log);
      if (!recovered.recording) throw error;
      return { ...recovered.recording, origin: 'live', dataDir, triggerPtsUs: meta.triggerPtsUs, firstPtsUs: clip.firstPtsUs, lastPtsUs: clip.lastPtsUs, interrupted: true };
    }
    const recording = await finishRecording({
      dataDir,
      id: clip.id,
      camera: this.options.camera,
      kind: meta.kind,
      media: { type: 'clip', summary, firstWallMs: summary.firstWallMs },
      width: clip.width,
      height: clip.height,
      triggerWallMs: meta.triggerWallMs,
      preRollUs: meta.triggerPtsUs - summary.firstPtsUs,
      snapshot,
      snapshotAtUs: meta.triggerPtsUs - summary.firstPtsUs,
      // A peak outside the clip (before its first frame, after a split) cannot be its thumbnail.
      thumbnailFrame: peak && peak.ptsUs >= summary.firstPtsUs && peak.ptsUs <= summary.lastPtsUs ? { image: peak.image, atUs: peak.ptsUs - summary.firstPtsUs, boxes: peak.boxes } : null,
      heatmap: meta.heatmap,
      triggerLevel: meta.triggerLevel,
      peakScore: meta.peakScore,
      cues: meta.cues,
      discontinuities: clip.breaks,
      scores: clip.scores,
      thumbnailWidth: this.options.thumbnailWidth,
      fsync: this.options.fsync,
      logger: this.log,
    });
    if (interrupted) this.log?.info({ id: clip.id }, 'recorder: clip closed early (the stream broke); the event goes on in a new clip');
    return { ...recording, dataDir, triggerPtsUs: meta.triggerPtsUs, firstPtsUs: summary.firstPtsUs, lastPtsUs: summary.lastPtsUs, interrupted };
  }
}

/** Lists a break in the clip, at its time since the clip's first frame. */
function addBreak(clip: OpenClip, mark: BreakMark): void {
  if (clip.breaks.length >= MAX_DISCONTINUITIES) return;
  const sinceFirstMs = mark.ptsUs !== undefined && mark.ptsUs !== null ? (mark.ptsUs - clip.firstPtsUs) / 1000 : mark.wallMs - clip.firstWallMs;
  clip.breaks.push({ atMs: Math.max(0, Math.round(sinceFirstMs)), reason: mark.reason, keys: [...mark.keys], gapMs: mark.gapMs, ended: mark.ended });
}

/** Keeps `frame` as the event's peak, copying into the buffer of the previous peak when the size matches. */
function keepPeak(event: OpenEvent, frame: Frame, ptsUs: number, score: number, boxes: readonly RegionBox[]): void {
  const previous = event.peak;
  const size = frame.data.length;
  const image =
    previous && previous.image.width === frame.width && previous.image.height === frame.height && previous.image.data.length === size
      ? previous.image
      : { width: frame.width, height: frame.height, data: Buffer.allocUnsafe(size) };
  frame.data.copy(image.data, 0, 0, size);
  // Boxes are small values from the detector; a copy keeps them when it reuses its arrays.
  event.peak = { ptsUs, score, boxes: boxes.map((b) => ({ x: b.x, y: b.y, width: b.width, height: b.height })), image };
}

function copyImage(frame: Frame): I420Image {
  // Sources may reuse frame buffers; the snapshot is encoded seconds later, so keep a copy.
  return { width: frame.width, height: frame.height, data: Buffer.from(frame.data) };
}

function checkRange(key: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RecorderError('RECORDER_BAD_OPTIONS', `${key} must be a number in [${min}, ${max}]`, { key, value });
  }
}
