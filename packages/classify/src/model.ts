import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ClassifyError } from './errors';

/** The detector's square input side in pixels (MB3-CenterNet, 512×512 RGB). */
export const MODEL_INPUT = 512;

/** Raw detections of one inference: rows of `[x1, y1, x2, y2, score, classIndex]` in input pixels. */
export type RawDetections = ReadonlyArray<readonly [number, number, number, number, number, number]>;

/** A loaded detector: one inference at a time over a 512×512 RGB image (values 0..255). */
export interface LoadedModel {
  /** Runs the detector on `rgb` (`MODEL_INPUT`² × 3 bytes, row-major RGB). */
  detect(rgb: Uint8Array): Promise<RawDetections>;
  /** Frees the weights (ends the detector's thread). */
  dispose(): void;
  /** Which TensorFlow.js backend runs it (`wasm`). */
  readonly backend: string;
}

/**
 * Where the model files are: the `models/` folder of the `@vladmandic/human` npm package (MIT),
 * which ships MB3-CenterNet as a TensorFlow.js graph model (`centernet.json` + `centernet.bin`).
 * Throws `CLASSIFY_MODEL_MISSING` when the package is not installed.
 */
export function defaultModelDir(): string {
  let main: string;
  try {
    main = require.resolve('@vladmandic/human');
  } catch (error) {
    throw new ClassifyError('CLASSIFY_MODEL_MISSING', 'the object detector model is not installed (npm package @vladmandic/human); run pnpm install', '@vladmandic/human', { cause: error });
  }
  // The package's `exports` hide package.json; its main file is dist/human.node.js.
  return path.join(path.dirname(main), '..', 'models');
}

/**
 * The worker's program. Plain JavaScript in a string so it runs the same from the compiled
 * package and under ts-jest; the runtime's modules are resolved by the caller (they live in
 * this package's node_modules, not next to the worker).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const tf = require(workerData.core);
require(workerData.wasm);
const converter = require(workerData.converter);
let model = null;
const ready = (async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  const json = JSON.parse(fs.readFileSync(workerData.json, 'utf8'));
  const bin = fs.readFileSync(workerData.bin);
  const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  model = await converter.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
})();
ready.then(
  () => parentPort.postMessage({ id: 0, backend: tf.getBackend() }),
  (error) => parentPort.postMessage({ id: 0, error: String((error && error.stack) || error) }),
);
parentPort.on('message', async (message) => {
  try {
    await ready;
    const size = workerData.size;
    const out = tf.tidy(() => model.execute(tf.tensor4d(Float32Array.from(message.rgb), [1, size, size, 3], 'float32'), ['tower_0/detections']));
    const rows = await out.array();
    out.dispose();
    parentPort.postMessage({ id: message.id, rows: rows[0] });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String((error && error.stack) || error) });
  }
});
`;

/**
 * Loads MB3-CenterNet from `modelDir` in a worker thread with the TensorFlow.js WebAssembly
 * backend (its .wasm files ship inside the npm package: nothing is downloaded). One inference
 * takes most of a second of CPU; in the main thread it would stall frame reading and the web
 * server, so the runtime lives in its own thread with its own heap (capped) and the main
 * thread only sends 512×512 RGB and receives rows. Aborting `signal` ends the thread at once
 * (during the load or an inference: a stopping server does not wait seconds for it). Throws
 * `CLASSIFY_MODEL_MISSING`, `CLASSIFY_MODEL_LOAD_FAILED` or `CLASSIFY_CLOSED`.
 */
