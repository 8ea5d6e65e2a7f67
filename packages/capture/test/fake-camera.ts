import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';

/** The folder holding the fake `rpicam-vid` (test-fixtures/bin). */
export const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');

/**
 * Puts the fake camera first on PATH and sets its knobs for the duration of a test;
 * returns a function that restores the environment.
 */
export function useFakeCamera(knobs: Record<string, string> = {}): () => void {
  const saved = { ...process.env };
  process.env.PATH = `${FAKE_BIN}${delimiter}${process.env.PATH ?? ''}`;
  for (const key of Object.keys(process.env)) if (key.startsWith('FAKE_RPICAM_')) delete process.env[key];
  Object.assign(process.env, knobs);
  return () => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  };
}

/** A fresh temporary directory. */
export function tempDir(prefix = 'preroll-capture-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The luma value the fake camera writes at (x, y) of sensor frame n. */
export function fakeLuma(x: number, y: number, n: number): number {
  return 16 + ((x + 2 * y + 7 * (n % 8)) % 200);
}
