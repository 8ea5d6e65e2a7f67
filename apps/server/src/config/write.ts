import { constants } from 'node:fs';
import { copyFile, open, rename, rm } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Writes the configuration file atomically: the document goes to a temporary file next to it
 * (mode 0640), is fsynced, the previous file is kept as `<file>.bak`, and the temporary file
 * is renamed over the old one; the folder is fsynced so the rename survives a power cut. A
 * reader sees the old or the new file, never a half-written one.
 */
export async function writeConfigAtomic(file: string, doc: unknown): Promise<void> {
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const dir = dirname(file);
  const temp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o640);
  try {
    await handle.writeFile(text, 'utf8');
    // The mode given to open() is filtered by the umask; the file holds secrets, so set it.
    await handle.chmod(0o640);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await copyFile(file, `${file}.bak`);
  } catch (error) {
    // No previous file: nothing to keep.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      await rm(temp, { force: true });
      throw error;
    }
  }
  await rename(temp, file);
  const folder = await open(dir, constants.O_RDONLY);
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
