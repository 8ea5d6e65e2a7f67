import express, { Router, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ARMING_MODES, type ArmingMode } from '@preroll/integrations';
import { configJsonSchema, CONFIG_GROUPS, redactConfig, REDACTED, valueAt } from '../config';
import { ConfigUpdateError, type ConfigChange, type ConfigService } from '../runtime/config-service';
import { isRuntimeSettings, type RuntimeSettings } from '../runtime/settings';
import { exportApiTokens, restoreApiTokens, SCOPES, type Identity, type Scope } from './auth';
import { HttpError } from './errors';

/** Largest configuration document or backup bundle accepted (the schema bounds every list). */
const CONFIG_BODY_LIMIT = '256kb';
/** What must be sent to get a backup with its secrets. */
export const SECRETS_CONFIRMATION = 'include secrets';
/** The format name of a backup bundle. */
export const BACKUP_FORMAT = 'preroll-backup';

/** Options of {@link createConfigApi}. */
export interface ConfigApiOptions {
  readonly service: ConfigService;
  readonly dataDir: string;
  /** The runtime settings each camera keeps (trigger, switches), for the backup bundle. */
  readonly settings: () => Record<string, RuntimeSettings>;
  /** Puts back one camera's runtime settings from a backup; false when there is no such camera here. */
  readonly restoreSettings: (camera: string, settings: RuntimeSettings) => boolean;
  /** The arming mode (with alerts configured): backed up and restored. */
  readonly arming?: { status(): { mode: ArmingMode }; setMode(mode: ArmingMode, source: 'api'): Promise<unknown> };
  readonly logger: Logger;
}

/** A backup bundle as `/api/config/restore` accepts it; every part is checked before anything is written. */
const backupSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  formatVersion: z.literal(1),
  createdAt: z.string().max(40).optional(),
  secretsIncluded: z.boolean().optional(),
  configVersion: z.string().max(64).optional(),
  config: z.record(z.string(), z.unknown()),
  settings: z
    .record(z.string().regex(/^[A-Za-z0-9_-]{1,40}$/), z.unknown().refine(isRuntimeSettings, 'not runtime settings (triggerMode, triggerLevel, triggerOffset, motionEnabled, continuousEnabled, scoreScale)'))
    .refine((value) => Object.keys(value).length <= 16, 'at most 16 cameras')
    .optional(),
  tokens: z
    .array(
      z.strictObject({
        id: z.string().regex(/^[0-9a-f]{8}$/),
        name: z.string().regex(/^[\w .-]{1,60}$/),
        createdAt: z.string().max(40),
        scope: z.enum(SCOPES as [Scope, ...Scope[]]),
        sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
      }),
    )
    .max(100)
    .optional(),
  arming: z.strictObject({ mode: z.enum(ARMING_MODES as unknown as [string, ...string[]]) }).nullable().optional(),
});

/** Who made a request, for the log of changes: a user name, `token:<id>`, or `local`. */
function who(res: Response): string {
  const identity = res.locals.identity as Identity | undefined;
  return identity?.user ?? 'local';
}

/** The body the API answers a refused change with: the code, the message, the key and the current version. */
function refuse(res: Response, error: ConfigUpdateError): void {
  if (error.version) res.setHeader('ETag', `"${error.version}"`);
  res.status(error.status).json({ code: error.code, message: error.message, ...(error.key ? { key: error.key } : {}), ...(error.version ? { version: error.version } : {}) });
}

/** The answer to a change: what changed, what is in force, what needs a restart. */
function changeBody(change: ConfigChange, service: ConfigService): Record<string, unknown> {
  const state = service.state();
  return { version: change.version, changed: change.keys, applied: change.applied, restartRequired: change.restartRequired, config: redactConfig(state.config), origins: state.origins };
}

/** Replaces each {@link REDACTED} in a restored document by the value the current file has there. Pure. */
export function unredact(doc: unknown, current: unknown, path = ''): unknown {
  if (doc === REDACTED) return valueAt(current, path);
  if (Array.isArray(doc)) return doc.map((item, index) => (item === REDACTED ? (valueAt(current, path) as unknown[] | undefined)?.[index] : item));
  if (doc && typeof doc === 'object') {
    return Object.fromEntries(
      Object.entries(doc)
        .map(([key, value]) => [key, unredact(value, current, path ? `${path}.${key}` : key)] as const)
        .filter(([, value]) => value !== undefined),
    );
  }
  return doc;
}

/**
 * `/api/config` (the effective configuration with its schema, versioned changes applied live),
 * `/api/config/backup` and `/api/config/restore`, and `/api/me`. The scope check in front of it
 * lets only admins reach `/api/config…`.
 */
