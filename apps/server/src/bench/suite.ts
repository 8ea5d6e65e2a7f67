/**
 * A benchmark suite run by `pnpm bench [name…]`. Suites print human-readable figures, each
 * as a ratio against a baseline measured in the same run (never an absolute pass/fail).
 */
export interface BenchSuite {
  readonly name: string;
  readonly summary: string;
  /** `quick` shortens the run (used by the test suite to prove the bench works). */
  run(options: { quick: boolean; log: (line: string) => void; argv: readonly string[] }): Promise<void>;
}

/** Formats a number with a fixed number of decimals, for aligned tables. */
export function fmt(value: number, decimals = 2): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : String(value);
}

/** CPU time (user + system) of this process in milliseconds. */
export function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}
