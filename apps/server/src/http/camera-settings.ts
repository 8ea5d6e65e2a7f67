import { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import {
  AUTOFOCUS_MODES,
  AWB_MODES,
  CaptureError,
  DENOISE_MODES,
  HDR_MODES,
  describeSpec,
  listV4l2Controls,
  parseSourceSpec,
  RPICAM_CONTROL_LIMITS,
  setV4l2Controls,
  type ReconfigureResult,
  type RpicamControls,
} from '@preroll/capture';
import { DetectorError, type MaskPolygon, type PolygonMask } from '@preroll/detector';
import { cameraControlsSchema, ConfigError, polygonSchema, v4l2ControlsSchema, type ConfigEditor, type Config } from '../config';
import type { Runtime } from '../runtime/runtime';
import { HttpError, parseInput } from './errors';
import { ConfigUpdateError } from '../runtime/config-service';

/** Options of {@link createCameraSettingsApi}. */
export interface CameraSettingsOptions {
  readonly runtime: Runtime;
  /** The whole configuration as loaded (its `camera`/`cameras` say where this camera's keys are saved). */
  readonly config: Readonly<Config>;
  /** Where saves go. */
  readonly editor: ConfigEditor;
  readonly logger: Logger;
  /** How long a mask preview holds without being renewed, at most (default 30 s). */
  readonly maxMaskLeaseMs?: number;
  /** Longest a mask preview may be renewed for in all (default 10 min). */
  readonly maxMaskPreviewMs?: number;
  /** A camera preview not saved or cancelled is reverted after this long (default 5 min). */
  readonly cameraPreviewMs?: number;
}

/** The camera's settings routes, stopped with the server. */
export interface CameraSettingsApi {
  readonly router: Router;
  /** Ends previews (reverting them) and clears their timers. */
  close(): void;
}

const maskPreviewBody = z.strictObject({
  polygons: z.array(polygonSchema).max(32),
  leaseMs: z.int().min(1000).max(600_000).optional(),
});
const maskBody = z.strictObject({ polygons: z.array(polygonSchema).max(32) });
const rpicamBody = z.strictObject({ controls: cameraControlsSchema, fps: z.number().min(0.1).max(120).optional() });
const rpicamSaveBody = rpicamBody.extend({
  width: z.int().min(32).max(4096).multipleOf(2).optional(),
  height: z.int().min(32).max(4096).multipleOf(2).optional(),
});
const v4l2Body = z.strictObject({ values: v4l2ControlsSchema });


/** Lower layers' errors as HTTP errors with their own stable codes. */
function translate(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (error instanceof DetectorError) return new HttpError(400, error.code, error.message);
  if (error instanceof ConfigError) return new HttpError(400, error.code, error.message);
  if (error instanceof ConfigUpdateError) return new HttpError(error.status, error.code, error.message);
  if (error instanceof CaptureError) {
    const status = error.code === 'CAPTURE_BAD_CONTROL' ? 400 : error.code === 'CAPTURE_NOT_RECONFIGURABLE' ? 409 : 502;
    return new HttpError(status, error.code, error.message);
  }
  return error;
}

const wrap =
  (handler: (req: Request, res: Response) => Promise<void> | void) =>
  (req: Request, res: Response, next: NextFunction): void => {
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => next(translate(error)));
  };

/** The parts of a Pi camera source the routes use. */
interface PiCamera {
  reconfigure(change: { controls?: RpicamControls; fps?: number }): Promise<ReconfigureResult>;
  cameraControls(): { controls: RpicamControls; fps: number };
  readonly width: number;
  readonly height: number;
}

/** Saving writes the configuration file: admin only (a `control` token previews but cannot save). */
function requireAdmin(res: Response): void {
  const identity = res.locals.identity as { scope?: string } | undefined;
  if (identity && identity.scope !== 'admin') throw new HttpError(403, 'AUTH_SCOPE', `this token has the "${identity.scope}" scope; saving settings needs "admin"`);
}

/**
 * Camera controls and the mask editor of one camera (mounted under `/api` and
 * `/api/cameras/<id>`): read, preview live without saving, save to the configuration file.
 *
 * A mask preview is a lease: it reverts when not renewed in time (the page renews it while it
 * is open, so closing or losing the page reverts it) and after `maxMaskPreviewMs` in all. A
 * camera preview reverts on cancel, or after `cameraPreviewMs`.
 */