export function createConfigApi(options: ConfigApiOptions): Router {
  const { service } = options;
  const api = Router();
  // Bigger than the other bodies: a whole configuration or backup.
  api.use('/config', express.json({ limit: CONFIG_BODY_LIMIT, strict: true, type: 'application/json' }));

  api.get('/me', (_req, res) => {
    const identity = res.locals.identity as Identity;
    res.json({ user: identity.user, role: identity.role, scope: identity.scope, via: identity.via });
  });

  api.get('/config', (_req, res) => {
    const state = service.state();
    res.setHeader('ETag', `"${state.version}"`);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      version: state.version,
      file: state.file,
      editable: state.file !== null,
      config: redactConfig(state.config),
      origins: state.origins,
      error: state.error,
      restartRequired: state.restartRequired,
      groups: CONFIG_GROUPS,
      schema: configJsonSchema(),
    });
  });

  api.get('/config/schema', (_req, res) => {
    res.json(configJsonSchema());
  });

  api.patch('/config', async (req, res) => {
    try {
      const change = await service.patch(req.body, { ifMatch: req.get('If-Match'), who: who(res) });
      res.setHeader('ETag', `"${change.version}"`);
      res.json(changeBody(change, service));
    } catch (error) {
      if (!(error instanceof ConfigUpdateError)) throw error;
      refuse(res, error);
    }
  });

  const bundle = (secrets: boolean): Record<string, unknown> => {
    const state = service.state();
    const file = service.fileDocument();
    return {
      format: BACKUP_FORMAT,
      formatVersion: 1,
      createdAt: new Date().toISOString(),
      secretsIncluded: secrets,
      configVersion: state.version,
      config: secrets ? file : redactConfig(file),
      settings: options.settings(),
      // Without secrets a token cannot be restored working (see restoreApiTokens).
      tokens: exportApiTokens(options.dataDir, secrets),
      arming: options.arming ? { mode: options.arming.status().mode } : null,
    };
  };
  const sendBundle = (res: Response, secrets: boolean): void => {
    res.setHeader('Content-Disposition', `attachment; filename="preroll-backup-${new Date().toISOString().slice(0, 10)}.json"`);
    res.setHeader('Cache-Control', 'no-store');
    res.json(bundle(secrets));
  };

  // Without secrets: a plain download link works.
  api.get('/config/backup', (_req, res) => sendBundle(res, false));

  // With secrets: only when asked for with the confirmation phrase, and logged.
  api.post('/config/backup', (req, res) => {
    const body = req.body as { includeSecrets?: unknown; confirm?: unknown } | undefined;
    if (body?.includeSecrets !== true || body.confirm !== SECRETS_CONFIRMATION) {
      throw new HttpError(400, 'CONFIG_CONFIRM_SECRETS', `a backup with secrets needs {"includeSecrets": true, "confirm": "${SECRETS_CONFIRMATION}"}`);
    }
    options.logger.warn({ who: who(res) }, 'backup with secrets downloaded');
    sendBundle(res, true);
  });

  api.post('/config/restore', async (req, res) => {
    // Everything is checked first (the bundle's shape, then the configuration by the schema):
    // a bad bundle changes nothing.
    const parsed = backupSchema.safeParse(req.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const key = issue.path.join('.');
      throw new HttpError(400, 'CONFIG_BAD_BACKUP', `not a Preroll backup${key ? ` (at ${key})` : ''}: ${issue.message} (expected {"format": "${BACKUP_FORMAT}", "formatVersion": 1, "config": {...}})`);
    }
    const backup = parsed.data;
    try {
      // Secrets left out of the bundle keep the values this server has.
      const doc = unredact(backup.config, service.fileDocument());
      service.check(doc);
      const change = await service.replace(doc, { ifMatch: req.get('If-Match'), who: `${who(res)} (restore)` });
      const settings: string[] = [];
      const skipped: string[] = [];
      for (const [camera, saved] of Object.entries(backup.settings ?? {})) (options.restoreSettings(camera, saved as RuntimeSettings) ? settings : skipped).push(camera);
      const tokens = backup.tokens ? restoreApiTokens(options.dataDir, backup.tokens) : null;
      if (backup.arming && options.arming) await options.arming.setMode(backup.arming.mode as ArmingMode, 'api');
      options.logger.info({ who: who(res), settings, skipped, tokens: tokens?.restored.length ?? null, needSecret: tokens?.needSecret.length ?? null }, 'backup restored');
      res.setHeader('ETag', `"${change.version}"`);
      res.json({
        ...changeBody(change, service),
        restored: {
          settings,
          settingsSkipped: skipped,
          tokens: tokens?.restored ?? null,
          // Backed up without secrets: a new token must be issued for each of these.
          tokensNeedingNewSecret: tokens?.needSecret ?? [],
          arming: backup.arming && options.arming ? backup.arming.mode : null,
        },
      });
    } catch (error) {
      if (!(error instanceof ConfigUpdateError)) throw error;
      refuse(res, error);
    }
  });

  return api;
}
