import { randomBytes } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { lstat, realpath } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { RECORDING_KINDS } from '@preroll/layout';
import { LABEL_FILTER_PATTERN, type EventRecord } from '@preroll/store';
import type { Integrations } from '@preroll/integrations';
import { ExportError } from '../runtime/exports';
import type { Runtime } from '../runtime/runtime';
import { SensorError } from '../runtime/sensors';
import type { Auth } from './auth';
import { HttpError, parseInput } from './errors';

/** Options of {@link createApi}. */
export interface ApiOptions {
  readonly runtime: Runtime;
  readonly auth: Auth;
  readonly actions: { readonly allowReboot: boolean; readonly allowExit: boolean };
  /** Runs the configured reboot command. */
  readonly reboot: () => Promise<void>;
  /** Stops the server process. */
  readonly exit: () => void;
  /** The status document (runtime status plus what the web layer adds). */
  readonly status: () => unknown;
  /** MQTT, webhooks and upload, when configured (for the gallery's upload button). */
  readonly integrations: Integrations | null;
  /** `labels.hideUnlabelled`: the plain event list leaves out events classified with nothing found. Default false. */
  readonly hideUnlabelled?: boolean;
}

const ID = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/);
const triggerBody = z.union([
  z.strictObject({ value: z.number().finite().min(0).max(65025) }),
  z.strictObject({ step: z.union([z.literal(1), z.literal(-1)]) }),
  z.strictObject({ mode: z.enum(['auto', 'manual']) }),
]);
const onOffBody = z.strictObject({ enabled: z.boolean() });
const sensorName = z.string().regex(/^[a-z0-9_-]{1,40}$/);
// No body (a doorbell's bare POST) is a pulse: a cue, then the sensor's hold.
const sensorBody = z.strictObject({ state: z.enum(['pulse', 'on', 'off']).default('pulse') });
const favoriteBody = z.strictObject({ favorite: z.boolean() });
const confirmBody = z.strictObject({ token: z.string().min(1).max(100) });
const calibrateBody = z.strictObject({ apply: z.boolean().default(true) });
// `minutes` is the public contract; `seconds` asks for the same in finer steps (short tests, scripts).
const memoryBody = z
  .strictObject({ minutes: z.number().finite().gt(0).max(1440).optional(), seconds: z.number().finite().gt(0).max(86_400).optional() })
  .refine((b) => b.minutes === undefined || b.seconds === undefined, { message: 'give "minutes" or "seconds", not both' });
// A time as an ISO-8601 string with a zone, or milliseconds since the epoch.
const instant = z.union([z.number().int().min(0).max(8.64e15), z.string().max(40).regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/).transform((v) => Date.parse(v)).pipe(z.number().finite())]);
const exportBody = z.strictObject({ from: instant, to: instant });
const EXPORT_STATUS: Record<string, number> = { EXPORT_BAD_RANGE: 400, EXPORT_TOO_LONG: 400, EXPORT_NO_FOOTAGE: 404, EXPORT_PARTLY_COVERED: 409, EXPORT_BUSY: 409, EXPORT_NOT_FOUND: 404 };
const timelineQuery = z.strictObject({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), camera: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).optional() });
const listQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(500).optional(),
  // One kind, or several separated by commas (the gallery's default leaves continuous segments out).
  kind: z
    .string()
    .max(100)
    .transform((value) => value.split(','))
    .pipe(z.array(z.enum(RECORDING_KINDS as unknown as [string, ...string[]])).min(1))
    .optional(),
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
  favorite: z.enum(['true', 'false']).optional(),
  reviewed: z.enum(['true', 'false']).optional(),
  camera: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).optional(),
  // A label (person, animal, vehicle, other), a detector class (cat, car, ...) or `none`.
  label: z.string().regex(LABEL_FILTER_PATTERN, 'a label is lower-case words: person, animal, vehicle, other, a class such as cat, or none').optional(),
  // "Motion only" events (classified, nothing found): `hide` or `show`, over `labels.hideUnlabelled` (the gallery's remembered toggle).
  unlabelled: z.enum(['hide', 'show']).optional(),
});

