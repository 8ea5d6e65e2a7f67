import type { Logger } from 'pino';
import { createEmitter } from '@preroll/process';
import type { FinishedRecording } from '@preroll/recorder';
import type { EventRecord, Store } from '@preroll/store';

/** A recording announced once: the indexed row and what its finisher reported. */
export interface Announcement {
  readonly record: EventRecord;
  readonly recording: FinishedRecording;
}

/**
 * The one announcement path of the composition root. Every finished recording of every camera
 * comes to `finished` (from the pipelines' `onRecording`): it is indexed first, then announced,
 * exactly once, to every subscriber (integrations, the page). Announcements made while the
 * server is still starting (recovered clips) are held until `open()`, when every subscriber is
 * attached, so none is lost and none is sent twice.
 */
export interface Announcer {
  /** Indexes a finished recording, then announces it unless it was already announced before a crash. */
  finished(recording: FinishedRecording): Promise<void>;
  /** Adds a subscriber; returns a function that removes it. */
  subscribe(listener: (announcement: Announcement) => void): () => void;
  /** Delivers what was held and from now on announces at once. */
  open(): void;
  /** Announcements delivered so far (for status and tests). */
  count(): number;
}

/** Held announcements are few (recovered clips at start); the cap only guards against a stuck start. */
const MAX_HELD = 10_000;

/** Creates the announcer over the store that indexes every recording. */
export function createAnnouncer(options: { store: () => Store; logger?: Logger }): Announcer {
  const subscribers = createEmitter<[Announcement]>('announcer', options.logger);
  const held: Announcement[] = [];
  let opened = false;
  let delivered = 0;
  const deliver = (announcement: Announcement): void => {
    delivered++;
    subscribers.emit(announcement);
  };
  return {
    async finished(recording) {
      const store = options.store();
      const id = recording.sidecar.id;
      const known = store.get(id) !== undefined;
      const record = await store.indexRecording(recording.sidecarPath);
      // A recording whose sidecar was final before a crash (or a photo of the same frame) was
      // announced when it was indexed then; one the index did not know yet was not.
      if (recording.origin === 'already-final' && known) return;
      const announcement = { record, recording };
      if (opened) deliver(announcement);
      else if (held.length < MAX_HELD) held.push(announcement);
      else options.logger?.warn({ id }, 'announcer: too many announcements held during start; this one is dropped');
    },
    subscribe: subscribers.on,
    open() {
      if (opened) return;
      opened = true;
      for (const announcement of held.splice(0)) deliver(announcement);
    },
    count: () => delivered,
  };
}
