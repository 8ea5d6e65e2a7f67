import { delimiter, resolve } from 'node:path';

/** The folder of the fake `rpicam-vid` (test-fixtures/bin). */
export const FAKE_CAMERA_BIN = resolve(__dirname, '../../../../../test-fixtures/bin');

/** Puts the fake camera first on PATH (once), unless PREROLL_BENCH_REAL_CAMERA=1 on a real Pi. */
export function useFakeCamera(): void {
  if (process.env.PREROLL_BENCH_REAL_CAMERA === '1') return;
  if ((process.env.PATH ?? '').split(delimiter)[0] === FAKE_CAMERA_BIN) return;
  process.env.PATH = `${FAKE_CAMERA_BIN}${delimiter}${process.env.PATH ?? ''}`;
}
