import { CaptureError } from './errors';

/** Autofocus modes of `rpicam-vid --autofocus-mode` (Camera Module 3 and other AF modules). */
export const AUTOFOCUS_MODES = ['default', 'manual', 'auto', 'continuous'] as const;
/** `--awb` modes. */
export const AWB_MODES = ['auto', 'incandescent', 'tungsten', 'fluorescent', 'indoor', 'daylight', 'cloudy', 'custom'] as const;
/** `--denoise` modes (`cdn_hq` lowers the frame rate a lot; it is offered for stills-like use). */
export const DENOISE_MODES = ['auto', 'off', 'cdn_off', 'cdn_fast', 'cdn_hq'] as const;
/** `--hdr` modes. */
export const HDR_MODES = ['off', 'auto', 'single-exp'] as const;

/**
 * Image controls of the Pi camera, each an `rpicam-vid` option (names from the rpicam-apps
 * documentation, "Common options" and "Camera control options"). Absent means the camera's
 * default (the option is not passed).
 */
export interface RpicamControls {
  /** `--autofocus-mode`. */
  readonly autofocusMode?: (typeof AUTOFOCUS_MODES)[number];
  /** `--lens-position`, dioptres (1 / distance in metres; 0 is infinity). */
  readonly lensPosition?: number;
  /** `--shutter`, microseconds (0 or absent: automatic exposure). */
  readonly shutterUs?: number;
  /** `--gain`, combined analogue and digital gain (0 or absent: automatic). */
  readonly gain?: number;
  /** `--ev`, exposure compensation in stops. */
  readonly ev?: number;
  /** `--awb`. */
  readonly awb?: (typeof AWB_MODES)[number];
  /** `--brightness`, −1 (black) .. 0 (normal) .. 1 (white). */
  readonly brightness?: number;
  /** `--contrast`, 1 is normal. */
  readonly contrast?: number;
  /** `--saturation`, 0 is greyscale, 1 normal. */
  readonly saturation?: number;
  /** `--sharpness`, 0 none, 1 normal. */
  readonly sharpness?: number;
  /** `--denoise`. */
  readonly denoise?: (typeof DENOISE_MODES)[number];
  /** `--hdr` (off is not passed). */
  readonly hdr?: (typeof HDR_MODES)[number];
  readonly hflip?: boolean;
  readonly vflip?: boolean;
  /**
   * `--tuning-file`, by name: a file `<name>.json` of libcamera's tuning directory for the
   * board (e.g. `imx708_noir` for a Camera Module 3 NoIR). A name, never a path, so the page
   * cannot point the camera at an arbitrary file.
   */
  readonly tuningFile?: string;
}

/** Bounds of the numeric controls (the configuration schema uses the same). */
export const RPICAM_CONTROL_LIMITS = Object.freeze({
  lensPosition: [0, 32],
  shutterUs: [0, 200_000_000],
  gain: [0, 64],
  ev: [-10, 10],
  brightness: [-1, 1],
  contrast: [0, 32],
  saturation: [0, 32],
  sharpness: [0, 16],
} as const);

/** Names accepted for `tuningFile`. */
export const TUNING_FILE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** libcamera's tuning directories: `pisp` on a Pi 5, `vc4` on earlier models. */
export function tuningDirectory(strideAlign: 64 | 128): string {
  return strideAlign === 128 ? '/usr/share/libcamera/ipa/rpi/pisp' : '/usr/share/libcamera/ipa/rpi/vc4';
}

/**
 * Checks controls; throws `CAPTURE_BAD_CONTROL` naming the control. Returns them as given.
 */
export function checkRpicamControls(controls: RpicamControls): RpicamControls {
  const bad = (key: string, value: unknown, rule: string): never => {
    throw new CaptureError('CAPTURE_BAD_CONTROL', `camera control ${key} ${rule}`, { key, value });
  };
  for (const [key, [min, max]] of Object.entries(RPICAM_CONTROL_LIMITS)) {
    const value = (controls as Record<string, unknown>)[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) bad(key, value, `must be a number in [${min}, ${max}]`);
  }
  const choice = (key: keyof RpicamControls, values: readonly string[]): void => {
    const value = controls[key];
    if (value !== undefined && !values.includes(value as string)) bad(key, value, `must be one of ${values.join(', ')}`);
  };
  choice('autofocusMode', AUTOFOCUS_MODES);
  choice('awb', AWB_MODES);
  choice('denoise', DENOISE_MODES);
  choice('hdr', HDR_MODES);
  for (const key of ['hflip', 'vflip'] as const) if (controls[key] !== undefined && typeof controls[key] !== 'boolean') bad(key, controls[key], 'must be true or false');
  if (controls.tuningFile !== undefined && (typeof controls.tuningFile !== 'string' || !TUNING_FILE_NAME.test(controls.tuningFile))) {
    bad('tuningFile', controls.tuningFile, 'must be the name of a tuning file (letters, digits, _ and -), e.g. imx708_noir');
  }
  const known = new Set(['autofocusMode', 'awb', 'denoise', 'hdr', 'hflip', 'vflip', 'tuningFile', ...Object.keys(RPICAM_CONTROL_LIMITS)]);
  for (const key of Object.keys(controls)) if (!known.has(key)) bad(key, (controls as Record<string, unknown>)[key], 'is not a camera control');
  return controls;
}

/**
 * The `rpicam-vid` arguments for controls, in a fixed order. Pure. A manual lens position
 * without a mode implies `--autofocus-mode manual` (as rpicam-vid itself does).
 */
export function rpicamControlArgs(controls: RpicamControls, options: { tuningDir?: string } = {}): string[] {
  checkRpicamControls(controls);
  const args: string[] = [];
  const num = (flag: string, value: number | undefined): void => {
    if (value !== undefined) args.push(flag, String(value));
  };
  if (controls.autofocusMode !== undefined && controls.autofocusMode !== 'default') args.push('--autofocus-mode', controls.autofocusMode);
  num('--lens-position', controls.lensPosition);
  if (controls.shutterUs) num('--shutter', controls.shutterUs);
  if (controls.gain) num('--gain', controls.gain);
  num('--ev', controls.ev);
  if (controls.awb !== undefined) args.push('--awb', controls.awb);
  num('--brightness', controls.brightness);
  num('--contrast', controls.contrast);
  num('--saturation', controls.saturation);
  num('--sharpness', controls.sharpness);
  if (controls.denoise !== undefined) args.push('--denoise', controls.denoise);
  if (controls.hdr !== undefined && controls.hdr !== 'off') args.push('--hdr', controls.hdr);
  if (controls.hflip) args.push('--hflip');
  if (controls.vflip) args.push('--vflip');
  if (controls.tuningFile !== undefined) args.push('--tuning-file', `${options.tuningDir ?? tuningDirectory(64)}/${controls.tuningFile}.json`);
  return args;
}
