import { readFileSync } from 'node:fs';

/** What we know of the board: its model string and the row alignment its ISP uses for YUV. */
export interface BoardInfo {
  /** `/proc/device-tree/model`, or null when it is not a device-tree board. */
  readonly model: string | null;
  /** True for any Raspberry Pi. */
  readonly isRaspberryPi: boolean;
  /** Row alignment of rpicam-vid's YUV420 output: 128 on a Pi 5, 64 on earlier Pis. */
  readonly strideAlign: 64 | 128;
}

/** Reads the board model (pure parsing in {@link boardFromModel}). */
export function detectBoard(modelPath = '/proc/device-tree/model'): BoardInfo {
  let model: string | null = null;
  try {
    model = readFileSync(modelPath, 'utf8').replace(/\0/g, '').trim() || null;
  } catch (error) {
    // Not a device-tree machine (a PC, a container): nothing to read, defaults apply.
    void error;
  }
  return boardFromModel(model);
}

/** Derives {@link BoardInfo} from a model string such as "Raspberry Pi 5 Model B Rev 1.0". */
export function boardFromModel(model: string | null): BoardInfo {
  const isRaspberryPi = model !== null && /raspberry pi/i.test(model);
  // The Pi 5's PiSP back end aligns rows to 128 bytes; the VC4 ISP (Pi 0-4) to 64.
  const pi5 = isRaspberryPi && /raspberry pi (5|500)\b|compute module 5/i.test(model ?? '');
  return { model, isRaspberryPi, strideAlign: pi5 ? 128 : 64 };
}
