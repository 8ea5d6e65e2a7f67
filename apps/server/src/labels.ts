import * as path from 'node:path';
import type { Logger } from 'pino';
import { createClassifier, motionRegionFromHeatmap, type Classifier, type ClassifierStats } from '@preroll/classify';
import type { Store } from '@preroll/store';
import type { Announcer } from './announcer';
import type { Config } from './config';

/** What `/api/status` shows of the labels (the System panel's cost figure). */
export interface LabelsStatus extends ClassifierStats {
  readonly enabled: boolean;
  readonly minConfidence: number;
  /** Events skipped because too many were waiting. */
  readonly skipped: number;
}

/** Unclassified motion events younger than this are classified at start (those a stop interrupted). */
export const CATCH_UP_WINDOW_MS = 24 * 3_600_000;
/** Most events classified at start, so a long period with labels off does not cost hours of CPU. */
export const CATCH_UP_MAX = 10;

/** The labelling hook: classifies each motion event once it has been announced. */
export interface Labels {
  status(): LabelsStatus;
  /**
   * Classifies, one at a time in the background, the newest unclassified motion events of the
   * last 24 hours (at most {@link CATCH_UP_MAX}): events that ended while the server stopped,
   * or while labels were off. Resolves when they are done.
   */
  catchUp(now?: number): Promise<number>;
  /** Stops listening and ends the classification under way (its event keeps no labels), then frees the model. */
  stop(): Promise<void>;
}

/**
 * Attaches labelling to the one announcement path: a motion event is indexed and announced as
 * usual; afterwards its snapshot (cropped around the heat-map's hot region when the motion was
 * small) goes through the object detector, and the labels are written with `store.setLabels`,
 * which reports them once as an `updated` change. A recording is never announced a second
 * time for its labels. Off (`labels.enabled: false`) nothing is loaded.
 */
export function attachLabels(options: { announcer: Pick<Announcer, 'subscribe'>; store: () => Store; config: Readonly<Config>; logger: Logger }): Labels {
  const { config, logger } = options;
  const settings = config.labels;
  const classifier: Classifier | null = settings.enabled ? createClassifier({ minConfidence: settings.minConfidence }) : null;
  let skipped = 0;
  let stopped = false;
  const pending = new Set<Promise<void>>();

  const label = async (id: string): Promise<void> => {
    if (!classifier) return;
    const store = options.store();
    const record = store.get(id);
    if (!record || record.kind !== 'motion' || !record.files.snapshot) return;
    // Paths in the index are relative to the data directory and were checked when indexed.
    const abs = (rel: string): string => path.join(store.dataDir, rel);
    const motion = record.files.heatmap
      ? await motionRegionFromHeatmap(abs(record.files.heatmap), record.width, record.height).catch((error: unknown) => {
          logger.warn({ err: error, id }, 'labels: heat-map unreadable; classifying the whole frame');
          return null;
        })
      : null;
    const result = await classifier.classifyEvent({ images: [abs(record.files.snapshot)], motion });
    if (!store.get(id)) return; // deleted while it was being classified
    await store.setLabels(id, result.labels);
    logger.info({ id, labels: result.labels.map((l) => `${l.subLabel}:${l.confidence}`), ms: result.ms, inferences: result.inferences }, 'labels: event classified');
  };

  const unsubscribe = classifier
    ? options.announcer.subscribe(({ record }) => {
        if (record.kind !== 'motion') return;
        const job = label(record.id).catch((error: unknown) => {
          const code = (error as { code?: unknown }).code;
          if (code === 'CLASSIFY_BUSY') skipped++;
          // A row removed meanwhile (retention, delete) is not an error worth more than a line.
          const level = code === 'STORE_NOT_FOUND' || code === 'CLASSIFY_CLOSED' ? 'debug' : 'warn';
          logger[level]({ err: error, id: record.id }, 'labels: event not classified');
        });
        pending.add(job);
        void job.finally(() => pending.delete(job));
      })
    : () => undefined;

  return {
    async catchUp(now = Date.now()) {
      if (!classifier || stopped) return 0;
      const recent = options
        .store()
        .list({ kind: 'motion', limit: 200 })
        .items.filter((r) => r.labels === null && r.files.snapshot !== null && Date.parse(r.startedAt) >= now - CATCH_UP_WINDOW_MS)
        .slice(0, CATCH_UP_MAX)
        .reverse();
      let done = 0;
      for (const record of recent) {
        if (stopped) break;
        try {
          await label(record.id);
          done++;
        } catch (error) {
          if (stopped) break;
          logger.warn({ err: error, id: record.id }, 'labels: event not classified at start');
        }
      }
      if (recent.length) logger.info({ classified: done, found: recent.length }, 'labels: caught up with unclassified events');
      return done;
    },
    status() {
      const stats: ClassifierStats = classifier?.stats() ?? {
        loaded: false,
        backend: null,
        loadMs: null,
        events: 0,
        inferences: 0,
        failures: 0,
        lastEventMs: null,
        meanEventMs: null,
        meanInferenceMs: null,
        queued: 0,
      };
      return { ...stats, enabled: settings.enabled, minConfidence: settings.minConfidence, skipped };
    },
    async stop() {
      stopped = true;
      unsubscribe();
      await classifier?.close();
      await Promise.all([...pending]);
    },
  };
}
