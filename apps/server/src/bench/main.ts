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
  aicamera: () => require('./aicamera').aiCameraBench,
  loop: () => require('./loop').loopBench,
  peer: () => require('./peer').peerBench,
  passthrough: () => require('./passthrough').passthroughBench,
  budget: () => require('./budget').budgetBench,
  restart: () => require('./restart').restartBench,
};

/** Suites left out of a plain `pnpm bench`: they install packages, need root or run for minutes. */
const ON_REQUEST = new Set(['peer', 'budget', 'passthrough']);

async function main(argv: string[]): Promise<number> {
  const quick = argv.includes('--quick');
  // Suite names are the bare words that are not the value of an option (`--seconds 60`).
  const names = argv.filter((a, i) => !a.startsWith('--') && !(i > 0 && argv[i - 1].startsWith('--') && /^[0-9.]+$/.test(a)));
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
  for (const name of names.length ? names : Object.keys(SUITES).filter((n) => !ON_REQUEST.has(n))) {
    const suite = SUITES[name]();
    log(`\n## ${suite.name}: ${suite.summary}`);
    await suite.run({ quick, log, argv });
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
