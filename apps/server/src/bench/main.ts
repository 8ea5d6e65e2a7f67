import type { BenchSuite } from './suite';

/** The suites, loaded lazily; `pnpm bench capture detector` runs a subset. */
const SUITES: Record<string, () => BenchSuite> = {
  capture: () => require('./capture').captureBench,
  detector: () => require('./detector').detectorBench,
  recorder: () => require('./recorder').recorderBench,
  store: () => require('./store').storeBench,
  server: () => require('./server').serverBench,
  modes: () => require('./modes').modesBench,
  labels: () => require('./labels').labelsBench,
};

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  const names = argv.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !SUITES[n]);
  if (unknown.length) {
    process.stderr.write(`unknown suite(s): ${unknown.join(', ')}; known: ${Object.keys(SUITES).join(', ')}\n`);
    return 2;
  }
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  log(`# pnpm bench ${argv.join(' ')}`.trimEnd());
  log(`node ${process.version}, ${require('node:os').cpus().length} cores, ${new Date().toISOString()}`);
  for (const name of names.length ? names : Object.keys(SUITES)) {
    const suite = SUITES[name]();
    log(`\n## ${suite.name}: ${suite.summary}`);
    await suite.run({ quick, log });
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
