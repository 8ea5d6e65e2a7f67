/**
 * The bounded waiting room of outgoing MQTT messages. A message may carry a key: a newer
 * message with the same key replaces the waiting one (a state topic only needs its latest
 * value). Beyond `maxMessages` or `maxBytes` the oldest message is dropped and counted, so a
 * broker that is down or slow never grows memory.
 */

/** One message waiting for the broker. */
export interface OutboxMessage {
  readonly topic: string;
  readonly payload: string | Buffer;
  readonly retain: boolean;
}

/** What {@link Outbox.push} had to drop to make room (oldest first). */
export type Dropped = readonly OutboxMessage[];

/** A bounded FIFO with replace-by-key. */
export interface Outbox {
  /** Adds a message (replacing a waiting one with the same key); returns what was dropped to stay within bounds. */
  push(message: OutboxMessage, key?: string): Dropped;
  /** Takes the oldest waiting message, or undefined. */
  shift(): OutboxMessage | undefined;
  /** Number of waiting messages. */
  readonly size: number;
  /** Payload bytes waiting. */
  readonly bytes: number;
  /** Removes everything. */
  clear(): void;
}

/** Creates an empty outbox bounded by message count and payload bytes. */
export function createOutbox(maxMessages: number, maxBytes: number): Outbox {
  // A Map keeps insertion order, so it is the FIFO; unkeyed messages get a unique key.
  const entries = new Map<string, OutboxMessage>();
  let bytes = 0;
  let serial = 0;
  const sizeOf = (m: OutboxMessage): number => (typeof m.payload === 'string' ? Buffer.byteLength(m.payload) : m.payload.length);
  const remove = (key: string): OutboxMessage | undefined => {
    const existing = entries.get(key);
    if (existing === undefined) return undefined;
    entries.delete(key);
    bytes -= sizeOf(existing);
    return existing;
  };
  return {
    push(message, key) {
      const k = key === undefined ? `\0${serial++}` : `k:${key}`;
      remove(k);
      entries.set(k, message);
      bytes += sizeOf(message);
      const dropped: OutboxMessage[] = [];
      while (entries.size > maxMessages || (bytes > maxBytes && entries.size > 0)) {
        const oldest = entries.keys().next().value as string;
        dropped.push(remove(oldest) as OutboxMessage);
      }
      return dropped;
    },
    shift() {
      const oldest = entries.keys().next();
      return oldest.done ? undefined : remove(oldest.value);
    },
    get size() {
      return entries.size;
    },
    get bytes() {
      return bytes;
    },
    clear() {
      entries.clear();
      bytes = 0;
    },
  };
}
