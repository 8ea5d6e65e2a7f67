import { Writable } from 'node:stream';
import type { CommandIo } from '../src/commands/command';

/** In-memory stdout/stderr for running CLI commands inside a test. */
export function memoryIo(): CommandIo & { out(): string; err(): string; jsonLines(): any[] } {
  const chunks = { out: [] as string[], err: [] as string[] };
  const sink = (into: string[]) =>
    new Writable({
      write(chunk, _encoding, callback) {
        into.push(chunk.toString());
        callback();
      },
    });
  const out = (): string => chunks.out.join('');
  return {
    stdout: sink(chunks.out),
    stderr: sink(chunks.err),
    out,
    err: () => chunks.err.join(''),
    jsonLines: () =>
      out()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
  };
}