export async function loadModel(modelDir: string, signal?: AbortSignal): Promise<LoadedModel> {
  const json = path.join(modelDir, 'centernet.json');
  const bin = path.join(modelDir, 'centernet.bin');
  try {
    await fsp.access(json);
    await fsp.access(bin);
  } catch (error) {
    throw new ClassifyError('CLASSIFY_MODEL_MISSING', `the detector model is not in ${modelDir}: ${(error as Error).message}`, modelDir, { cause: error });
  }
  let workerData: Record<string, unknown>;
  try {
    workerData = {
      core: require.resolve('@tensorflow/tfjs-core'),
      wasm: require.resolve('@tensorflow/tfjs-backend-wasm'),
      converter: require.resolve('@tensorflow/tfjs-converter'),
      json,
      bin,
      size: MODEL_INPUT,
    };
  } catch (error) {
    throw new ClassifyError('CLASSIFY_MODEL_LOAD_FAILED', `the TensorFlow.js runtime is not installed: ${(error as Error).message}`, modelDir, { cause: error });
  }
  if (signal?.aborted) throw new ClassifyError('CLASSIFY_CLOSED', 'the classifier was closed before the model loaded');
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData, resourceLimits: { maxOldGenerationSizeMb: 256 } });
  // Referenced only while it owes an answer: a forgotten, idle classifier must not keep the
  // process alive, and a pending one must not let it exit with the answer lost.
  const settleRef = (): void => {
    if (waiting.size === 0) worker.unref();
    else worker.ref();
  };
  const waiting = new Map<number, { resolve: (rows: number[][]) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let dead: Error | null = null;
  let backend = 'wasm';
  const failAll = (error: Error): void => {
    dead ??= error;
    for (const w of waiting.values()) w.reject(error);
    waiting.clear();
    worker.unref();
  };
  const loaded = new Promise<void>((resolve, reject) => {
    waiting.set(0, {
      resolve: () => resolve(),
      reject,
    });
  });
  settleRef();
  worker.on('message', (message: { id: number; rows?: number[][]; backend?: string; error?: string }) => {
    const w = waiting.get(message.id);
    if (!w) return;
    waiting.delete(message.id);
    settleRef();
    if (message.backend) backend = message.backend;
    if (message.error !== undefined) w.reject(new ClassifyError(message.id === 0 ? 'CLASSIFY_MODEL_LOAD_FAILED' : 'CLASSIFY_BAD_IMAGE', `detector: ${message.error.split('\n')[0]}`, modelDir));
    else w.resolve(message.rows ?? []);
  });
  worker.on('error', (error) => failAll(new ClassifyError('CLASSIFY_MODEL_LOAD_FAILED', `the detector thread failed: ${error.message}`, modelDir, { cause: error })));
  worker.on('exit', (code) => failAll(signal?.aborted ? new ClassifyError('CLASSIFY_CLOSED', 'the classifier was closed') : new ClassifyError('CLASSIFY_MODEL_LOAD_FAILED', `the detector thread exited (code ${code})`, modelDir)));
  signal?.addEventListener('abort', () => void worker.terminate(), { once: true });
  try {
    await loaded;
  } catch (error) {
    await worker.terminate();
    throw error instanceof ClassifyError ? error : new ClassifyError('CLASSIFY_MODEL_LOAD_FAILED', `cannot load the detector model from ${modelDir}: ${(error as Error).message}`, modelDir, { cause: error });
  }
  return {
    get backend() {
      return backend;
    },
    detect(rgb) {
      if (rgb.length !== MODEL_INPUT * MODEL_INPUT * 3) {
        return Promise.reject(new ClassifyError('CLASSIFY_BAD_IMAGE', `the detector takes ${MODEL_INPUT}x${MODEL_INPUT} RGB, got ${rgb.length} bytes`, rgb.length));
      }
      if (dead) return Promise.reject(dead);
      const id = nextId++;
      return new Promise<RawDetections>((resolve, reject) => {
        waiting.set(id, { resolve: (rows) => resolve(rows.map((r) => [r[0], r[1], r[2], r[3], r[4], r[5]] as const)), reject });
        settleRef();
        worker.postMessage({ id, rgb });
      });
    },
    dispose() {
      dead ??= new ClassifyError('CLASSIFY_CLOSED', 'the detector was disposed');
      void worker.terminate();
    },
  };
}
