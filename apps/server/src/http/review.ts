import { Router } from 'express';
import { z } from 'zod';
import type { Runtime } from '../runtime/runtime';
import { toApiEvent } from './api';
import { HttpError } from './errors';

const ID = z.string().regex(/^[A-Za-z0-9_-]{1,100}$/);
const reviewedBody = z.strictObject({ reviewed: z.boolean() });

/**
 * Reviewing under /api: `PUT /api/events/:id/reviewed` with `{"reviewed":true|false}`,
 * `POST /api/events/reviewed` (mark every recording reviewed) and `GET /api/review`
 * (`{"unreviewed":N}`, the Events tab's badge). The flag is written to the sidecar first, like
 * the favourite, so a rebuilt index keeps it. All cameras share one store, so these act on it.
 */
export function createReviewApi(runtime: Runtime): Router {
  const api = Router();

  api.get('/review', (_req, res) => {
    res.json({ unreviewed: runtime.store().unreviewedCount() });
  });

  api.post('/events/reviewed', async (_req, res) => {
    const marked = await runtime.store().markAllReviewed();
    res.json({ marked, unreviewed: runtime.store().unreviewedCount() });
  });

  api.put('/events/:id/reviewed', async (req, res) => {
    const id = ID.safeParse(req.params.id);
    if (!id.success) throw new HttpError(400, 'HTTP_BAD_ID', 'an event id is letters, digits, "_" and "-"');
    const body = reviewedBody.safeParse(req.body ?? {});
    if (!body.success) throw new HttpError(400, 'HTTP_BAD_INPUT', 'reviewed: expected {"reviewed": true|false}');
    if (!runtime.store().get(id.data)) throw new HttpError(404, 'EVENT_NOT_FOUND', `no event ${id.data}`);
    res.json(toApiEvent(await runtime.store().setReviewed(id.data, body.data.reviewed)));
  });

  return api;
}
