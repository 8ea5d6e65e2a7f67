/**
 * The reference image a frame is compared with: the analysis image whose age is nearest to
 * `referenceS` (the oldest kept while none is that old yet). Comparing with a frame of
 * a fixed age, not with "the previous frame", makes the score of a walker or of swaying leaves
 * the same at 2 and at 30 frames/s: at 30 frames/s consecutive frames differ by a thirtieth of
 * a second of movement, at 2 frames/s by half a second.
 */

/** Images older than this many are never kept (bounds memory at very high frame rates). */
export const REFERENCE_RING_MAX = 64;

/** A ring of recent analysis images with their timestamps. */
export interface ReferenceRing {
  readonly size: number;
  readonly images: Uint8Array[];
  readonly ptsUs: number[];
  /** Kept images, oldest first (indices into `images`). */
  readonly order: number[];
}

/** An empty ring of images of `size` bytes. */
export function createReferenceRing(size: number): ReferenceRing {
  return { size, images: [], ptsUs: [], order: [] };
}

/** Forgets every image (after a restart or a light switch). */
export function clearReferences(ring: ReferenceRing): void {
  ring.order.length = 0;
}

/**
 * The index of the reference for a frame at `ptsUs`: the kept image whose age is nearest to
 * `referenceUs` (the older one on a tie), so a camera slower than 1/`referenceS` frames/s
 * compares consecutive frames; −1 when the ring is empty.
 */
export function pickReference(ring: ReferenceRing, ptsUs: number, referenceUs: number): number {
  if (ring.order.length === 0) return -1;
  let pick = ring.order[0];
  let best = Number.POSITIVE_INFINITY;
  for (const slot of ring.order) {
    const miss = Math.abs(ptsUs - ring.ptsUs[slot] - referenceUs);
    if (miss < best) {
      best = miss;
      pick = slot;
    }
  }
  return pick;
}

/**
 * Adds a copy of `image` taken at `ptsUs`, and drops the images no later frame can pick:
 * every image older than the newest one that is already `referenceUs` older than this frame
 * (later frames only find it older still).
 */
export function addReference(ring: ReferenceRing, image: Uint8Array, ptsUs: number, referenceUs: number): void {
  while (ring.order.length >= 2 && ring.ptsUs[ring.order[1]] <= ptsUs - referenceUs) ring.order.shift();
  if (ring.order.length >= REFERENCE_RING_MAX) ring.order.shift();
  const used = new Set(ring.order);
  let slot = ring.images.findIndex((_, i) => !used.has(i));
  if (slot < 0) {
    slot = ring.images.length;
    ring.images.push(new Uint8Array(ring.size));
    ring.ptsUs.push(0);
  }
  ring.images[slot].set(image);
  ring.ptsUs[slot] = ptsUs;
  ring.order.push(slot);
}
