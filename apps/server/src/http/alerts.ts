import { Router } from 'express';
import { z } from 'zod';
import { ARMING_MODES, IntegrationsError } from '@preroll/integrations';
import type { Alerts } from '../alerts';
import type { Runtime } from '../runtime/runtime';
import { HttpError, parseInput } from './errors';

/**
 * The alerts' API under /api (behind the login): the arming mode, Web Push subscriptions and
 * the VAPID public key, "Send a test", and the link every alert carries, which opens the event.
 */
export function createAlertsApi(options: { alerts: Alerts; runtimes: readonly Runtime[] }): Router {
  const { alerts } = options;
  const api = Router();
  const notifier = (): NonNullable<Alerts['notifier']> => {
    if (!alerts.notifier) throw new HttpError(404, 'ALERTS_NOT_CONFIGURED', 'no alert channel is configured (integrations.notify)');
    return alerts.notifier;
  };
  const runtimeOf = (camera: string | undefined): Runtime => {
    const found = camera === undefined ? options.runtimes[0] : options.runtimes.find((r) => r.status().camera === camera);
    if (!found) throw new HttpError(404, 'CAMERA_NOT_FOUND', `no camera "${String(camera).slice(0, 40)}"`);
    return found;
  };

  api.get('/alerts', (_req, res) => {
    res.json({ ...alerts.status(), channels: alerts.notifier?.channels ?? [], vapidPublicKey: alerts.notifier?.webpush?.vapidKeys().publicKey ?? null });
  });

  api.put('/arming', async (req, res) => {
    const body = parseInput(z.strictObject({ mode: z.enum(ARMING_MODES), from: z.enum(['page', 'api']).default('api') }), req.body);
    try {
      res.json(await alerts.arming.setMode(body.mode, body.from));
    } catch (error) {
      throw httpOf(error);
    }
  });

  api.get('/push/key', (_req, res) => {
    const store = notifier().webpush;
    if (!store) throw new HttpError(404, 'ALERTS_NO_WEBPUSH', 'Web Push is not configured (integrations.notify.webpush)');
    res.json({ publicKey: store.vapidKeys().publicKey });
  });

  api.post('/push/subscriptions', async (req, res) => {
    const store = notifier().webpush;
    if (!store) throw new HttpError(404, 'ALERTS_NO_WEBPUSH', 'Web Push is not configured (integrations.notify.webpush)');
    const body = parseInput(z.strictObject({ subscription: z.unknown(), label: z.string().max(200).default('browser') }), req.body);
    try {
      const record = await store.add(body.subscription, body.label);
      res.status(201).json({ id: record.id, label: record.label, addedAt: record.addedAt });
    } catch (error) {
      throw httpOf(error);
    }
  });

  api.delete('/push/subscriptions', async (req, res) => {
    const store = notifier().webpush;
    const body = parseInput(z.strictObject({ endpoint: z.string().min(1).max(2000) }), req.body);
    const removed = store ? await store.remove(body.endpoint) : false;
    res.status(removed ? 204 : 404).end();
  });

  api.post('/alerts/test', async (req, res) => {
    const body = parseInput(z.strictObject({ channel: z.string().max(40).optional(), camera: z.string().max(40).optional() }), req.body);
    const runtime = runtimeOf(body.camera);
    const snapshot = await runtime.snapshotJpeg().catch(() => null);
    try {
      const results = await notifier().test(body.channel, runtime.status().camera, snapshot);
      res.json({ ok: results.every((r) => r.ok), results });
    } catch (error) {
      throw httpOf(error);
    }
  });

  // The link of an alert: the recording that covers the trigger moment, or the live view while it is still being recorded.
  api.get('/alerts/open', (req, res) => {
    const query = parseInput(z.strictObject({ camera: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/), at: z.coerce.number().int().min(0) }), req.query);
    const runtime = runtimeOf(query.camera);
    const page = runtime.store().list({ camera: query.camera, limit: 100 });
    const hit = page.items.find((r) => r.kind !== 'segment' && Date.parse(r.startedAt) <= query.at + 1000 && Date.parse(r.endedAt) >= query.at - 1000);
    res.redirect(302, hit ? `/#event=${encodeURIComponent(hit.id)}` : '/');
  });
  return api;
}

/**
 * The one alerts path reachable without a session: the snapshot of a recent alert by an
 * unguessable key, because a phone's notification fetches its image without the page's cookie.
 */
export function createAlertsPublic(alerts: Alerts): Router {
  const router = Router();
  router.get('/alerts/snapshot/:id', (req, res) => {
    const id = String(req.params.id);
    const key = typeof req.query.k === 'string' ? req.query.k : '';
    const jpeg = /^[0-9a-f]{32}$/.test(id) && key.length <= 64 ? alerts.notifier?.snapshot(id, key) : null;
    if (!jpeg) throw new HttpError(404, 'ALERTS_SNAPSHOT_GONE', 'no such alert snapshot (or it expired)');
    res.setHeader('Cache-Control', 'private, max-age=86400');
    res.type('image/jpeg').send(jpeg);
  });
  return router;
}

/** Prometheus lines of the alert channels and the arming mode (appended to `/metrics`). */
export function alertsMetrics(alerts: Alerts | undefined): string {
  if (!alerts) return '';
  const { arming, notify } = alerts.status();
  const lines = ['# HELP preroll_arming_mode 1 for the arming mode in force.', '# TYPE preroll_arming_mode gauge'];
  for (const mode of ARMING_MODES) lines.push(`preroll_arming_mode{mode="${mode}"} ${arming.effective === mode ? 1 : 0}`);
  if (notify) {
    const channels = notify.channels;
    const metric = (name: string, type: string, help: string, value: (c: (typeof channels)[number]) => number): void => {
      lines.push(`# HELP preroll_alerts_${name} ${help}`, `# TYPE preroll_alerts_${name} ${type}`);
      for (const c of channels) lines.push(`preroll_alerts_${name}{channel="${c.name}"} ${value(c)}`);
    };
    metric('sent_total', 'counter', 'Alerts delivered (first message of an event).', (c) => c.alerts);
    metric('updates_total', 'counter', '"Still moving" updates delivered.', (c) => c.updates);
    metric('clips_total', 'counter', 'Follow-ups with the finished clip (or its link) delivered (e-mail).', (c) => c.clips);
    metric('failed_total', 'counter', 'Messages given up after their last attempt.', (c) => c.failed);
    metric('retries_total', 'counter', 'Delivery attempts that failed and were retried.', (c) => c.retries);
    metric('dropped_total', 'counter', 'Messages dropped (queue full or too old).', (c) => c.dropped);
    metric('queued', 'gauge', 'Messages waiting.', (c) => c.queued);
    metric('failing', 'gauge', '1 while the channel keeps failing.', (c) => (c.failing ? 1 : 0));
  }
  return `${lines.join('\n')}\n`;
}


function httpOf(error: unknown): unknown {
  if (!(error instanceof IntegrationsError)) return error;
  const status = error.code === 'NOTIFY_UNKNOWN_CHANNEL' ? 404 : error.code === 'NOTIFY_BAD_SUBSCRIPTION' ? 400 : 500;
  return new HttpError(status, error.code, error.message);
}
