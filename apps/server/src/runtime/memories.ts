import type { Logger } from 'pino';
import type { EventSidecar } from '@preroll/layout';
import { writeMemory, type FinishedRecording, type Segmenter } from '@preroll/recorder';
import { createMemoryButton, type MemoryRules, type PendingMemory } from './memory-button';

/**
 * "Save the last N minutes" in the running server: the button logic (memory-button.ts) on one
 * side, the segmenter's finished segments and `writeMemory` on the other. At the first press
 * the newest video's timestamp is noted (the memory ends there) and the open segment is cut at
 * the next keyframe, so by the time the saving window has passed, every frame up to the press
 * is in a finished file. Saves run one after the other.
 */

/** Options of {@link createMemoryService}. */
export interface MemoryServiceOptions {
  readonly rules: MemoryRules;
  /** The segmenter of the running pipeline (null before start). */
  readonly segmenter: () => Segmenter | null;
  /** Reports a saved memory (the pipeline's `report`: indexed, then announced). */
  readonly report: (recording: FinishedRecording) => Promise<void>;
  readonly dataDir: string;
  readonly camera: string;
  readonly fsync: boolean;
  readonly fps: () => number | undefined;
  /** Byte cap in force for the hidden look-back (for the status). */
  readonly lookbackMaxBytes: () => number;
  readonly logger?: Logger;
  readonly onChange: () => void;
}

/** What `GET /api/status` says about memories. */
export interface MemoryStatus {
  /** False when neither the look-back nor continuous recording keeps video to save from. */
  readonly available: boolean;
  /** Minutes a first press saves, and what each further press adds (the page labels its button with them). */
  readonly defaultMinutes: number;
  readonly stepMinutes: number;
  readonly pending: { readonly lookbackS: number; readonly since: string; readonly saveAt: string | null; readonly held: boolean } | null;
  readonly saving: boolean;
  readonly saved: number;
  readonly last: { readonly id: string; readonly durationS: number; readonly askedS: number; readonly at: string } | null;
  readonly lastError: { readonly code: string; readonly message: string } | null;
  readonly lookback: { readonly segments: number; readonly bytes: number; readonly maxBytes: number; readonly availableS: number };
}

/** The memory service. */
export interface MemoryService {
  /** A press (page, API, button down with `hold`); `addMs` asks for that much instead of the default or step. Throws `MEMORY_UNAVAILABLE`. */
  press(options?: { addMs?: number; hold?: boolean }): PendingMemory;
  /** The physical button went up. */
  release(): void;
  status(): MemoryStatus;
  /** Drops a memory still being collected and waits for the saves under way. */
  stop(): Promise<void>;
}

interface Anchor {
  readonly ptsUs: number;
  readonly wallMs: number;
  readonly cut: Promise<unknown>;
  /** Releases the look-back span kept from eviction since the first press. */
  readonly release: () => void;
}

/** How long a save waits for the segment holding the press to be closed (a stalled camera may never send the keyframe). */
const CUT_TIMEOUT_MS = 15_000;

/** Creates the memory service (no timers until the first press). */
export function createMemoryService(options: MemoryServiceOptions): MemoryService {
  const log = options.logger;
  const anchors = new Map<number, Anchor | null>();
  let chain: Promise<void> = Promise.resolve();
  let saving = 0;
  let saved = 0;
  let last: MemoryStatus['last'] = null;
  let lastError: MemoryStatus['lastError'] = null;

  const save = async (firstAtMs: number, lookbackMs: number): Promise<EventSidecar> => {
    const anchor = anchors.get(firstAtMs) ?? null;
    anchors.delete(firstAtMs);
    const segmenter = options.segmenter();
    if (!anchor || !segmenter) {
      anchor?.release();
      throw Object.assign(new Error('no video had been recorded yet when the button was pressed'), { code: 'MEMORY_NO_VIDEO' });
    }
    let timer: NodeJS.Timeout | null = null;
    await Promise.race([
      anchor.cut,
      new Promise((resolve) => {
        timer = setTimeout(resolve, CUT_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
    if (timer) clearTimeout(timer);
    const sources = segmenter.finished();
    try {
      const memory = await writeMemory({
        dataDir: options.dataDir,
        camera: options.camera,
        sources,
        fromPtsUs: anchor.ptsUs - lookbackMs * 1000,
        toPtsUs: anchor.ptsUs,
        triggerWallMs: anchor.wallMs,
        fsync: options.fsync,
        fps: options.fps(),
        logger: log,
      });
      // Reported like every recording: the composition root indexes it, then announces it.
      await options.report(memory);
      const { sidecar } = memory;
      last = { id: sidecar.id, durationS: sidecar.durationS, askedS: lookbackMs / 1000, at: new Date().toISOString() };
      saved++;
      return sidecar;
    } finally {
      anchor.release();
    }
  };

  const button = createMemoryButton({
    rules: options.rules,
    onStart(firstAtMs) {
      const segmenter = options.segmenter();
      const newest = segmenter?.newest() ?? null;
      if (!newest || !segmenter) {
        anchors.set(firstAtMs, null);
        return;
      }
      // Cut now, so the segment holding the press is final by the time the window has passed,
      // and keep the look-back that the memory may reach (up to the longest memory) from being
      // overwritten meanwhile.
      const release = segmenter.protect(newest.ptsUs - options.rules.maxMs * 1000, newest.ptsUs);
      anchors.set(firstAtMs, { ...newest, cut: segmenter.cut(), release });
    },
    onSave({ firstAtMs, lookbackMs }) {
      saving++;
      options.onChange();
      chain = chain
        .then(() => save(firstAtMs, lookbackMs))
        .then(
          (record) => {
            lastError = null;
            log?.info({ id: record.id, durationS: record.durationS, askedS: lookbackMs / 1000 }, 'memory saved');
          },
          (error: unknown) => {
            const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'MEMORY_FAILED';
            lastError = { code, message: (error as Error).message };
            log?.error({ err: error, code }, 'memory could not be saved');
          },
        )
        .finally(() => {
          saving--;
          options.onChange();
        });
    },
    onChange: options.onChange,
  });

  const available = (): boolean => options.segmenter()?.active() ?? false;

  return {
    press(pressOptions) {
      if (!available()) {
        throw Object.assign(new Error('nothing keeps recent video: switch on continuous recording, or the look-back (recording.lookback.enabled)'), { code: 'MEMORY_UNAVAILABLE' });
      }
      return button.press(pressOptions);
    },
    release: () => button.release(),
    status() {
      const pending = button.pending();
      const stats = options.segmenter()?.stats();
      return {
        available: available(),
        defaultMinutes: options.rules.defaultMs / 60_000,
        stepMinutes: options.rules.stepMs / 60_000,
        pending: pending
          ? { lookbackS: pending.lookbackMs / 1000, since: new Date(pending.firstAtMs).toISOString(), saveAt: pending.saveAtMs === null ? null : new Date(pending.saveAtMs).toISOString(), held: pending.held }
          : null,
        saving: saving > 0,
        saved,
        last,
        lastError,
        lookback: { segments: stats?.lookbackSegments ?? 0, bytes: stats?.lookbackBytes ?? 0, maxBytes: options.lookbackMaxBytes(), availableS: stats?.availableS ?? 0 },
      };
    },
    async stop() {
      button.stop();
      await chain;
    },
  };
}
