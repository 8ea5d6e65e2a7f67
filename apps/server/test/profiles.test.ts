import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyProfile, chooseProfile, ConfigError, loadConfig, parseConfig, PROFILE_NAMES, PROFILES, profileForModel } from '../src/config';

const dir = mkdtempSync(join(tmpdir(), 'preroll-profiles-'));
let counter = 0;
function file(text: string): string {
  const path = join(dir, `f${counter++}`);
  writeFileSync(path, text);
  return path;
}
/** A device-tree model file as the kernel writes it: NUL-terminated. */
function modelFile(model: string): string {
  return file(`${model}\0`);
}

describe('Raspberry Pi profiles', () => {
  // Real /proc/device-tree/model strings of each board.
  test.each([
    ['Raspberry Pi Zero 2 W Rev 1.0', 'pi-zero-2-w'],
    ['Raspberry Pi 3 Model B Rev 1.2', 'pi-3'],
    ['Raspberry Pi 3 Model B Plus Rev 1.3', 'pi-3'],
    ['Raspberry Pi 3 Model A Plus Rev 1.0', 'pi-3'],
    ['Raspberry Pi Compute Module 3 Plus Rev 1.0', 'pi-3'],
    ['Raspberry Pi 4 Model B Rev 1.5', 'pi-4'],
    ['Raspberry Pi 400 Rev 1.0', 'pi-4'],
    ['Raspberry Pi Compute Module 4 Rev 1.0', 'pi-4'],
    ['Raspberry Pi Compute Module 4S Rev 1.0', 'pi-4'],
    ['Raspberry Pi 5 Model B Rev 1.0', 'pi-5'],
    ['Raspberry Pi 500 Rev 1.0', 'pi-5'],
    ['Raspberry Pi Compute Module 5 Rev 1.0', 'pi-5'],
    // Older boards get the lightest profile.
    ['Raspberry Pi 2 Model B Rev 1.1', 'pi-zero-2-w'],
    ['Raspberry Pi Zero W Rev 1.1', 'pi-zero-2-w'],
    ['Raspberry Pi Model B Rev 2', 'pi-zero-2-w'],
    // Not a Raspberry Pi, although the name says "Pi 4".
    ['Radxa ROCK Pi 4B', null],
    ['Pine64 RockPro64 v2.1', null],
    [null, null],
  ])('%s → %s', (model, expected) => {
    expect(profileForModel(model)).toBe(expected);
  });

  test.each(PROFILE_NAMES.map((name) => [name]))('%s: rows need no padding on any Pi, and the values pass the schema', (name) => {
    const profile = PROFILES[name];
    // rpicam-vid pads rows to 64 bytes (Pi 0-4) or 128 (Pi 5); chroma rows are half as wide.
    expect(profile.camera.width % 128).toBe(0);
    expect((profile.camera.width / 2) % 64).toBe(0);
    expect(profile.camera.height % 2).toBe(0);
    const config = parseConfig({ camera: profile.camera, recorder: profile.recorder, live: profile.live ?? {} });
    expect(config.camera).toMatchObject(profile.camera);
  });

  test('the values the product promises per model', () => {
    expect(PROFILES['pi-zero-2-w']).toMatchObject({ camera: { width: 1024, height: 576, fps: 15 }, recorder: { encoder: 'libx264' }, live: { width: 480, maxFps: 5 } });
    expect(PROFILES['pi-3']).toMatchObject({ camera: PROFILES['pi-zero-2-w'].camera, live: PROFILES['pi-zero-2-w'].live });
    // `auto` resolves to h264_v4l2m2m on a Pi 4 (encoder device present), libx264 if it is missing.
    expect(PROFILES['pi-4']).toMatchObject({ camera: { width: 1280, height: 720, fps: 30 }, recorder: { encoder: 'auto' } });
    expect(PROFILES['pi-5']).toMatchObject({ camera: { width: 1280, height: 720, fps: 30 }, recorder: { encoder: 'libx264' } });
    // Object labels: off on the A53 boards, left at the schema's default (on) on a Pi 4 and 5.
    expect(PROFILES['pi-zero-2-w'].labels).toEqual({ enabled: false });
    expect(PROFILES['pi-3'].labels).toEqual({ enabled: false });
    expect(PROFILES['pi-4'].labels).toBeUndefined();
    expect(PROFILES['pi-5'].labels).toBeUndefined();
  });

  test.each([
    [undefined, 'Raspberry Pi 4 Model B Rev 1.5', 'pi-4'],
    ['auto', 'Raspberry Pi 5 Model B Rev 1.0', 'pi-5'],
    ['auto', null, 'none'],
    ['none', 'Raspberry Pi 4 Model B Rev 1.5', 'none'],
    ['pi-5', null, 'pi-5'],
    ['pi-3', 'Raspberry Pi 5 Model B Rev 1.0', 'pi-3'],
  ])('chooseProfile(%s, %s) → %s', (setting, model, expected) => {
    expect(chooseProfile(setting, model)?.name).toBe(expected);
  });

  test('an unknown setting is left to the schema', () => {
    expect(chooseProfile('pi-9', null)).toBeNull();
  });

  test.each([
    // [raw config, keys the Zero 2 W profile fills]
    [{}, ['camera.width', 'camera.height', 'camera.fps', 'recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    [{ camera: { source: 'auto' } }, ['camera.width', 'camera.height', 'camera.fps', 'recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    // A lone explicit width does not get the profile's height (it would distort the picture).
    [{ camera: { width: 1280 } }, ['camera.fps', 'recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    [{ camera: { fps: 10 }, live: { maxFps: 2 } }, ['camera.width', 'camera.height', 'recorder.encoder', 'live.width', 'labels.enabled']],
    // A size or rate in the rpicam spec is explicit.
    [{ camera: { source: 'rpicam:640x480@10' } }, ['recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    [{ camera: { source: 'rpicam:640x480' } }, ['camera.fps', 'recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    // USB and network cameras keep their own size; the encoder and live view still follow the board.
    [{ camera: { source: 'v4l2:/dev/video0' } }, ['recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    [{ camera: { source: 'url:rtsp://cam.local/stream' } }, ['recorder.encoder', 'live.width', 'live.maxFps', 'labels.enabled']],
    [{ camera: { source: 'demo' }, recorder: { encoder: 'h264_v4l2m2m' } }, ['live.width', 'live.maxFps', 'labels.enabled']],
    // Not objects: left alone for the schema to reject.
    [{ camera: 5, live: [] }, ['recorder.encoder', 'labels.enabled']],
    // An explicit labels switch wins over the board's.
    [{ camera: { source: 'demo' }, recorder: { encoder: 'libx264' }, labels: { enabled: true } }, ['live.width', 'live.maxFps']],
  ])('applyProfile(%j) fills only %j', (raw, keys) => {
    const before = structuredClone(raw);
    const { config, applied } = applyProfile(raw as Record<string, unknown>, PROFILES['pi-zero-2-w']);
    expect(applied).toEqual(keys);
    expect(raw).toEqual(before);
    // Every key the input had is unchanged in the output.
    for (const [section, value] of Object.entries(raw)) {
      if (typeof value === 'object' && !Array.isArray(value)) expect(config[section]).toMatchObject(value as object);
      else expect(config[section]).toEqual(value);
    }
  });
});

describe('loadConfig with a board model', () => {
  test('a Zero 2 W gets its profile, and says so', () => {
    const loaded = loadConfig({ env: {}, modelPath: modelFile('Raspberry Pi Zero 2 W Rev 1.0') });
    expect(loaded.config.camera).toMatchObject({ width: 1024, height: 576, fps: 15, profile: 'auto' });
    expect(loaded.config.recorder.encoder).toBe('libx264');
    expect(loaded.config.live).toMatchObject({ width: 480, maxFps: 5 });
    expect(loaded.profile).toMatchObject({ name: 'pi-zero-2-w', model: 'Raspberry Pi Zero 2 W Rev 1.0' });
    expect(loaded.profile.reason).toContain('Zero 2 W');
    expect(loaded.profile.applied).toContain('camera.width');
  });

  test('explicit keys win: the file, the environment and flags', () => {
    const config = file(JSON.stringify({ camera: { width: 640, height: 480 }, live: { width: 320 } }));
    const loaded = loadConfig({
      file: config,
      env: { PREROLL_CAMERA__FPS: '10', PREROLL_RECORDER__ENCODER: 'libx264' },
      overrides: { 'live.maxFps': 2 },
      modelPath: modelFile('Raspberry Pi 4 Model B Rev 1.5'),
    });
    expect(loaded.profile.name).toBe('pi-4');
    expect(loaded.config.camera).toMatchObject({ width: 640, height: 480, fps: 10 });
    expect(loaded.config.recorder.encoder).toBe('libx264');
    expect(loaded.config.live).toMatchObject({ width: 320, maxFps: 2 });
    expect(loaded.profile.applied).toEqual([]);
  });

  test('camera.profile overrides the detection, from the file or the environment', () => {
    const pi4 = modelFile('Raspberry Pi 4 Model B Rev 1.5');
    const none = loadConfig({ file: file('{"camera":{"profile":"none"}}'), env: {}, modelPath: pi4 });
    expect(none.profile.name).toBe('none');
    expect(none.config.camera.width).toBeUndefined();
    expect(none.config.recorder.encoder).toBe('libx264');
    const forced = loadConfig({ env: { PREROLL_CAMERA__PROFILE: 'pi-5' }, modelPath: join(dir, 'no-such-model') });
    expect(forced.profile).toMatchObject({ name: 'pi-5', model: null });
    expect(forced.config.camera).toMatchObject({ width: 1280, height: 720, fps: 30 });
  });

  test('a machine without a device tree gets the plain defaults', () => {
    const loaded = loadConfig({ env: {}, modelPath: join(dir, 'missing') });
    expect(loaded.profile).toEqual({ name: 'none', model: null, reason: 'no board model (not a Raspberry Pi)', applied: [] });
    expect(loaded.config.camera.width).toBeUndefined();
    expect(loaded.config.live.width).toBe(640);
  });

  test('an unknown profile is refused naming camera.profile', () => {
    let error: unknown;
    try {
      loadConfig({ file: file('{"camera":{"profile":"pi-9"}}'), env: {}, modelPath: join(dir, 'missing') });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ code: 'CONFIG_INVALID', key: 'camera.profile' });
  });
});
