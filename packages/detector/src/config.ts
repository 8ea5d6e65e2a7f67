import { DetectorError } from './errors';
import type { ActivityConfig, AutoLevelSettings, DetectorConfig, DetectorMask, LightingConfig, MaskRect, NightConfig, NoiseConfig, RegionsConfig } from './types';

/**
 * Defaults, chosen by measurement over labeled synthetic clips with several seeds and scenes
 * (see docs/detector.md, "How the defaults were chosen", and `pnpm bench detector`).
 */
export const DEFAULT_DETECTOR_CONFIG: DetectorConfig = Object.freeze({
  analysisWidth: 160,
  triggerLevel: 1,
  minTriggerLevel: 0.1,
  maxTriggerLevel: 65025,
  triggerMode: 'auto',
  confirmFrames: 2,
  confirmS: 0.2,
  referenceS: 0.5,
  noise: Object.freeze({ thresholdSigma: 4, minDeltaLuma: 2.5, riseS: 0.5, fallS: 3 }) as NoiseConfig,
  regions: Object.freeze({ minAreaFraction: 0.001 }) as RegionsConfig,
  activity: Object.freeze({ weight: 8, riseS: 3, fallS: 60, clipFactor: 8 }) as ActivityConfig,
  night: Object.freeze({ enterLuma: 40, exitLuma: 55, thresholdSigma: 4, minAreaFraction: 0.001, levelFactor: 0.1 }) as NightConfig,
  auto: Object.freeze({ margin: 2, windowS: 30, holdS: 30 }) as AutoLevelSettings,
  gapS: 2,
  maxEventS: 300,
  warmupS: 2,
  lighting: Object.freeze({
    compensation: 'tone',
    pixelDelta: 12,
    switchFraction: 0.5,
    holdS: 1,
  }) as LightingConfig,
  calibrationWindowS: 5,
});

/** The config's nested groups: each may be given in part. */
type Groups = 'lighting' | 'noise' | 'regions' | 'activity' | 'night' | 'auto';

/** Options of `createDetector`: any subset of the config; each nested group may be partial too. */
export type DetectorOptions = Partial<Omit<DetectorConfig, Groups>> & { [G in Groups]?: Partial<DetectorConfig[G]> };

/**
 * Merges options over the defaults and checks every bound; throws `DETECTOR_BAD_CONFIG` with
 * the offending key and value. The result is frozen.
 */
