import type { FrameScore } from './score';
import type { DetectorConfig, MotionSample } from './types';

/** What {@link judgeFrame} needs besides the score. */
export interface JudgeInput {
  readonly ptsUs: number;
  /** Null for the first frame after a (re)start: nothing to compare with. */
  readonly score: FrameScore | null;
  readonly enabled: boolean;
  /** Frames before this time are in the start-up warm-up. */
  readonly warmupUntilUs: number;
  /** Frames before this time are in the hold after a light switch. */
  readonly lightingHoldUntilUs: number;
  readonly triggerLevel: number;
}

/** The verdict on one frame. */
export interface JudgeResult {
  readonly above: boolean;
  readonly ignored: MotionSample['ignored'];
  /** True when this frame itself looks like a light switch (the caller starts a hold). */
  readonly lightingSwitch: boolean;
}

/**
 * Decides whether a scored frame counts, pure. Motion off beats everything; then the warm-up;
 * then lighting: a frame where at least `switchFraction` of the watched pixels changed in the
 * same direction is a light switch (a person rarely covers half the view and changes it all
 * one way), and the frames of the hold after it are ignored too. Otherwise the frame is above
 * when its score is strictly greater than the trigger level.
 */
export function judgeFrame(input: JudgeInput, lighting: DetectorConfig['lighting']): JudgeResult {
  const lightingSwitch = input.score !== null && input.score.sameDirectionFraction >= lighting.switchFraction;
  if (!input.enabled) return { above: false, ignored: 'disabled', lightingSwitch };
  if (input.score === null || input.ptsUs < input.warmupUntilUs) return { above: false, ignored: 'warmup', lightingSwitch };
  if (lightingSwitch || input.ptsUs < input.lightingHoldUntilUs) return { above: false, ignored: 'lighting', lightingSwitch };
  return { above: input.score.score > input.triggerLevel, ignored: null, lightingSwitch };
}
