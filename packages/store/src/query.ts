import type { Database, Statement } from 'better-sqlite3';
import { StoreError } from './errors';
import type { EventRecord, RecordingRow } from './record';
import { rowToRecord } from './record';
import type { RecordingKind } from '@preroll/layout';
import { RECORDING_KINDS } from '@preroll/layout';

/** Filters and paging of {@link EventQueries.list}. Every filter is optional and they combine with AND. */
export interface ListQuery {
  /** Page size, 1..500; default 50. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string | null;
  /** Local day `YYYY-MM-DD`. */
  readonly day?: string;
  /** One kind or several. */
  readonly kind?: RecordingKind | readonly RecordingKind[];
  /** true: favourites only; false: non-favourites only. */
  readonly favorite?: boolean;
  readonly camera?: string;
  /** true: reviewed only; false: not yet reviewed only (list only: the day counts do not split by it). */
  readonly reviewed?: boolean;
  /**
   * Only recordings with this label (`person`, `animal`, `vehicle`, `other`) or sub-label (a
   * COCO class such as `cat`); `none`: only those classified with nothing found. List only.
   */
  readonly label?: string;
  /** Leave out recordings classified with nothing found ("motion only"). List only. */
  readonly hideUnlabelled?: boolean;
}

/** What a label filter may be: lower-case words (a label, a COCO class, or `none`). */
export const LABEL_FILTER_PATTERN = /^[a-z][a-z ]{0,39}$/;

/** One page, newest first. `nextCursor` is null on the last page. */
export interface EventPage {
  readonly items: EventRecord[];
  readonly nextCursor: string | null;
}

/** Events per local day, newest day first. */
export interface DayCount {
  readonly day: string;
  readonly count: number;
  readonly bytes: number;
}

/** Filters of {@link EventQueries.countByDay}. */
export type CountQuery = Omit<ListQuery, 'limit' | 'cursor' | 'day' | 'reviewed' | 'label' | 'hideUnlabelled'>;

/** How many recordings carry each label (the gallery's filter buttons). */
export interface LabelCount {
  /** `person`, `animal`, `vehicle`, `other`, or `none` (classified, nothing found: "motion only"). */
  readonly label: string;
  readonly count: number;
}

/** The labels counted by {@link EventQueries.countByLabel}, in the order they are returned. */
export const COUNTED_LABELS = ['person', 'animal', 'vehicle', 'other', 'none'] as const;

/** Page size when the query gives none. */
export const DEFAULT_PAGE_SIZE = 50;
/** Largest page a query may ask for. */
export const MAX_PAGE_SIZE = 500;

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** The keyset position a cursor encodes: the last row of the previous page. */
export interface CursorPosition {
  readonly startedAtMs: number;
  readonly id: string;
}

/** Encodes a keyset position as an opaque URL-safe string. */
export function encodeCursor(position: CursorPosition): string {
  return Buffer.from(JSON.stringify([position.startedAtMs, position.id]), 'utf8').toString('base64url');
}

/** Decodes a cursor from {@link encodeCursor}; throws `STORE_BAD_CURSOR` for anything else. */
export function decodeCursor(cursor: string): CursorPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw new StoreError('STORE_BAD_CURSOR', 'pagination cursor is not one this server handed out', cursor, { cause: error });
  }
  if (!Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string' || value[1].length > 200) {
    throw new StoreError('STORE_BAD_CURSOR', 'pagination cursor is not one this server handed out', cursor);
  }
  return { startedAtMs: value[0], id: value[1] };
}

/**
 * The gallery's read queries. Each distinct combination of filters is prepared once and
 * cached; pages use keyset pagination on (started_at_ms, id) so page N costs the same as page 1.
 */
export interface EventQueries {
  get(id: string): EventRecord | undefined;
  getRow(id: string): RecordingRow | undefined;
  list(query?: ListQuery): EventPage;
  countByDay(query?: CountQuery): DayCount[];
  /** Recordings per taxonomy label and "motion only" (`none`), zeros included, in {@link COUNTED_LABELS} order. */
  countByLabel(query?: CountQuery & { day?: string }): LabelCount[];
  timeline(day: string, camera?: string): Timeline;
  /** Recordings nobody has reviewed yet (continuous segments are not events and do not count). */
  unreviewedCount(camera?: string): number;
  /** Ids of the unreviewed recordings (segments left out), oldest first. */
  unreviewedIds(): string[];
}

