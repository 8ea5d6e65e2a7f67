import { promises as fsp } from 'node:fs';

/**
 * Just enough ISO-BMFF to repair a fragmented MP4 whose writer died: read the top-level box
 * headers and find where the last complete fragment ends.
 */

/** A top-level box header: type, offset and declared size (which may reach past the end of a torn file). */
export interface BoxHeader {
  readonly type: string;
  readonly start: number;
  readonly size: number;
}

/** What survives of a fragmented MP4 (pure result of {@link completePrefix}). */
export interface CompletePrefix {
  /** Bytes from the start of the file that form a valid, playable file (0: nothing usable). */
  readonly length: number;
  /** Complete `moof`+`mdat` pairs within that length. */
  readonly fragments: number;
  /** Bytes after `length` that are torn or orphaned and must go. */
  readonly tornBytes: number;
}

/**
 * Given the top-level boxes of a file of `fileSize` bytes, where does the usable part end?
 * It must start with `ftyp` and hold a `moov`; it ends after the last complete box, except
 * that a `moof` whose `mdat` is missing or torn is cut off too. Pure.
 */
export function completePrefix(boxes: readonly BoxHeader[], fileSize: number): CompletePrefix {
  let end = 0;
  let fragments = 0;
  let sawFtyp = false;
  let sawMoov = false;
  let pendingMoof: BoxHeader | null = null;
  for (const box of boxes) {
    const complete = box.size >= 8 && box.start + box.size <= fileSize;
    if (!complete) break;
    if (box.type === 'ftyp') sawFtyp = true;
    if (box.type === 'moov') sawMoov = true;
    if (box.type === 'moof') {
      pendingMoof = box;
      continue;
    }
    if (box.type === 'mdat' && pendingMoof) {
      fragments++;
      pendingMoof = null;
    }
    end = box.start + box.size;
  }
  if (!sawFtyp || !sawMoov) return { length: 0, fragments: 0, tornBytes: fileSize };
  return { length: end, fragments, tornBytes: fileSize - end };
}

/** Parses box headers from a buffer holding the start of each box (pure; stops at the first bad header). */
export function parseBoxHeader(header: Buffer, start: number): BoxHeader | null {
  if (header.length < 8) return null;
  let size = header.readUInt32BE(0);
  const type = header.toString('latin1', 4, 8);
  if (!/^[\x20-\x7e]{4}$/.test(type)) return null;
  if (size === 1) {
    if (header.length < 16) return null;
    size = Number(header.readBigUInt64BE(8));
  } else if (size === 0) {
    return null; // "to the end of the file": only a writer that died mid-box leaves this at top level here
  }
  return { type, start, size };
}

/** Reads the top-level box headers of a file (never its payloads). */
export async function readTopLevelBoxes(path: string): Promise<{ boxes: BoxHeader[]; fileSize: number }> {
  const handle = await fsp.open(path, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const boxes: BoxHeader[] = [];
    const header = Buffer.alloc(16);
    let offset = 0;
    while (offset + 8 <= fileSize) {
      const { bytesRead } = await handle.read(header, 0, 16, offset);
      const box = parseBoxHeader(header.subarray(0, bytesRead), offset);
      if (!box || box.size < 8) break;
      boxes.push(box);
      offset += box.size;
    }
    return { boxes, fileSize };
  } finally {
    await handle.close();
  }
}

/**
 * Cuts a fragmented MP4 back to its last complete fragment (in place) and says what is left.
 * A file with nothing usable is left untouched (length 0 in the result).
 */
export async function trimToCompleteFragments(path: string): Promise<CompletePrefix> {
  const { boxes, fileSize } = await readTopLevelBoxes(path);
  const prefix = completePrefix(boxes, fileSize);
  if (prefix.length > 0 && prefix.tornBytes > 0) await fsp.truncate(path, prefix.length);
  return prefix;
}
