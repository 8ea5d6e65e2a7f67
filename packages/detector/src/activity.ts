/**
 * The activity map: where the picture keeps changing (leaves, water, a flag, a screen), learned
 * slowly per analysis pixel as a running mean of the clipped squared residual. It raises the
 * threshold there, so persistent local motion is weighed down, while a new object whose change
 * stands out of that region's usual change is still caught.
 */

/** How the map learns. */
export interface ActivityLearning {
  /** Time constant while a pixel's change grows, seconds (slow: a passer-by leaves a faint trail). */
  readonly riseS: number;
  /** Time constant while it fades, seconds. */
  readonly fallS: number;
}

/**
 * Moves every pixel of `map` towards `min(value², clipSq[i])`, with weights from the time since
 * the previous frame (`dtS`), so learning takes the same seconds at any frame rate. `clipSq`
 * bounds what one frame can teach (a person walking through does not become "activity" at
 * full strength). In place; returns `map`.
 */
export function updateActivity(map: Float32Array, value: ArrayLike<number>, clipSq: ArrayLike<number>, dtS: number, learning: ActivityLearning): Float32Array {
  const dt = Math.min(Math.max(dtS, 0), 5);
  const up = 1 - Math.exp(-dt / Math.max(learning.riseS, 1e-6));
  const down = 1 - Math.exp(-dt / Math.max(learning.fallS, 1e-6));
  for (let i = 0; i < map.length; i++) {
    const v = value[i];
    let target = v * v;
    if (target > clipSq[i]) target = clipSq[i];
    const old = map[i];
    map[i] = old + (target > old ? up : down) * (target - old);
  }
  return map;
}

/** Writes each pixel's clip from its reference luma's noise band (`clipByBand[ref[i] >>> 5]`) into `clipSq`. In place. */
export function fillClip(clipSq: Float32Array, ref: Uint8Array, clipByBand: Float64Array): void {
  for (let i = 0; i < clipSq.length; i++) clipSq[i] = clipByBand[ref[i] >>> 5];
}
