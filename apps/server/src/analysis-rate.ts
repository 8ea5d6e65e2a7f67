/**
 * Which frames the motion detector analyses when the camera delivers more than
 * `detector.analysisFps` frames a second. The detector is frame-rate independent (its
 * reference, confirmation, gap and noise model are durations), so it needs only enough frames
 * to decide within its delay budget; every other frame still goes to the encoder, the
 * pre-roll ring and the live view.
 *
 * Frames are picked by timestamp on a grid `1/analysisFps` apart, not every Nth frame: a
 * camera whose frame intervals jitter, or that drops frames, is still analysed evenly in time.
 */

/** The selector's state between frames (start from {@link INITIAL_ANALYSIS_RATE_STATE}). */
export interface AnalysisRateState {
  /** The grid time the next analysed frame is due at, µs (null before the first frame). */
  readonly dueUs: number | null;
  /** The previous frame's timestamp, µs (analysed or not; null before the first frame). */
  readonly lastPtsUs: number | null;
}

/** No frame seen yet: the first frame is analysed. */
export const INITIAL_ANALYSIS_RATE_STATE: AnalysisRateState = Object.freeze({ dueUs: null, lastPtsUs: null });

/**
 * Decides whether the frame at `ptsUs` is analysed, for at most `analysisFps` analysed frames
 * a second (`Infinity`: every frame). Pure.
 *
 * A frame is analysed when it is the one nearest the due time among this frame and the next,
 * taking the next to come one frame interval (the gap since the previous frame) later: it is
 * due when `ptsUs + gap/2 >= dueUs`. The next due time is one interval after the previous one
 * (the grid holds over jitter), or one interval after this frame when the grid fell behind by
 * more than an interval (a pause, dropped frames). Timestamps going backwards (a restarted
 * source) start a new grid.
 */
export function nextAnalysisRate(state: AnalysisRateState, ptsUs: number, analysisFps: number): { readonly analyse: boolean; readonly state: AnalysisRateState } {
  if (!(analysisFps > 0) || !Number.isFinite(analysisFps)) return { analyse: true, state: { dueUs: null, lastPtsUs: ptsUs } };
  const intervalUs = 1e6 / analysisFps;
  const { dueUs, lastPtsUs } = state;
  if (dueUs === null || lastPtsUs === null || ptsUs < lastPtsUs) return { analyse: true, state: { dueUs: ptsUs + intervalUs, lastPtsUs: ptsUs } };
  const gapUs = ptsUs - lastPtsUs;
  if (ptsUs + gapUs / 2 < dueUs) return { analyse: false, state: { dueUs, lastPtsUs: ptsUs } };
  const next = dueUs + intervalUs;
  return { analyse: true, state: { dueUs: next <= ptsUs ? ptsUs + intervalUs : next, lastPtsUs: ptsUs } };
}

/**
 * The rate frames were analysed at, measured over the newest analysed frames' timestamps
 * (frames per second; 0 before two frames). Bounded: it keeps the last `window` timestamps.
 */
export interface AnalysedRateMeter {
  add(ptsUs: number): void;
  fps(): number;
}

/** Creates an {@link AnalysedRateMeter} over the last `window` analysed frames (default 16). */
export function createAnalysedRateMeter(window = 16): AnalysedRateMeter {
  const times = new Float64Array(window);
  let count = 0;
  let next = 0;
  return {
    add(ptsUs) {
      // A restarted source's clock starts again: the old timestamps say nothing of the new rate.
      if (count > 0 && ptsUs < times[(next + window - 1) % window]) count = 0;
      times[next] = ptsUs;
      next = (next + 1) % window;
      count = Math.min(count + 1, window);
    },
    fps() {
      if (count < 2) return 0;
      const newest = times[(next + window - 1) % window];
      const oldest = times[(next + window - count) % window];
      return newest > oldest ? ((count - 1) * 1e6) / (newest - oldest) : 0;
    },
  };
}
