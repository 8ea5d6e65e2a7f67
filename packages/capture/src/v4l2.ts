import { execFile } from 'node:child_process';
import { CaptureError } from './errors';

/** One control a V4L2 device reports (`v4l2-ctl --list-ctrls-menus`). */
export interface V4l2Control {
  readonly name: string;
  readonly type: 'int' | 'bool' | 'menu' | 'intmenu' | 'int64' | 'button' | 'bitmask' | 'string' | string;
  readonly min: number | null;
  readonly max: number | null;
  readonly step: number | null;
  readonly default: number | null;
  readonly value: number | null;
  /** `inactive` (another control decides, e.g. auto white balance), `read-only`... */
  readonly flags: readonly string[];
  /** Menu entries (menu controls): index and label. */
  readonly menu: readonly { readonly index: number; readonly label: string }[];
}

const CONTROL_LINE = /^\s*([A-Za-z0-9_]+)\s+0x[0-9a-fA-F]+\s+\(([a-z0-9]+)\)\s*:\s*(.*)$/;
const MENU_LINE = /^\s*(-?\d+):\s*(.*)$/;

/** Parses the output of `v4l2-ctl --list-ctrls-menus`. Pure; headings and unknown lines are skipped. */
export function parseV4l2Controls(text: string): V4l2Control[] {
  const controls: { -readonly [K in keyof V4l2Control]: V4l2Control[K] }[] = [];
  for (const line of text.split('\n')) {
    const control = CONTROL_LINE.exec(line);
    if (control) {
      const fields = new Map<string, string>();
      for (const pair of control[3].matchAll(/([a-z_]+)=(\S+)/g)) fields.set(pair[1], pair[2]);
      const num = (key: string): number | null => (fields.has(key) && Number.isFinite(Number(fields.get(key))) ? Number(fields.get(key)) : null);
      controls.push({
        name: control[1],
        type: control[2],
        min: num('min'),
        max: num('max'),
        step: num('step'),
        default: num('default'),
        value: num('value'),
        flags: fields.get('flags')?.split(',') ?? [],
        menu: [],
      });
      continue;
    }
    const entry = MENU_LINE.exec(line);
    const last = controls[controls.length - 1];
    if (entry && last && (last.type === 'menu' || last.type === 'intmenu')) last.menu = [...last.menu, { index: Number(entry[1]), label: entry[2].trim() }];
  }
  return controls;
}

/** Runs v4l2-ctl (argv, no shell) with a time limit; rejects with `CAPTURE_V4L2_CTL`. */
function v4l2Ctl(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('v4l2-ctl', args, { timeout: timeoutMs, maxBuffer: 1024 * 1024, shell: false, env: process.env }, (error, stdout, stderr) => {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        const message = missing ? 'v4l2-ctl not found: install it (sudo apt install v4l-utils)' : `v4l2-ctl failed: ${String(stderr).trim().split('\n').slice(-2).join(' ') || error.message}`;
        reject(new CaptureError(missing ? 'CAPTURE_BINARY_NOT_FOUND' : 'CAPTURE_V4L2_CTL', message, args, { cause: error }));
        return;
      }
      resolve(String(stdout));
    });
  });
}

/** Lists the controls of a V4L2 device (`v4l2-ctl -d DEVICE --list-ctrls-menus`). */
export async function listV4l2Controls(device: string, options: { timeoutMs?: number } = {}): Promise<V4l2Control[]> {
  return parseV4l2Controls(await v4l2Ctl(['-d', device, '--list-ctrls-menus'], options.timeoutMs ?? 5000));
}

/**
 * Sets controls live (`v4l2-ctl -d DEVICE --set-ctrl=a=1,b=2`), after checking each against
 * what the device reports (name, type, range, step, menu entry). Throws `CAPTURE_BAD_CONTROL`
 * naming the control, or `CAPTURE_V4L2_CTL` when the device refuses.
 */
export async function setV4l2Controls(device: string, values: Readonly<Record<string, number>>, options: { timeoutMs?: number; controls?: readonly V4l2Control[] } = {}): Promise<void> {
  const entries = Object.entries(values);
  if (!entries.length) return;
  const known = options.controls ?? (await listV4l2Controls(device, options));
  for (const [name, value] of entries) checkV4l2Value(known, name, value);
  await v4l2Ctl(['-d', device, `--set-ctrl=${entries.map(([name, value]) => `${name}=${value}`).join(',')}`], options.timeoutMs ?? 5000);
}

function checkV4l2Value(controls: readonly V4l2Control[], name: string, value: number): void {
  const control = controls.find((c) => c.name === name);
  const bad = (rule: string): never => {
    throw new CaptureError('CAPTURE_BAD_CONTROL', `control ${name} ${rule}`, { key: name, value });
  };
  if (!control) bad('is not reported by the device');
  const c = control as V4l2Control;
  if (!Number.isInteger(value)) bad('takes an integer');
  if (c.flags.includes('read-only')) bad('is read-only');
  if (c.type === 'bool' && value !== 0 && value !== 1) bad('takes 0 or 1');
  if ((c.type === 'menu' || c.type === 'intmenu') && !c.menu.some((m) => m.index === value)) bad(`takes one of ${c.menu.map((m) => m.index).join(', ')}`);
  if (c.type === 'int' && ((c.min !== null && value < c.min) || (c.max !== null && value > c.max))) bad(`takes ${c.min}..${c.max}`);
  if (c.type === 'int' && c.step && c.min !== null && (value - c.min) % c.step !== 0) bad(`moves in steps of ${c.step}`);
  if (!['int', 'bool', 'menu', 'intmenu'].includes(c.type)) bad(`has type ${c.type}, which is not set from here`);
}
