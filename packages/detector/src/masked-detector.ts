import type { Logger } from 'pino';
import type { Frame } from '@preroll/capture';
import { resolveDetectorConfig, type DetectorOptions } from './config';
import { createDetector } from './detector';
import { analysisGeometry } from './downscale';
import { buildAnalysisMask } from './mask';
import { checkPolygons, resolvePolygonMask, type PolygonMask } from './masks-polygon';
import type { Detector, DetectorEvent, PushResult } from './types';

/** A detector whose mask (bitmap, rectangles, polygons) can be replaced while it runs. */
export interface MaskableDetector extends Detector {
  /**
   * Replaces the mask. The detector starts over on the new set of watched pixels (its warm-up
   * and noise learning run again); the trigger mode, level, offset and the on/off switch carry
   * over. A running event ends (reason `flush`): its end event is returned for the recorder.
   * Throws `DETECTOR_BAD_MASK` (and keeps the old mask) when the new one is invalid.
   */
  setMask(mask: PolygonMask | undefined): DetectorEvent[];
  /** The mask in force, as given. */
  mask(): PolygonMask | undefined;
}

/** Options of {@link createMaskableDetector}: the detector's, with polygons allowed in the mask. */
export type MaskableDetectorOptions = Omit<DetectorOptions, 'mask'> & { readonly mask?: PolygonMask };

/**
 * Creates a detector that takes polygon masks and live mask changes. Polygons are rasterised
 * once per frame size, at the analysis size, into the detector's bitmap mask; a detector is
 * built for each mask and size (the first frame fixes the size). Throws like `createDetector`.
 */
export function createMaskableDetector(options: MaskableDetectorOptions = {}, logger?: Logger): MaskableDetector {
  const { mask: initialMask, ...rest } = options;
  const base = resolveDetectorConfig(rest);
  let current: PolygonMask | undefined = initialMask;
  if (current?.polygons) checkPolygons(current.polygons);
  let size: { width: number; height: number } | null = null;
  const build = (mask: PolygonMask | undefined): Detector => {
    const resolved = size ? resolvePolygonMask(mask, size.width, size.height, base.analysisWidth) : resolvePolygonMask(mask ? { image: mask.image, rects: mask.rects } : undefined, 1, 1, base.analysisWidth);
    // The detector builds its mask at the first frame; check it now so a bad mask is refused here.
    if (size && resolved) buildAnalysisMask(resolved, analysisGeometry(size.width, size.height, base.analysisWidth));
    return createDetector({ ...rest, mask: resolved }, logger);
  };
  let inner = build(current);

  /** A new inner detector on `mask`, with the user's settings of the old one. */
  const replace = (mask: PolygonMask | undefined): DetectorEvent[] => {
    const next = build(mask);
    const events = inner.flush();
    if (inner.triggerMode() === 'manual') next.setTriggerLevel(inner.triggerLevel());
    else {
      const { offset } = inner.autoLevel();
      for (let i = 0; i < Math.abs(offset); i++) next.stepTriggerLevel(offset > 0 ? 1 : -1);
    }
    if (!inner.enabled()) next.setEnabled(false);
    inner = next;
    current = mask;
    return events;
  };

  return {
    push(frame: Frame): PushResult {
      if (current?.polygons?.length && (!size || size.width !== frame.width || size.height !== frame.height)) {
        size = { width: frame.width, height: frame.height };
        let ended: DetectorEvent[];
        try {
          ended = replace(current);
        } catch (error) {
          // A mask that cannot be used at this size must not stop detection: watch without the polygons.
          logger?.error({ err: error }, 'detector: polygon mask unusable at this frame size; polygons ignored');
          ended = replace(current ? { image: current.image, rects: current.rects } : undefined);
        }
        const result = inner.push(frame);
        return ended.length ? { ...result, events: [...ended, ...result.events] } : result;
      }
      size = { width: frame.width, height: frame.height };
      return inner.push(frame);
    },
    setMask(mask) {
      if (mask?.polygons) checkPolygons(mask.polygons);
      const events = replace(mask);
      logger?.info({ polygons: mask?.polygons?.length ?? 0, rects: mask?.rects?.length ?? 0, image: Boolean(mask?.image) }, 'detector: mask replaced');
      return events;
    },
    mask: () => current,
    flush: (ptsUs) => inner.flush(ptsUs),
    setTriggerLevel: (level) => inner.setTriggerLevel(level),
    stepTriggerLevel: (direction) => inner.stepTriggerLevel(direction),
    triggerLevel: () => inner.triggerLevel(),
    setTriggerMode: (mode) => inner.setTriggerMode(mode),
    triggerMode: () => inner.triggerMode(),
    autoLevel: () => inner.autoLevel(),
    cue: (ptsUs, source) => inner.cue(ptsUs, source),
    setEnabled: (on) => inner.setEnabled(on),
    enabled: () => inner.enabled(),
    active: () => inner.active(),
    calibrate: (opts) => inner.calibrate(opts),
    config: () => inner.config(),
  };
}