/** The counts behind the gallery's label buttons: the same filters as the list, but a day is optional and no label. */
const labelCountQuery = z.strictObject({
  kind: listQuery.shape.kind,
  day: listQuery.shape.day,
  favorite: listQuery.shape.favorite,
  camera: listQuery.shape.camera,
});


/** The JSON API under /api. State changes are POST/PUT/PATCH/DELETE only. */
export function createApi(options: ApiOptions): Router {
  const { runtime, auth } = options;
  const api = Router();
  let deleteAll: { token: string; expires: number } | null = null;
  const dangerous = new Map<'reboot' | 'exit', number>();

  api.post('/login', async (req, res) => {
    const ip = req.socket.remoteAddress ?? 'unknown';
    const body = parseInput(z.strictObject({ password: z.string().max(1024), user: z.string().max(64).optional() }), req.body, 'login');
    // Counted before the check: guesses sent at once share one budget.
    const done = auth.beginLogin(ip);
    const who = await auth.verifyLogin(body.user, body.password);
    done(who !== null);
    if (!who) throw new HttpError(401, 'AUTH_BAD_PASSWORD', body.user === undefined ? 'wrong password' : 'wrong user name or password');
    res.setHeader('Set-Cookie', auth.sessionCookie(who.user));
    res.status(204).end();
  });

  api.post('/logout', (req, res) => {
    auth.endSession(req);
    res.setHeader('Set-Cookie', auth.clearCookie());
    res.status(204).end();
  });

  // Log out everywhere: every session ends and the stream token changes (admin scope).
  api.post('/logout-all', (_req, res) => {
    auth.endAllSessions();
    res.setHeader('Set-Cookie', auth.clearCookie());
    res.status(204).end();
  });

  api.get('/status', (_req, res) => {
    res.json(options.status());
  });

  api.get('/stream-token', (_req, res) => {
    res.json({ token: auth.required ? auth.streamToken() : null });
  });

  api.put('/trigger-level', (req, res) => {
    const body = parseInput(triggerBody, req.body, 'trigger level');
    const level = 'value' in body ? runtime.setTriggerLevel(body.value) : 'step' in body ? runtime.stepTriggerLevel(body.step) : runtime.setTriggerMode(body.mode);
    res.json({ triggerLevel: level });
  });

  api.post('/motion', (req, res) => {
    const body = parseInput(onOffBody, req.body, 'motion');
    res.json({ motionEnabled: runtime.setMotionEnabled(body.enabled) });
  });

  api.post('/sensors/:name', (req, res) => {
    const name = parseInput(sensorName, req.params.name, 'sensor name');
    const body = parseInput(sensorBody, req.body, 'sensor');
    try {
      const taken = runtime.fireSensor(name, body.state);
      res.status(202).json({ sensor: name, state: body.state, taken });
    } catch (error) {
      if (!(error instanceof SensorError)) throw error;
      if (error.code === 'SENSOR_RATE_LIMITED') {
        res.setHeader('Retry-After', String(Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000))));
        throw new HttpError(429, error.code, error.message);
      }
      throw new HttpError(404, error.code, error.message);
    }
  });

  api.post('/record/start', (_req, res) => {
    if (!runtime.startManualRecording()) throw new HttpError(409, 'RECORD_NOT_POSSIBLE', 'the recorder is stopping');
    res.json({ recording: true });
  });

  api.post('/record/stop', (_req, res) => {
    runtime.stopManualRecording();
    res.json({ recording: runtime.status().recording });
  });

  // A photo: the newest frame at full resolution (JPEG) with a thumbnail, kind `photo`. `/snapshot` is the older name.
  for (const route of ['/photo', '/snapshot']) {
    api.post(route, async (_req, res) => {
      res.status(201).json(toApiEvent(await runtime.takeSnapshot()));
    });
  }

  api.post('/continuous', (req, res) => {
    const body = parseInput(onOffBody, req.body, 'continuous');
    res.json({ continuousEnabled: runtime.setContinuous(body.enabled) });
  });

  api.post('/memories', (req, res) => {
    const body = parseInput(memoryBody, req.body, 'memory');
    const addMs = body.minutes !== undefined ? body.minutes * 60_000 : body.seconds !== undefined ? body.seconds * 1000 : undefined;
    let pending;
    try {
      pending = runtime.pressMemory({ addMs });
    } catch (error) {
      if ((error as { code?: string }).code === 'MEMORY_UNAVAILABLE') throw new HttpError(409, 'MEMORY_UNAVAILABLE', (error as Error).message);
      throw error;
    }
    res.status(202).json({
      lookbackS: pending.lookbackMs / 1000,
      minutes: Math.round((pending.lookbackMs / 60_000) * 1000) / 1000,
      since: new Date(pending.firstAtMs).toISOString(),
      saveAt: pending.saveAtMs === null ? null : new Date(pending.saveAtMs).toISOString(),
    });
  });

  api.post('/exports', (req, res) => {
    const body = parseInput(exportBody, req.body, 'export');
    try {
      res.status(202).json(runtime.exportRange({ fromMs: body.from, toMs: body.to }));
    } catch (error) {
      if (!(error instanceof ExportError)) throw error;
      const missing = error.missing.map((m) => ({ from: new Date(m.fromMs).toISOString(), to: new Date(m.toMs).toISOString() }));
      res.status(EXPORT_STATUS[error.code] ?? 400).json({ code: error.code, message: error.message, ...(missing.length ? { missing } : {}) });
    }
  });

  api.get('/exports/:id', (req, res) => {
    const id = parseInput(z.string().regex(/^[0-9a-f]{16}$/), req.params.id, 'export id');
    const job = runtime.exportJob(id);
    if (!job) throw new HttpError(404, 'EXPORT_NOT_FOUND', 'no export with that id (unknown, or finished more than 15 minutes ago)');
    res.json(job);
  });

  api.get('/timeline', (req, res) => {
    const query = parseInput(timelineQuery, req.query, 'query');
    res.json(runtime.timeline(query.day, query.camera));
  });

  api.post('/calibrate', (req, res) => {
    const body = parseInput(calibrateBody, req.body, 'calibrate');
    res.json(runtime.calibrate(body.apply));
  });

  api.post('/delete-all', (_req, res) => {
    deleteAll = { token: randomBytes(12).toString('base64url'), expires: Date.now() + 30_000 };
    res.json({ confirmToken: deleteAll.token, expiresInS: 30, message: 'send the token to /api/delete-all/confirm within 30 s; favourites are kept' });
  });

  api.post('/delete-all/confirm', async (req, res) => {
    const body = parseInput(confirmBody, req.body, 'delete-all confirmation');
    const pending = deleteAll;
    deleteAll = null;
    if (!pending || pending.expires < Date.now() || pending.token !== body.token) {
      throw new HttpError(409, 'CONFIRMATION_EXPIRED', 'no delete-all is waiting for this token; start again');
    }
    res.json(await runtime.store().deleteAll());
  });

  api.post('/delete-all/cancel', (_req, res) => {
    deleteAll = null;
    res.status(204).end();
  });

  for (const action of ['reboot', 'exit'] as const) {
    api.post(`/${action}`, async (req, res) => {
      const allowed = action === 'reboot' ? options.actions.allowReboot : options.actions.allowExit;
      if (!allowed) throw new HttpError(403, 'ACTION_DISABLED', `${action} is disabled in the configuration (actions.allow${action === 'reboot' ? 'Reboot' : 'Exit'})`);
      const body = parseInput(z.strictObject({ confirm: z.boolean().default(false) }), req.body, action);
      const armed = dangerous.get(action);
      if (!body.confirm || !armed || armed < Date.now()) {
        dangerous.set(action, Date.now() + 30_000);
        res.status(202).json({ confirm: true, message: `send {"confirm":true} again within 30 s to ${action}` });
        return;
      }
      dangerous.delete(action);
      res.json({ ok: true });
      if (action === 'reboot') await options.reboot();
      else options.exit();
    });
  }

  api.get('/events', (req, res) => {
    const query = parseInput(listQuery, req.query, 'query');
    const page = runtime.store().list({
      limit: query.limit,
      cursor: query.cursor,
      kind: query.kind as EventRecord['kind'][] | undefined,
      day: query.day,
      favorite: query.favorite === undefined ? undefined : query.favorite === 'true',
      reviewed: query.reviewed === undefined ? undefined : query.reviewed === 'true',
      camera: query.camera,
      label: query.label,
      // "Motion only" events are hidden from the plain list when asked (or configured); a label filter shows what it asks for.
      hideUnlabelled: query.label === undefined && (query.unlabelled === undefined ? options.hideUnlabelled : query.unlabelled === 'hide') ? true : undefined,
    });
    res.json({ items: page.items.map(toApiEvent), nextCursor: page.nextCursor });
  });

  api.get('/labels', (req, res) => {
    const query = parseInput(labelCountQuery, req.query, 'query');
    const labels = runtime.store().countByLabel({
      kind: query.kind as EventRecord['kind'][] | undefined,
      day: query.day,
      favorite: query.favorite === undefined ? undefined : query.favorite === 'true',
      camera: query.camera,
    });
    res.json({ labels, hideUnlabelled: options.hideUnlabelled === true });
  });

  api.get('/days', (_req, res) => {
    res.json({ days: runtime.store().countByDay() });
  });

  api.get('/events/:id', (req, res) => {
    res.json(toApiEvent(findEvent(runtime, req.params.id)));
  });

  api.patch('/events/:id', async (req, res) => {
    const event = findEvent(runtime, req.params.id);
    const body = parseInput(favoriteBody, req.body, 'event');
    res.json(toApiEvent(await runtime.store().setFavorite(event.id, body.favorite)));
  });

  api.post('/events/:id/upload', async (req, res) => {
    const event = findEvent(runtime, req.params.id);
    if (!options.integrations?.config.upload) throw new HttpError(409, 'UPLOAD_DISABLED', 'upload is not configured (integrations.upload, see docs/integrations.md)');
    if (event.offloaded) throw new HttpError(409, 'UPLOAD_NOT_LOCAL', `event ${event.id} was uploaded to ${event.offloaded.remote} and its clip removed from this device`);
    await options.integrations.upload(event, join(runtime.store().dataDir, event.files.clip));
    res.status(202).json(toApiEvent(runtime.store().get(event.id) ?? event));
  });

  api.delete('/events/:id', async (req, res) => {
    const event = findEvent(runtime, req.params.id);
    await runtime.store().deleteEvent(event.id);
    res.status(204).end();
  });

  const fileRoute = (name: string, pick: (e: EventRecord) => string | null, type?: string): void => {
    api.get(`/events/:id/${name}`, async (req: Request, res: Response, next) => {
      const event = findEvent(runtime, req.params.id as string);
      const rel = pick(event);
      // A photo's clip is its snapshot: both went with the upload.
      if (event.offloaded && (name === 'clip' || rel === event.files.clip)) throw new HttpError(410, 'CLIP_OFFLOADED', `the clip of ${event.id} was uploaded to ${event.offloaded.remote} and removed from this device`);
      if (!rel) throw new HttpError(404, 'FILE_NOT_FOUND', `event ${event.id} has no ${name}`);
      // The path comes from the index, never from the URL; it must still be a regular file inside
      // the data directory (a symlink put there over a share could point at auth.json).
      const file = await regularFileInside(runtime.store().dataDir, rel);
      if (!file) throw new HttpError(404, 'FILE_NOT_FOUND', `the ${name} of ${event.id} is missing on disk`);
      if (type) res.type(type);
      // Private media: browsers may keep it, shared caches may not.
      res.setHeader('Cache-Control', 'private, max-age=3600');
      res.sendFile(file.real, { dotfiles: 'allow', cacheControl: false, acceptRanges: true }, (error) => {
        if (!error || res.headersSent) return;
        if ((error as { status?: number }).status === 416) {
          res.setHeader('Content-Range', `bytes */${file.size}`);
          next(new HttpError(416, 'HTTP_RANGE_NOT_SATISFIABLE', `the ${name} of ${event.id} has ${file.size} bytes`));
          return;
        }
        next(new HttpError(404, 'FILE_NOT_FOUND', `the ${name} of ${event.id} is missing on disk`));
      });
    });
  };
  fileRoute('clip', (e) => (e.kind === 'photo' ? null : e.files.clip), 'video/mp4');
  fileRoute('snapshot', (e) => e.files.snapshot, 'image/jpeg');
  fileRoute('thumbnail', (e) => e.files.thumbnail, 'image/jpeg');
  fileRoute('heatmap', (e) => e.files.heatmap, 'image/png');
  fileRoute('sidecar', (e) => e.files.sidecar, 'application/json');

  api.use(() => {
    throw new HttpError(404, 'HTTP_NOT_FOUND', 'no such API endpoint');
  });
  return api;
}

