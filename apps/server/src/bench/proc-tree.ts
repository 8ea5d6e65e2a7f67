import { readdirSync, readFileSync } from 'node:fs';

/** One process of a tree, with its CPU so far. */
export interface ProcSample {
  readonly pid: number;
  readonly comm: string;
  readonly cmdline: string;
  /** utime + stime, seconds. */
  readonly cpuS: number;
  /** cutime + cstime (children it has reaped), seconds. */
  readonly childrenCpuS: number;
}

const TICKS_PER_S = 100;

function readStat(pid: number): { comm: string; cpuS: number; childrenCpuS: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    // Fields after "(comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14].
    return {
      comm,
      cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S,
      childrenCpuS: (Number(fields[13]) + Number(fields[14])) / TICKS_PER_S,
    };
  } catch (error) {
    // The process ended between listing and reading: it is simply not part of the sample.
    void error;
    return null;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch (error) {
    void error;
    return out;
  }
  for (const tid of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (child) out.push(Number(child));
    } catch (error) {
      void error;
    }
  }
  return out;
}

/** Every live process of the tree under `root` (itself included), with its CPU so far. */
export function sampleTree(root: number): ProcSample[] {
  const out: ProcSample[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    const stat = readStat(pid);
    if (!stat) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch (error) {
      void error;
    }
    out.push({ pid, ...stat, cmdline });
    queue.push(...childrenOf(pid));
  }
  return out;
}

/**
 * CPU seconds each process of a tree used between two samples, by a label the caller gives
 * (e.g. `node`, `decoder`, `encoder`). A process that started in between counts from zero;
 * children that ended and were reaped count through the root's cutime/cstime.
 */
export function treeCpuBetween(before: readonly ProcSample[], after: readonly ProcSample[], label: (p: ProcSample) => string): Map<string, number> {
  const start = new Map(before.map((p) => [p.pid, p]));
  const out = new Map<string, number>();
  for (const p of after) {
    const was = start.get(p.pid);
    let used = p.cpuS - (was?.cpuS ?? 0);
    if (p === after[0]) used += p.childrenCpuS - (was?.childrenCpuS ?? 0);
    const key = label(p);
    out.set(key, (out.get(key) ?? 0) + used);
  }
  return out;
}

/** The sum of a {@link treeCpuBetween} result. */
export function totalCpu(byLabel: Map<string, number>, except: readonly string[] = []): number {
  let sum = 0;
  for (const [key, value] of byLabel) if (!except.includes(key)) sum += value;
  return sum;
}
