import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ClassifyError } from './errors';

/** The detector's square input side in pixels (MB3-CenterNet, 512×512 RGB). */
export const MODEL_INPUT = 512;

/** Raw detections of one inference: rows of `[x1, y1, x2, y2, score, classIndex]` in input pixels. */
export type RawDetections = ReadonlyArray<readonly [number, number, number, number, number, number]>;

/** A loaded detector: one inference at a time over a 512×512 RGB image (values 0..255). */
export interface LoadedModel {
  /** Runs the detector on `rgb` (`MODEL_INPUT`² × 3 bytes, row-major RGB). */
  detect(rgb: Uint8Array): Promise<RawDetections>;
  /** Frees the weights. */
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
 * Loads MB3-CenterNet from `modelDir` with the TensorFlow.js WebAssembly backend (its .wasm
 * files ship inside the npm package: nothing is downloaded). The TensorFlow.js engine is
 * process-wide; this is the only module that touches it. Throws `CLASSIFY_MODEL_MISSING` or
 * `CLASSIFY_MODEL_LOAD_FAILED`.
 */
export async function loadModel(modelDir: string): Promise<LoadedModel> {
  const jsonPath = path.join(modelDir, 'centernet.json');
  const binPath = path.join(modelDir, 'centernet.bin');
  let json: { modelTopology: unknown; weightsManifest: Array<{ weights: unknown[] }> };
  let bin: Buffer;
  try {
    json = JSON.parse(await fsp.readFile(jsonPath, 'utf8')) as typeof json;
    bin = await fsp.readFile(binPath);
  } catch (error) {
    const code = (error as { code?: unknown }).code === 'ENOENT' ? 'CLASSIFY_MODEL_MISSING' : 'CLASSIFY_MODEL_LOAD_FAILED';
    throw new ClassifyError(code, `cannot read the detector model in ${modelDir}: ${(error as Error).message}`, modelDir, { cause: error });
  }
  try {
    // Loaded on first use only: the runtime and its WebAssembly module cost memory that a
    // server with labels off should never pay.
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-wasm');
    const converter = await import('@tensorflow/tfjs-converter');
    if (tf.getBackend() !== 'wasm') {
      await tf.setBackend('wasm');
      await tf.ready();
    }
    const weightSpecs = json.weightsManifest.flatMap((group) => group.weights) as Parameters<typeof tf.io.fromMemory>[1];
    const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) as ArrayBuffer;
    const model = await converter.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs, weightData }));
    return {
      backend: tf.getBackend(),
      async detect(rgb) {
        if (rgb.length !== MODEL_INPUT * MODEL_INPUT * 3) {
          throw new ClassifyError('CLASSIFY_BAD_IMAGE', `the detector takes ${MODEL_INPUT}x${MODEL_INPUT} RGB, got ${rgb.length} bytes`, rgb.length);
        }
        const out = tf.tidy(() => {
          const input = tf.tensor4d(Float32Array.from(rgb), [1, MODEL_INPUT, MODEL_INPUT, 3], 'float32');
          return model.execute(input, ['tower_0/detections']) as InstanceType<typeof tf.Tensor>;
        });
        try {
          const rows = (await out.array()) as number[][][];
          return rows[0].map((r) => [r[0], r[1], r[2], r[3], r[4], r[5]] as const);
        } finally {
          out.dispose();
        }
      },
      dispose() {
        model.dispose();
      },
    };
  } catch (error) {
    if (error instanceof ClassifyError) throw error;
    throw new ClassifyError('CLASSIFY_MODEL_LOAD_FAILED', `cannot load the detector model from ${modelDir}: ${(error as Error).message}`, modelDir, { cause: error });
  }
}