/**
 * The real path and size of `rel` when it is a regular file (not a symlink) whose real path lies
 * inside `dataDir`; null otherwise.
 */
async function regularFileInside(dataDir: string, rel: string): Promise<{ real: string; size: number } | null> {
  try {
    const root = await realpath(dataDir);
    const full = resolve(root, rel);
    const link = await lstat(full);
    if (!link.isFile()) return null;
    const real = await realpath(full);
    if (!real.startsWith(root + sep)) return null;
    return { real, size: link.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw error;
  }
}

function findEvent(runtime: Runtime, rawId: string): EventRecord {
  const id = ID.safeParse(rawId);
  if (!id.success) throw new HttpError(400, 'HTTP_BAD_ID', 'an event id is letters, digits, "_" and "-"');
  const event = runtime.store().get(id.data);
  if (!event) throw new HttpError(404, 'EVENT_NOT_FOUND', `no event ${id.data}`);
  return event;
}

/** The API's view of an event: ids and URLs, never file paths. */
export function toApiEvent(event: EventRecord): Record<string, unknown> {
  const base = `/api/events/${event.id}`;
  // Offloaded: the clip (for a photo, also its snapshot) is only on the remote now.
  const local = (rel: string | null): boolean => rel !== null && !(event.offloaded && rel === event.files.clip);
  return {
    id: event.id,
    kind: event.kind,
    camera: event.camera,
    day: event.day,
    startedAt: event.startedAt,
    endedAt: event.endedAt,
    triggeredAt: event.triggeredAt,
    durationS: event.durationS,
    preRollMs: event.preRollMs,
    frames: event.frames,
    width: event.width,
    height: event.height,
    triggerLevel: event.triggerLevel,
    peakScore: event.peakScore,
    favorite: event.favorite,
    cues: event.cues,
    reviewed: event.reviewed,
    uploadState: event.uploadState,
    offloaded: event.offloaded,
    labels: event.labels,
    discontinuities: event.discontinuities ?? [],
    bytes: event.totalBytes,
    urls: {
      clip: event.kind === 'photo' || event.offloaded ? null : `${base}/clip`,
      snapshot: local(event.files.snapshot) ? `${base}/snapshot` : null,
      thumbnail: event.files.thumbnail ? `${base}/thumbnail` : null,
      heatmap: event.files.heatmap ? `${base}/heatmap` : null,
      sidecar: `${base}/sidecar`,
    },
  };
}
