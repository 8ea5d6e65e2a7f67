import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { isErrnoCode, LayoutError } from './errors';

/** Marker in the name of the temporary file an atomic write renames into place; watchers and reindex ignore such files. */
export const TEMP_MARKER = '.tmp-';

/**
 * Writes a file so that readers only ever see the old or the new complete file: write a
 * temporary file beside it (named with {@link TEMP_MARKER}), optionally fsync it, rename it over
 * `filePath`, and with `fsync` also fsync the directory so the rename survives a power cut
 * (`syncDir: false` leaves that to a later write in the same folder).
 * Creates the directory when missing. Throws `LAYOUT_WRITE_FAILED` (cause has the errno, e.g.
 * `ENOSPC`); the temporary file is removed in that case.
 */
export async function writeFileAtomic(filePath: string, data: string | Uint8Array, options: { fsync?: boolean; syncDir?: boolean } = {}): Promise<void> {
  const fsync = options.fsync ?? true;
  // Files written just before a sidecar in the same folder can leave the folder's fsync to it.
  const syncDir = options.syncDir ?? fsync;
  const dir = path.dirname(filePath);
  const temp = `${filePath}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fsp.mkdir(dir, { recursive: true });
    const handle = await fsp.open(temp, 'wx');
    try {
      await handle.writeFile(data);
      if (fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, filePath);
  } catch (error) {
    await fsp.rm(temp, { force: true }).catch(() => undefined);
    throw new LayoutError('LAYOUT_WRITE_FAILED', `cannot write ${filePath}: ${(error as Error).message}`, filePath, { cause: error });
  }
  if (syncDir) await syncDirectory(dir);
}

async function syncDirectory(dir: string): Promise<void> {
  // The rename is durable only once the directory entry is; some file systems refuse to fsync
  // a directory, which only weakens durability, so those refusals are ignored.
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!['EINVAL', 'EISDIR', 'EPERM', 'EBADF'].some((code) => isErrnoCode(error, code))) {
      throw new LayoutError('LAYOUT_WRITE_FAILED', `cannot fsync directory ${dir}: ${(error as Error).message}`, dir, { cause: error });
    }
  } finally {
    await handle?.close();
  }
}
