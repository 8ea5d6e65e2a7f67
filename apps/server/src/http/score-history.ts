import { Router } from 'express';
import { z } from 'zod';
import type { Runtime } from '../runtime/runtime';
import { HttpError } from './errors';

/** How much score history a page gets when it connects. */
export const SCORE_HISTORY_MS = 60_000;
/** Bound on the points kept per camera, whatever the frame rate (60 s at 60 fps). */
const MAX_POINTS = 3600;

/** The last minute of motion scores per camera, for a page that has just connected. */
export interface ScoreHistory {
  /** `GET /api/scores[?camera=<id>]` → `{"camera","scores":[[tMs,score],…]}`, oldest first, same time base as the WebSocket's. */
  routes(): Router;
  /** Stops listening to the cameras. */
  close(): void;
}

/**
 * Keeps each camera's scores of the last {@link SCORE_HISTORY_MS} (a bounded array trimmed by
 * age and count), so the chart is full at once after a reload instead of empty for a minute.
 */
export function createScoreHistory(runtimes: readonly Runtime[]): ScoreHistory {
  const byId = new Map(runtimes.map((r) => [r.status().camera, r] as const));
  const points = new Map<Runtime, [number, number][]>(runtimes.map((r) => [r, []]));
  const detach = runtimes.map((r) =>
    r.onSample((sample) => {
      const list = points.get(r) as [number, number][];
      const tMs = Math.round(sample.ptsUs / 1000);
      list.push([tMs, Math.round(sample.score * 100) / 100]);
      // Trim in batches: one splice per many samples instead of a shift per sample.
      if (list.length > MAX_POINTS + 256 || list[0][0] < tMs - SCORE_HISTORY_MS - 5000) {
        const from = list.findIndex(([t]) => t >= tMs - SCORE_HISTORY_MS);
        list.splice(0, Math.max(from < 0 ? list.length : from, list.length - MAX_POINTS));
      }
    }),
  );
  const query = z.strictObject({ camera: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).optional() });
  return {
    routes() {
      const router = Router();
      router.get('/scores', (req, res) => {
        const q = query.safeParse(req.query);
        if (!q.success) throw new HttpError(400, 'HTTP_BAD_INPUT', 'query: only "camera" (a camera id) is accepted');
        const runtime = q.data.camera === undefined ? runtimes[0] : byId.get(q.data.camera);
        if (!runtime) throw new HttpError(404, 'CAMERA_NOT_FOUND', `no camera "${q.data.camera}"`);
        const list = points.get(runtime) as [number, number][];
        const newest = list.length ? list[list.length - 1][0] : 0;
        res.setHeader('Cache-Control', 'no-store');
        res.json({ camera: runtime.status().camera, scores: list.filter(([t]) => t >= newest - SCORE_HISTORY_MS) });
      });
      return router;
    },
    close() {
      for (const d of detach) d();
    },
  };
}
