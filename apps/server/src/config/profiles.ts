import { boardFromModel, parseSourceSpec, type SourceSpec } from '@preroll/capture';

/**
 * Profiles for Raspberry Pi models: defaults for the camera size and rate, the H.264 encoder
 * and the live view that a model can sustain. A profile only fills keys the configuration
 * leaves out (file, environment or flags); an explicit key always wins. Everything here is pure;
 * `loadConfig` reads the board model and applies the result before validation.
 */

/** The profiles, one per class of board. */
export const PROFILE_NAMES = ['pi-zero-2-w', 'pi-3', 'pi-4', 'pi-5'] as const;
/** A profile's name. */
export type ProfileName = (typeof PROFILE_NAMES)[number];
/** Values of `camera.profile`: a profile, `auto` (from the board model) or `none`. */
export const PROFILE_SETTINGS = ['auto', 'none', ...PROFILE_NAMES] as const;
/** A value of `camera.profile`. */
export type ProfileSetting = (typeof PROFILE_SETTINGS)[number];

/** The defaults a profile sets (a subset of the configuration's keys). */
export interface Profile {
  readonly name: ProfileName;
  /** Why these values, for the documentation and the log. */
  readonly summary: string;
  /** Applied only to the Pi camera (`auto`, `rpicam`): a USB or network camera keeps its own size. */
  readonly camera: { readonly width: number; readonly height: number; readonly fps: number };
  readonly recorder: { readonly encoder: 'libx264' | 'h264_v4l2m2m' | 'auto' };
  readonly live?: { readonly width: number; readonly maxFps: number };
  /** Object labels per event: off where a classification would compete with the encoder for the only spare core (docs/labels.md). */
  readonly labels?: { readonly enabled: boolean };
}

// Widths are multiples of 128 so rpicam-vid's rows carry no padding on any model (stride
// alignment is 64 on a Pi 0-4 and 128 on a Pi 5), and 16:9 so the sensor's full field of view
// is kept (the camera module 3 and HQ modes are 16:9 or 4:3 binned; 16:9 crops least at 720p).
const SMALL: Omit<Profile, 'name'> = {
  summary: 'four Cortex-A53 cores and 512 MB-1 GB: 1024x576 at 15 fps with libx264, live view 480 px at 5 fps',
  camera: { width: 1024, height: 576, fps: 15 },
  // libx264 ultrafast at 1024x576@15 fits in about one A53 core; the hardware encoder would
  // take CMA memory the camera needs on a 512 MB board.
  recorder: { encoder: 'libx264' },
  // Every live JPEG costs a sharp resize + encode on the same small cores.
  live: { width: 480, maxFps: 5 },
  // One detector pass is several seconds of an A53 core that libx264 already needs (docs/labels.md).
  labels: { enabled: false },
};

/** The profiles' values, table-tested and documented in docs/install-raspberry-pi.md. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = Object.freeze({
  'pi-zero-2-w': { name: 'pi-zero-2-w', ...SMALL },
  'pi-3': { name: 'pi-3', ...SMALL },
  'pi-4': {
    name: 'pi-4',
    summary: 'Cortex-A72 with the VideoCore H.264 encoder: 1280x720 at 30 fps, hardware encoding',
    camera: { width: 1280, height: 720, fps: 30 },
    // `auto` is h264_v4l2m2m wherever /dev/video11 and ffmpeg's encoder exist (Raspberry Pi OS
    // always), and libx264 instead of a crash loop where they do not.
    recorder: { encoder: 'auto' },
  },
  'pi-5': {
    name: 'pi-5',
    summary: 'Cortex-A76, no hardware H.264 encoder: 1280x720 at 30 fps with libx264',
    camera: { width: 1280, height: 720, fps: 30 },
    recorder: { encoder: 'libx264' },
  },
});

/**
 * The profile for a board model string (`/proc/device-tree/model`, NULs removed), or null when
 * it is not a Raspberry Pi. Models older than the Pi 3 get the smallest profile. Pure.
 */