export function resolveDetectorConfig(options: DetectorOptions = {}): DetectorConfig {
  const merged: DetectorConfig = {
    ...DEFAULT_DETECTOR_CONFIG,
    ...stripUndefined(options),
    lighting: { ...DEFAULT_DETECTOR_CONFIG.lighting, ...stripUndefined(options.lighting ?? {}) },
    noise: { ...DEFAULT_DETECTOR_CONFIG.noise, ...stripUndefined(options.noise ?? {}) },
    regions: { ...DEFAULT_DETECTOR_CONFIG.regions, ...stripUndefined(options.regions ?? {}) },
    activity: { ...DEFAULT_DETECTOR_CONFIG.activity, ...stripUndefined(options.activity ?? {}) },
    night: { ...DEFAULT_DETECTOR_CONFIG.night, ...stripUndefined(options.night ?? {}) },
    auto: { ...DEFAULT_DETECTOR_CONFIG.auto, ...stripUndefined(options.auto ?? {}) },
  };
  checkInt('analysisWidth', merged.analysisWidth, 8, 1920);
  checkNumber('minTriggerLevel', merged.minTriggerLevel, 0, 65025);
  checkNumber('maxTriggerLevel', merged.maxTriggerLevel, merged.minTriggerLevel, 65025);
  checkNumber('triggerLevel', merged.triggerLevel, merged.minTriggerLevel, merged.maxTriggerLevel);
  checkInt('confirmFrames', merged.confirmFrames, 1, 1000);
  if (merged.triggerMode !== 'auto' && merged.triggerMode !== 'manual') {
    throw new DetectorError('DETECTOR_BAD_CONFIG', 'triggerMode must be auto or manual', { key: 'triggerMode', value: merged.triggerMode });
  }
  checkNumber('confirmS', merged.confirmS, 0, 60);
  checkNumber('referenceS', merged.referenceS, 0, 5);
  checkNumber('noise.thresholdSigma', merged.noise.thresholdSigma, 0.5, 50);
  checkNumber('noise.minDeltaLuma', merged.noise.minDeltaLuma, 0, 255);
  checkNumber('noise.riseS', merged.noise.riseS, 0.01, 600);
  checkNumber('noise.fallS', merged.noise.fallS, 0.01, 600);
  checkNumber('regions.minAreaFraction', merged.regions.minAreaFraction, 0, 0.5);
  checkNumber('activity.weight', merged.activity.weight, 0, 100);
  checkNumber('activity.riseS', merged.activity.riseS, 0.1, 3600);
  checkNumber('activity.fallS', merged.activity.fallS, 0.1, 3600);
  checkNumber('activity.clipFactor', merged.activity.clipFactor, 1, 1000);
  checkNumber('night.enterLuma', merged.night.enterLuma, 0, 255);
  checkNumber('night.exitLuma', merged.night.exitLuma, merged.night.enterLuma, 255);
  checkNumber('night.thresholdSigma', merged.night.thresholdSigma, 0.5, 50);
  checkNumber('night.minAreaFraction', merged.night.minAreaFraction, 0, 0.5);
  checkNumber('night.levelFactor', merged.night.levelFactor, 0.01, 1);
  checkNumber('auto.margin', merged.auto.margin, 1, 100);
  checkNumber('auto.windowS', merged.auto.windowS, 1, 600);
  checkNumber('auto.holdS', merged.auto.holdS, 0, 3600);
  checkNumber('gapS', merged.gapS, 0, 3600);
  checkNumber('maxEventS', merged.maxEventS, 1, 86_400);
  checkNumber('warmupS', merged.warmupS, 0, 3600);
  checkNumber('calibrationWindowS', merged.calibrationWindowS, 0.5, 600);
  const { lighting } = merged;
  if (!['tone', 'gain-offset', 'offset', 'none'].includes(lighting.compensation)) {
    throw new DetectorError('DETECTOR_BAD_CONFIG', `lighting.compensation must be tone, gain-offset, offset or none`, { key: 'lighting.compensation', value: lighting.compensation });
  }
  checkNumber('lighting.pixelDelta', lighting.pixelDelta, 1, 255);
  checkNumber('lighting.switchFraction', lighting.switchFraction, 0.05, 1);
  checkNumber('lighting.holdS', lighting.holdS, 0, 60);
  if (merged.mask) checkMask(merged.mask);
  return Object.freeze({
    ...merged,
    lighting: Object.freeze(lighting),
    noise: Object.freeze(merged.noise),
    regions: Object.freeze(merged.regions),
    activity: Object.freeze(merged.activity),
    night: Object.freeze(merged.night),
    auto: Object.freeze(merged.auto),
  });
}

function checkMask(mask: DetectorMask): void {
  for (const rect of mask.rects ?? []) checkRect(rect);
  const image = mask.image;
  if (image) {
    const ok =
      Number.isInteger(image.width) && Number.isInteger(image.height) && image.width > 0 && image.height > 0 && image.data?.length === image.width * image.height;
    if (!ok) {
      throw new DetectorError('DETECTOR_BAD_MASK', `mask image must be width*height bytes`, { width: image.width, height: image.height, bytes: image.data?.length });
    }
  }
}

function checkRect(rect: MaskRect): void {
  const values = [rect.x, rect.y, rect.width, rect.height];
  const ok = values.every((v) => Number.isFinite(v) && v >= 0 && v <= 1) && rect.x + rect.width <= 1 + 1e-9 && rect.y + rect.height <= 1 + 1e-9;
  if (!ok) throw new DetectorError('DETECTOR_BAD_MASK', 'mask rectangles are fractions of the frame (0..1) and must lie inside it', rect);
}

function checkNumber(key: string, value: number, min: number, max: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new DetectorError('DETECTOR_BAD_CONFIG', `${key} must be a number in [${min}, ${max}]`, { key, value });
  }
}

function checkInt(key: string, value: number, min: number, max: number): void {
  checkNumber(key, value, min, max);
  if (!Number.isInteger(value)) throw new DetectorError('DETECTOR_BAD_CONFIG', `${key} must be an integer`, { key, value });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