/** One day of recordings for the gallery's timeline strip (times in ms since the epoch), oldest first. */
export interface Timeline {
  readonly day: string;
  /** Continuous segments. */
  readonly segments: Array<{ readonly id: string; readonly startMs: number; readonly endMs: number }>;
  /** Everything else (motion and manual events, memories, photos). */
  readonly events: Array<{ readonly id: string; readonly kind: RecordingKind; readonly startMs: number; readonly endMs: number; readonly favorite: boolean }>;
}

/** Builds the query object over an open, migrated database. */
export function createQueries(db: Database): EventQueries {
  const getStmt = db.prepare<[string], RecordingRow>('SELECT * FROM recordings WHERE id = ?');
  const cache = new Map<string, Statement<unknown[], RecordingRow>>();
  const countCache = new Map<string, Statement<unknown[], { day: string; count: number; bytes: number }>>();
  const labelCountCache = new Map<string, Statement<unknown[], { label: string; count: number }>>();
  type SpanRow = { id: string; kind: RecordingKind; started_at_ms: number; ended_at_ms: number; favorite: 0 | 1 };
  // One day is at most a few thousand rows (1440 one-minute segments): read in one go, only the columns drawn.
  const timelineAll = db.prepare<[string], SpanRow>('SELECT id, kind, started_at_ms, ended_at_ms, favorite FROM recordings WHERE day = ? ORDER BY started_at_ms, id');
  const timelineCamera = db.prepare<[string, string], SpanRow>('SELECT id, kind, started_at_ms, ended_at_ms, favorite FROM recordings WHERE day = ? AND camera = ? ORDER BY started_at_ms, id');

  const unreviewedAll = db.prepare<[], number>("SELECT COUNT(*) FROM recordings WHERE reviewed = 0 AND kind <> 'segment'").pluck();
  const unreviewedCamera = db.prepare<[string], number>("SELECT COUNT(*) FROM recordings WHERE reviewed = 0 AND kind <> 'segment' AND camera = ?").pluck();
  const unreviewedIdsStmt = db.prepare<[], string>("SELECT id FROM recordings WHERE reviewed = 0 AND kind <> 'segment' ORDER BY started_at_ms, id").pluck();

  const filters = (query: CountQuery & { day?: string }): { key: string; where: string[]; params: unknown[] } => {
    const where: string[] = [];
    const params: unknown[] = [];
    const key: string[] = [];
    if (query.day !== undefined) {
      if (typeof query.day !== 'string' || !DAY_PATTERN.test(query.day)) throw new StoreError('STORE_BAD_QUERY', `day must be YYYY-MM-DD, got ${String(query.day)}`, query.day);
      where.push('day = ?');
      params.push(query.day);
      key.push('d');
    }
    if (query.kind !== undefined) {
      const kinds = typeof query.kind === 'string' ? [query.kind] : [...query.kind];
      if (kinds.length === 0 || kinds.some((k) => !RECORDING_KINDS.includes(k))) {
        throw new StoreError('STORE_BAD_QUERY', `kind must be one or more of ${RECORDING_KINDS.join(', ')}`, query.kind);
      }
      where.push(kinds.length === 1 ? 'kind = ?' : `kind IN (${kinds.map(() => '?').join(', ')})`);
      params.push(...kinds);
      key.push(`k${kinds.length}`);
    }
    if (query.favorite !== undefined) {
      if (typeof query.favorite !== 'boolean') throw new StoreError('STORE_BAD_QUERY', 'favorite must be a boolean', query.favorite);
      where.push('favorite = ?');
      params.push(query.favorite ? 1 : 0);
      key.push('f');
    }
    if (query.camera !== undefined) {
      if (typeof query.camera !== 'string' || query.camera.length === 0) throw new StoreError('STORE_BAD_QUERY', 'camera must be a non-empty string', query.camera);
      where.push('camera = ?');
      params.push(query.camera);
      key.push('c');
    }
    return { key: key.join(''), where, params };
  };

  return {
    get(id) {
      const row = getStmt.get(id);
      return row && rowToRecord(row);
    },
    getRow(id) {
      return getStmt.get(id);
    },
    list(query = {}) {
      const limit = query.limit ?? DEFAULT_PAGE_SIZE;
      if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
        throw new StoreError('STORE_BAD_QUERY', `limit must be an integer 1..${MAX_PAGE_SIZE}, got ${String(limit)}`, limit);
      }
      const f = filters(query);
      if (query.reviewed !== undefined) {
        if (typeof query.reviewed !== 'boolean') throw new StoreError('STORE_BAD_QUERY', 'reviewed must be a boolean', query.reviewed);
        f.where.push('reviewed = ?');
        f.params.push(query.reviewed ? 1 : 0);
        f.key += 'r';
      }
      if (query.label !== undefined) {
        if (typeof query.label !== 'string' || !LABEL_FILTER_PATTERN.test(query.label)) {
          throw new StoreError('STORE_BAD_QUERY', 'label must be a label (person, animal, vehicle, other), a detector class such as cat, or none', query.label);
        }
        if (query.label === 'none') {
          f.where.push("labels_json = '[]'");
          f.key += 'n';
        } else {
          f.where.push('id IN (SELECT recording_id FROM recording_labels WHERE label = ?)');
          f.params.push(query.label);
          f.key += 'l';
        }
      }
      if (query.hideUnlabelled !== undefined) {
        if (typeof query.hideUnlabelled !== 'boolean') throw new StoreError('STORE_BAD_QUERY', 'hideUnlabelled must be a boolean', query.hideUnlabelled);
        if (query.hideUnlabelled) {
          f.where.push("(labels_json IS NULL OR labels_json <> '[]')");
          f.key += 'h';
        }
      }
      if (query.cursor) {
        const position = decodeCursor(query.cursor);
        // A row-value comparison lets SQLite seek the (…, started_at_ms, id) index directly.
        f.where.push('(started_at_ms, id) < (?, ?)');
        f.params.push(position.startedAtMs, position.id);
        f.key += 'p';
      }
      let stmt = cache.get(f.key);
      if (!stmt) {
        const where = f.where.length ? `WHERE ${f.where.join(' AND ')}` : '';
        stmt = db.prepare(`SELECT * FROM recordings ${where} ORDER BY started_at_ms DESC, id DESC LIMIT ?`);
        cache.set(f.key, stmt);
      }
      const rows = stmt.all(...f.params, limit + 1);
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      const last = page[page.length - 1];
      return {
        items: page.map(rowToRecord),
        nextCursor: more && last ? encodeCursor({ startedAtMs: last.started_at_ms, id: last.id }) : null,
      };
    },
    countByDay(query = {}) {
      const f = filters(query);
      let stmt = countCache.get(f.key);
      if (!stmt) {
        const where = f.where.length ? `WHERE ${f.where.join(' AND ')}` : '';
        // day_counts (kept by triggers) holds one row per day × camera × kind × favourite.
        stmt = db.prepare(`SELECT day, SUM(count) AS count, SUM(bytes) AS bytes FROM day_counts ${where} GROUP BY day ORDER BY day DESC`);
        countCache.set(f.key, stmt);
      }
      return stmt.all(...f.params).map((r) => ({ day: r.day, count: r.count, bytes: r.bytes }));
    },
    countByLabel(query = {}) {
      const f = filters(query);
      let stmt = labelCountCache.get(f.key);
      if (!stmt) {
        const and = f.where.map((w) => ` AND ${w}`).join('');
        // The label index holds one row per label and sub-label; the taxonomy's four are counted here.
        stmt = db.prepare(
          `SELECT l.label AS label, COUNT(*) AS count FROM recording_labels l JOIN recordings ON recordings.id = l.recording_id WHERE l.label IN ('person', 'animal', 'vehicle', 'other')${and} GROUP BY l.label
           UNION ALL SELECT 'none' AS label, COUNT(*) AS count FROM recordings WHERE labels_json = '[]'${and}`,
        );
        labelCountCache.set(f.key, stmt);
      }
      const counts = new Map(stmt.all(...f.params, ...f.params).map((r) => [r.label, r.count]));
      return COUNTED_LABELS.map((label) => ({ label, count: counts.get(label) ?? 0 }));
    },
    unreviewedCount(camera) {
      return camera === undefined ? unreviewedAll.get() ?? 0 : unreviewedCamera.get(camera) ?? 0;
    },
    unreviewedIds() {
      return unreviewedIdsStmt.all();
    },
    timeline(day, camera) {
      if (typeof day !== 'string' || !DAY_PATTERN.test(day)) throw new StoreError('STORE_BAD_QUERY', `day must be YYYY-MM-DD, got ${String(day)}`, day);
      const rows = camera === undefined ? timelineAll.all(day) : timelineCamera.all(day, camera);
      const span = (r: SpanRow): { id: string; startMs: number; endMs: number } => ({ id: r.id, startMs: r.started_at_ms, endMs: r.ended_at_ms });
      return {
        day,
        segments: rows.filter((r) => r.kind === 'segment').map(span),
        events: rows.filter((r) => r.kind !== 'segment').map((r) => ({ ...span(r), kind: r.kind, favorite: r.favorite === 1 })),
      };
    },
  };
}
