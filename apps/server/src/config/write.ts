import { constants } from 'node:fs';
import { copyFile, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Mode of the configuration file: it may hold secrets (webhook keys, MQTT passwords). */
const CONFIG_MODE = 0o640;

/**
 * Writes a configuration document as JSON so that a reader (or a power cut) sees either the
 * old file or the new one, never a torn one: the previous file is copied to `<file>.bak`, the
 * new text goes to a temporary file in the same folder which is fsynced, renamed over the file,
 * and the folder is fsynced so the rename itself survives a power cut. Mode 0640.
 */
export async function writeConfigAtomic(file: string, doc: unknown): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  try {
    await copyFile(file, `${file}.bak`);
  } catch (error) {
    // The first write has no previous file to keep.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const temp = join(dir, `.${basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, CONFIG_MODE);
  try {
    await handle.writeFile(text, 'utf8');
    // The mode given to open() is reduced by the umask; the file must end up 0640 whatever it is.
    await handle.chmod(CONFIG_MODE);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch((cleanup: unknown) => {
      throw new AggregateError([error, cleanup], `cannot write ${file}, nor remove ${temp}`);
    });
    throw error;
  }
  await handle.close();
  await rename(temp, file);
  const folder = await open(dir, constants.O_RDONLY);
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
