import { spawnChild, which } from '@preroll/process';

/** The source `pnpm start` uses when none is configured, and why. */
export interface DefaultSourceChoice {
  readonly spec: 'rpicam' | 'demo';
  readonly reason: string;
  /** The lines of `rpicam-vid --list-cameras`, one per camera (empty when none was listed). */
  readonly cameras?: readonly string[];
}

/**
 * Picks the Pi camera when `rpicam-vid` is installed and lists a camera, otherwise the demo
 * scene. Runs `rpicam-vid --list-cameras` (bounded by `timeoutMs`); never throws.
 */
export async function chooseDefaultSource(options: { timeoutMs?: number } = {}): Promise<DefaultSourceChoice> {
  if (!which('rpicam-vid')) return { spec: 'demo', reason: 'rpicam-vid is not installed (sudo apt install rpicam-apps for a Pi camera)' };
  const listing = await listCameras(options.timeoutMs ?? 8000);
  if (listing.error) return { spec: 'demo', reason: `rpicam-vid --list-cameras failed: ${listing.error}` };
  if (listing.cameras.length === 0) return { spec: 'demo', reason: 'rpicam-vid found no camera (check the ribbon cable)' };
  return { spec: 'rpicam', reason: `rpicam-vid lists ${listing.cameras.length} camera(s): ${listing.cameras[0]}`, cameras: listing.cameras };
}

/**
 * The cameras `rpicam-vid --list-cameras` lists (one line each, e.g. `0 : imx500 [4056x3040 …]`),
 * or the reason it could not say. Bounded by `timeoutMs`; never throws.
 */
export async function listRpicamCameras(options: { timeoutMs?: number } = {}): Promise<{ cameras: string[]; error: string | null }> {
  if (!which('rpicam-vid')) return { cameras: [], error: 'rpicam-vid is not installed' };
  return listCameras(options.timeoutMs ?? 8000);
}

/** Parses `rpicam-vid --list-cameras` output into one line per camera (`0 : imx708 [4608x2592 …]`). Pure. */
export function parseCameraList(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^\d+\s*:\s*\S/.test(line));
}

async function listCameras(timeoutMs: number): Promise<{ cameras: string[]; error: string | null }> {
  const child = spawnChild({ name: 'list-cameras', command: 'rpicam-vid', args: ['--list-cameras'], stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => (out += chunk));
  const timer = setTimeout(() => void child.stop({ graceMs: 0, termMs: 500 }), timeoutMs);
  const exit = await child.exited;
  clearTimeout(timer);
  const text = `${out}\n${exit.stderrTail.join('\n')}`;
  const cameras = parseCameraList(text);
  if (cameras.length === 0 && exit.code !== 0) {
    return { cameras, error: exit.stderrTail.slice(-2).join(' | ') || `exit code ${exit.code}` };
  }
  return { cameras, error: null };
}
