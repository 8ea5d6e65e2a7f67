import { readFile } from 'node:fs/promises';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import { spawnChild, which } from '@preroll/process';

/** What the system panel shows. */
export interface SystemInfo {
  readonly loadAvg: number[];
  readonly cpus: number;
  readonly memTotalBytes: number;
  readonly memUsedPct: number;
  readonly rssBytes: number;
  /** JavaScript heap in use (the rest of the RSS is native: libvips, SQLite, buffers). */
  readonly heapUsedBytes: number;
  /** Memory of Buffers and other objects outside the JavaScript heap (frames, JPEGs). */
  readonly externalBytes: number;
  /** CPU temperature, °C, where the kernel exposes it (Raspberry Pi, most PCs). */
  readonly cpuTempC: number | null;
  /** Raspberry Pi throttling state from `vcgencmd get_throttled`, decoded; null elsewhere. */
  readonly throttled: string | null;
  readonly model: string | null;
}

/** Decodes `throttled=0x50005` into words. Pure. */
export function describeThrottled(text: string): string | null {
  const match = /throttled=0x([0-9a-f]+)/i.exec(text);
  if (!match) return null;
  const bits = parseInt(match[1], 16);
  const now: string[] = [];
  const past: string[] = [];
  const names: [number, string][] = [
    [0, 'under-voltage'],
    [1, 'frequency capped'],
    [2, 'throttled'],
    [3, 'soft temperature limit'],
  ];
  for (const [bit, name] of names) {
    if (bits & (1 << bit)) now.push(name);
    if (bits & (1 << (bit + 16))) past.push(name);
  }
  if (!now.length && !past.length) return 'none';
  return [now.length ? `now: ${now.join(', ')}` : '', past.length ? `since boot: ${past.join(', ')}` : ''].filter(Boolean).join('; ');
}

/** The process's own memory now: resident, JavaScript heap, and Buffers outside the heap. */
export function memoryFigures(): Pick<SystemInfo, 'rssBytes' | 'heapUsedBytes' | 'externalBytes'> {
  const usage = process.memoryUsage();
  return { rssBytes: usage.rss, heapUsedBytes: usage.heapUsed, externalBytes: usage.external };
}

/** Reads the system figures (cheap; `vcgencmd` only on a Pi). */
export async function readSystemInfo(): Promise<SystemInfo> {
  const total = totalmem();
  let cpuTempC: number | null = null;
  try {
    cpuTempC = Number((await readFile('/sys/class/thermal/thermal_zone0/temp', 'utf8')).trim()) / 1000;
    if (!Number.isFinite(cpuTempC)) cpuTempC = null;
  } catch (error) {
    void error;
  }
  let model: string | null = null;
  try {
    model = (await readFile('/proc/device-tree/model', 'utf8')).replace(/\0/g, '').trim() || null;
  } catch (error) {
    void error;
  }
  let throttled: string | null = null;
  if (which('vcgencmd')) {
    const child = spawnChild({ name: 'vcgencmd', command: 'vcgencmd', args: ['get_throttled'], stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await child.exited;
    throttled = describeThrottled(out);
  }
  return {
    loadAvg: loadavg(),
    cpus: cpus().length,
    memTotalBytes: total,
    memUsedPct: Math.round(((total - freemem()) / total) * 1000) / 10,
    ...memoryFigures(),
    cpuTempC,
    throttled,
    model,
  };
}