export function profileForModel(model: string | null): ProfileName | null {
  const board = boardFromModel(model);
  if (!board.isRaspberryPi || model === null) return null;
  // The Pi 5 family is the one capture aligns rows to 128 bytes for: one definition of "Pi 5".
  if (board.strideAlign === 128) return 'pi-5';
  if (/raspberry pi (4|400)\b|compute module 4/i.test(model)) return 'pi-4';
  if (/raspberry pi 3\b|compute module 3/i.test(model)) return 'pi-3';
  return 'pi-zero-2-w';
}

/** Which profile was used, and why; `loadConfig` returns it so the server can log it. */
export interface ProfileChoice {
  /** The profile applied, or `none`. */
  readonly name: ProfileName | 'none';
  /** The board model read, or null when there is none (not a device-tree machine). */
  readonly model: string | null;
  /** One sentence for the log. */
  readonly reason: string;
  /** The dotted keys the profile filled in (keys the configuration set are not listed). */
  readonly applied: readonly string[];
}

/**
 * Chooses the profile from the `camera.profile` setting and the board model. Returns null when
 * the setting is not a known value (the schema then reports it). Pure.
 */
export function chooseProfile(setting: unknown, model: string | null): { name: ProfileName | 'none'; reason: string } | null {
  if (setting === undefined || setting === 'auto') {
    const name = profileForModel(model);
    if (name) return { name, reason: `board "${model}"` };
    return { name: 'none', reason: model ? `board "${model}" is not a Raspberry Pi` : 'no board model (not a Raspberry Pi)' };
  }
  if (setting === 'none') return { name: 'none', reason: 'camera.profile is "none"' };
  if (typeof setting === 'string' && (PROFILE_NAMES as readonly string[]).includes(setting)) return { name: setting as ProfileName, reason: `camera.profile is "${setting}"` };
  return null;
}

/**
 * Fills the profile's values into a raw configuration object (file + environment + flags,
 * before validation) where the keys are absent, and returns a new object and the keys filled.
 * The camera size and rate apply only to the Pi camera (`auto` or `rpicam…`; a size or rate
 * written in the `rpicam:WxH@FPS` spec counts as explicit); width and height go together so a
 * lone explicit width never gets the profile's height. Sections that are not objects are left
 * for the schema to reject. Pure.
 */
export function applyProfile(raw: Readonly<Record<string, unknown>>, profile: Profile): { config: Record<string, unknown>; applied: string[] } {
  const config = structuredClone(raw) as Record<string, unknown>;
  const applied: string[] = [];
  const fill = (section: string, values: Record<string, unknown>): void => {
    const current = config[section] ?? {};
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return;
    const target = current as Record<string, unknown>;
    for (const [key, value] of Object.entries(values)) {
      if (target[key] !== undefined) continue;
      target[key] = value;
      applied.push(`${section}.${key}`);
    }
    config[section] = target;
  };

  const camera = config.camera;
  const spec = piCameraSpec(typeof camera === 'object' && camera !== null ? (camera as Record<string, unknown>).source : undefined);
  if (spec) {
    const explicit = (typeof camera === 'object' && camera !== null ? camera : {}) as Record<string, unknown>;
    const values: Record<string, unknown> = {};
    const sized = explicit.width !== undefined || explicit.height !== undefined || spec.width !== undefined;
    if (!sized) Object.assign(values, { width: profile.camera.width, height: profile.camera.height });
    if (spec.fps === undefined) values.fps = profile.camera.fps;
    fill('camera', values);
  }
  fill('recorder', { ...profile.recorder });
  if (profile.live) fill('live', { ...profile.live });
  if (profile.labels) fill('labels', { ...profile.labels });
  return { config, applied };
}

/** The parsed spec when the source is the Pi camera (`auto` counts: on a Pi it finds it), else null. */
function piCameraSpec(source: unknown): Extract<SourceSpec, { kind: 'rpicam' }> | null {
  if (source === undefined || source === 'auto') return { kind: 'rpicam' };
  if (typeof source !== 'string') return null;
  try {
    const spec = parseSourceSpec(source);
    return spec.kind === 'rpicam' ? spec : null;
  } catch (error) {
    // A malformed source is the schema's and the capture's to report, with their own codes.
    void error;
    return null;
  }
}