export function createCameraSettingsApi(options: CameraSettingsOptions): CameraSettingsApi {
  const { runtime, config, editor, logger } = options;
  const maxLeaseMs = options.maxMaskLeaseMs ?? 30_000;
  const maxPreviewMs = options.maxMaskPreviewMs ?? 600_000;
  const cameraPreviewMs = options.cameraPreviewMs ?? 300_000;
  const id = config.camera.id;
  const index = config.cameras ? config.cameras.findIndex((c) => c.id === id) : -1;
  /** Where this camera's keys live in the file. */
  const cameraPath = (...rest: string[]): (string | number)[] => (index >= 0 ? ['cameras', index, ...rest] : ['camera', ...rest]);
  const maskPath = (): (string | number)[] => (index >= 0 ? ['cameras', index, 'detector', 'mask'] : ['detector', 'mask']);
  // What is saved: the baseline every preview reverts to.
  let savedMask: PolygonMask | undefined;
  let savedMaskKnown = false;
  /** The saved mask, read from the detector the first time (before any preview changes it). */
  const baseline = (): void => {
    if (savedMaskKnown) return;
    savedMask = runtime.detectorMask();
    savedMaskKnown = true;
  };
  let savedRpicam: { controls: RpicamControls; fps?: number } = { controls: { ...config.camera.controls }, fps: config.camera.fps };
  let savedV4l2: Record<string, number> = { ...config.camera.v4l2Controls };
  let maskPreview: { timer: NodeJS.Timeout; startedAt: number; expiresAt: number } | null = null;
  let cameraPreview: { timer: NodeJS.Timeout; v4l2Before: Record<string, number> | null } | null = null;

  const rpicamSource = (): PiCamera => {
    const source = runtime.cameraSource();
    if (!source?.reconfigure || !source.cameraControls?.()) throw new HttpError(409, 'CAPTURE_NOT_RECONFIGURABLE', 'this camera is not a Pi camera (rpicam): it has no rpicam controls');
    return {
      // Every planned restart marks its gap in the clip, segment and ring, naming the keys changed.
      reconfigure: async (change) => {
        const before = source.cameraControls!() ?? { controls: {}, fps: source.fps };
        const result = await source.reconfigure!(change);
        runtime.markCameraRestart(restartKeys(before, source.cameraControls!() ?? before), result);
        return result;
      },
      cameraControls: () => source.cameraControls!() ?? { controls: {}, fps: source.fps },
      width: source.width,
      height: source.height,
    };
  };
  /** The dotted keys a controls restart changed (the controls as a whole when none differs, e.g. an AF sweep). */
  const restartKeys = (before: { controls: RpicamControls; fps: number }, after: { controls: RpicamControls; fps: number }): string[] => {
    const names = new Set([...Object.keys(before.controls), ...Object.keys(after.controls)]) as Set<keyof RpicamControls>;
    const keys = [...names].filter((name) => JSON.stringify(before.controls[name]) !== JSON.stringify(after.controls[name])).sort().map((name) => cameraPath('controls', name).join('.'));
    if (before.fps !== after.fps) keys.push(cameraPath('fps').join('.'));
    return keys.length ? keys : [cameraPath('controls').join('.')];
  };
  const v4l2Device = (): string | null => {
    try {
      const spec = parseSourceSpec(runtime.sourceSpec());
      return spec.kind === 'v4l2' ? spec.device : null;
    } catch (error) {
      logger.debug({ err: error }, 'camera settings: source spec not parsed');
      return null;
    }
  };

  const endMaskPreview = (revert: boolean): void => {
    if (!maskPreview) return;
    clearTimeout(maskPreview.timer);
    maskPreview = null;
    if (!revert) return;
    try {
      runtime.setDetectorMask(savedMask);
      logger.info('mask preview ended: the saved mask is back');
    } catch (error) {
      logger.error({ err: error }, 'mask preview: the saved mask could not be put back');
    }
  };

  const endCameraPreview = async (revert: boolean): Promise<void> => {
    const preview = cameraPreview;
    if (!preview) return;
    clearTimeout(preview.timer);
    cameraPreview = null;
    if (!revert) return;
    const device = v4l2Device();
    if (device && preview.v4l2Before) await setV4l2Controls(device, preview.v4l2Before);
    else if (runtime.cameraSource()?.reconfigure && runtime.cameraSource()?.cameraControls?.()) {
      await rpicamSource().reconfigure({ controls: savedRpicam.controls, fps: savedRpicam.fps ?? rpicamSource().cameraControls().fps });
    }
    logger.info('camera preview ended: the saved settings are back');
  };

  const armCameraPreview = (v4l2Before: Record<string, number> | null): void => {
    if (cameraPreview) clearTimeout(cameraPreview.timer);
    const timer = setTimeout(() => {
      void endCameraPreview(true).catch((error: unknown) => logger.error({ err: error }, 'camera preview: reverting failed'));
    }, cameraPreviewMs);
    timer.unref();
    cameraPreview = { timer, v4l2Before: cameraPreview?.v4l2Before ?? v4l2Before };
  };

  /**
   * Where a new frame size is saved: in the source spec when the spec names the size
   * (`rpicam:640x480@15`, which wins over `camera.width`), else in `camera.width`/`camera.height`.
   */
  const sizeChanges = (width: number, height: number, fps: number): [(string | number)[], unknown][] => {
    const configured = config.camera.source;
    if (configured !== 'auto') {
      const spec = parseSourceSpec(runtime.sourceSpec());
      if (spec.kind === 'rpicam' && spec.width !== undefined) return [[cameraPath('source'), describeSpec({ ...spec, width, height, fps: spec.fps === undefined ? undefined : fps })]];
    }
    return [
      [cameraPath('width'), width],
      [cameraPath('height'), height],
    ];
  };

  const router = Router();

  router.get(
    '/mask',
    wrap((_req, res) => {
      baseline();
      const current = runtime.detectorMask();
      res.json({
        polygons: current?.polygons ?? [],
        rects: current?.rects ?? [],
        imagePath: config.detector.mask.imagePath ?? null,
        saved: { polygons: savedMask?.polygons ?? [] },
        preview: maskPreview ? { expiresAt: new Date(maskPreview.expiresAt).toISOString() } : null,
      });
    }),
  );

  router.post(
    '/mask/preview',
    wrap((req, res) => {
      const body = parseInput(maskPreviewBody, req.body, 'mask preview');
      const now = Date.now();
      baseline();
      const startedAt = maskPreview?.startedAt ?? now;
      if (now - startedAt >= maxPreviewMs) {
        endMaskPreview(true);
        throw new HttpError(409, 'MASK_PREVIEW_EXPIRED', `a mask preview lasts at most ${Math.round(maxPreviewMs / 1000)} s: save it or start again`);
      }
      runtime.setDetectorMask({ ...savedMask, polygons: body.polygons as MaskPolygon[] });
      const leaseMs = Math.min(body.leaseMs ?? 15_000, maxLeaseMs, startedAt + maxPreviewMs - now);
      if (maskPreview) clearTimeout(maskPreview.timer);
      const timer = setTimeout(() => endMaskPreview(true), leaseMs);
      timer.unref();
      maskPreview = { timer, startedAt, expiresAt: now + leaseMs };
      res.json({ expiresAt: new Date(maskPreview.expiresAt).toISOString(), leaseMs });
    }),
  );

  router.delete(
    '/mask/preview',
    wrap((_req, res) => {
      endMaskPreview(true);
      res.json({ preview: null });
    }),
  );

  router.put(
    '/mask',
    wrap(async (req, res) => {
      requireAdmin(res);
      const body = parseInput(maskBody, req.body, 'mask');
      baseline();
      const next: PolygonMask = { ...savedMask, polygons: body.polygons as MaskPolygon[] };
      const before = runtime.detectorMask();
      // Applied first: a mask the detector refuses (e.g. one hiding everything) is never saved.
      runtime.setDetectorMask(next);
      const own = index >= 0 ? config.cameras?.[index]?.detector?.mask : undefined;
      const base = own ?? config.detector.mask;
      try {
        await editor.set([[maskPath(), { rects: base.rects, ...(base.imagePath !== undefined ? { imagePath: base.imagePath } : {}), polygons: body.polygons }]]);
      } catch (error) {
        // Not saved: what was in force before (the saved mask, or the preview) comes back.
        runtime.setDetectorMask(before);
        throw error;
      }
      savedMask = next;
      endMaskPreview(false);
      logger.info({ camera: id, polygons: body.polygons.length }, 'mask saved');
      res.json({ polygons: body.polygons, saved: true });
    }),
  );

  router.get(
    '/camera/controls',
    wrap(async (_req, res) => {
      const source = runtime.cameraSource();
      const device = v4l2Device();
      if (device) {
        res.json({ kind: 'v4l2', device, controls: await listV4l2Controls(device), saved: savedV4l2, preview: cameraPreview !== null });
        return;
      }
      const rpicam = source?.cameraControls?.();
      if (!rpicam) {
        res.json({ kind: 'none', source: runtime.status().source, controls: null });
        return;
      }
      res.json({
        kind: 'rpicam',
        controls: rpicam.controls,
        fps: rpicam.fps,
        width: source?.width ?? null,
        height: source?.height ?? null,
        saved: savedRpicam,
        preview: cameraPreview !== null,
        stats: { reconfigures: source?.stats().reconfigures ?? 0, lastGapMs: source?.stats().lastGapMs ?? null },
        options: { autofocusMode: AUTOFOCUS_MODES, awb: AWB_MODES, denoise: DENOISE_MODES, hdr: HDR_MODES, limits: RPICAM_CONTROL_LIMITS },
      });
    }),
  );

  router.post(
    '/camera/controls/preview',
    wrap(async (req, res) => {
      const device = v4l2Device();
      if (device) {
        const body = parseInput(v4l2Body, req.body, 'camera controls');
        const before = cameraPreview?.v4l2Before ?? Object.fromEntries((await listV4l2Controls(device)).filter((c) => c.value !== null && c.name in body.values).map((c) => [c.name, c.value as number]));
        await setV4l2Controls(device, body.values);
        armCameraPreview({ ...before, ...Object.fromEntries(Object.keys(body.values).filter((k) => !(k in before)).map((k) => [k, savedV4l2[k]]).filter(([, v]) => v !== undefined)) });
        res.json({ applied: body.values });
        return;
      }
      const body = parseInput(rpicamBody, req.body, 'camera controls');
      const result = await rpicamSource().reconfigure({ controls: body.controls, fps: body.fps });
      armCameraPreview(null);
      res.json({ gapMs: result.gapMs, args: result.args });
    }),
  );

  router.post(
    '/camera/controls/cancel',
    wrap(async (_req, res) => {
      await endCameraPreview(true);
      res.json({ preview: false });
    }),
  );

  router.post(
    '/camera/focus',
    wrap(async (_req, res) => {
      // rpicam-vid has no focus command while it runs: autofocus mode "auto" sweeps once at start.
      const source = rpicamSource();
      const { controls, fps } = source.cameraControls();
      const { lensPosition: _lens, ...rest } = controls;
      void _lens;
      const result = await source.reconfigure({ controls: { ...rest, autofocusMode: 'auto' }, fps });
      armCameraPreview(null);
      res.json({ gapMs: result.gapMs, args: result.args });
    }),
  );

  router.put(
    '/camera/controls',
    wrap(async (req, res) => {
      requireAdmin(res);
      const device = v4l2Device();
      if (device) {
        const body = parseInput(v4l2Body, req.body, 'camera controls');
        await setV4l2Controls(device, body.values);
        const values = { ...savedV4l2, ...body.values };
        await editor.set([[cameraPath('v4l2Controls'), values]]);
        savedV4l2 = values;
        await endCameraPreview(false);
        res.json({ applied: body.values, saved: true, restartRequired: [] });
        return;
      }
      const body = parseInput(rpicamSaveBody, req.body, 'camera controls');
      const source = rpicamSource();
      const fps = body.fps ?? source.cameraControls().fps;
      const changes: [(string | number)[], unknown][] = [[cameraPath('controls'), body.controls]];
      if (body.fps !== undefined) changes.push([cameraPath('fps'), body.fps]);
      if ((body.width === undefined) !== (body.height === undefined)) throw new HttpError(400, 'HTTP_BAD_INPUT', 'camera controls: send both width and height, or neither');
      if (body.width !== undefined && body.height !== undefined && (body.width !== source.width || body.height !== source.height)) {
        // A new frame size needs a new encoder and pre-roll ring (units of two sizes cannot be
        // joined in one clip): saved, then applied by restarting this camera's source and
        // pipeline, which finishes the clip being written and marks where it ends.
        changes.push(...sizeChanges(body.width, body.height, fps));
        const change = await editor.apply(changes);
        savedRpicam = { controls: body.controls, fps };
        await endCameraPreview(false);
        const now = runtime.cameraSource();
        logger.info({ camera: id, width: body.width, height: body.height, applied: change.applied }, 'camera controls and frame size saved');
        res.json({ gapMs: null, saved: true, applied: change.applied, restartRequired: change.restartRequired, width: now?.width ?? null, height: now?.height ?? null, fps: now?.cameraControls?.()?.fps ?? fps });
        return;
      }
      const result = await source.reconfigure({ controls: body.controls, fps });
      await editor.set(changes);
      savedRpicam = { controls: body.controls, fps };
      await endCameraPreview(false);
      logger.info({ camera: id, args: result.args }, 'camera controls saved');
      res.json({ gapMs: result.gapMs, args: result.args, saved: true, applied: changes.map(([path]) => path.join('.')), restartRequired: [] });
    }),
  );

  return {
    router,
    close() {
      if (maskPreview) clearTimeout(maskPreview.timer);
      maskPreview = null;
      if (cameraPreview) clearTimeout(cameraPreview.timer);
      cameraPreview = null;
    },
  };
}
