import { parseArgs } from 'node:util';
import { reindex } from '@preroll/store';
import { UsageError, writeJsonLine, type Command } from './command';

const USAGE = `Usage: preroll reindex --data DIR [--json]

Rebuilds the SQLite index DIR/index.db from the sidecar files under DIR/events. A damaged
database is moved aside first (DIR/index.db.corrupt-<time>). Safe while the server runs.
Reports what it found: recordings indexed, sidecars skipped and why, and orphan files
(a clip without sidecar, a leftover temporary file) that no recording references.

  --data DIR   the data directory (required; must exist)
  --json       one JSON object per line: {"type":"skipped","path","code","message"} for each
               skipped sidecar, {"type":"orphan","path","kind","bytes"} for each orphan, then
               {"type":"summary","dataDir","database","movedAside","indexed","added","removed",
               "skipped","orphans","files","durationMs"}`;

/** `preroll reindex`: rebuild the index from the files on disk and report what was found. */
export const reindexCommand: Command = {
  name: 'reindex',
  summary: 'rebuild the SQLite index from the recordings on disk',
  usage: USAGE,
  async run(argv, io) {
    let values;
    try {
      ({ values } = parseArgs({ args: [...argv], options: { data: { type: 'string' }, json: { type: 'boolean' } }, allowPositionals: false }));
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (!values.data) throw new UsageError('--data DIR is required');
    const report = await reindex(values.data);
    const summary = {
      type: 'summary',
      dataDir: report.dataDir,
      database: report.database,
      movedAside: report.movedAside,
      problem: report.problem,
      indexed: report.indexed,
      added: report.added,
      removed: report.removed,
      skipped: report.skipped.length,
      orphans: report.orphans.length,
      files: report.files,
      durationMs: Math.round(report.durationMs),
    };
    if (values.json) {
      for (const s of report.skipped) writeJsonLine(io.stdout, { type: 'skipped', ...s });
      for (const o of report.orphans) writeJsonLine(io.stdout, { type: 'orphan', ...o });
      writeJsonLine(io.stdout, summary);
      return 0;
    }
    const lines = [`data directory ${report.dataDir}`];
    if (report.database === 'created') lines.push('database: was missing or empty; created');
    else if (report.database === 'recovered') lines.push(`database: damaged (${report.problem}); moved to ${report.movedAside}`);
    else lines.push('database: ok');
    lines.push(
      `indexed ${report.indexed} recordings (${report.added} new, ${report.removed} no longer on disk) from ${report.files} files in ${(report.durationMs / 1000).toFixed(2)} s`,
    );
    if (report.skipped.length) {
      lines.push(`skipped ${report.skipped.length} sidecars:`);
      for (const s of report.skipped) lines.push(`  ${s.path}  ${s.code}: ${s.message}`);
    }
    if (report.orphans.length) {
      const bytes = report.orphans.reduce((sum, o) => sum + o.bytes, 0);
      lines.push(`${report.orphans.length} orphan files (${(bytes / 1e6).toFixed(1)} MB) belong to no recording:`);
      for (const o of report.orphans) lines.push(`  ${o.path}  ${o.kind}`);
    }
    io.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
