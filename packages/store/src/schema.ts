import type { Database } from 'better-sqlite3';
import { StoreError } from './errors';
import { RECORDING_KINDS, UPLOAD_STATES } from '@preroll/layout';

/** One schema step. `up` runs inside a transaction together with the `user_version` bump. */
export interface Migration {
  /** The `user_version` the database has after this step (1, 2, 3, ... without gaps). */
  readonly version: number;
  readonly description: string;
  up(db: Database): void;
}

const quoted = (values: readonly string[]): string => values.map((v) => `'${v}'`).join(', ');

/**
 * The store's schema history. Never edit a released step: add a new one. Times are integer
 * milliseconds since the epoch; paths are relative to the data directory.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'recordings table and the indexes the gallery pages by',
    up(db) {
      db.exec(`
        CREATE TABLE recordings (
          id               TEXT    NOT NULL PRIMARY KEY,
          camera           TEXT    NOT NULL,
          kind             TEXT    NOT NULL CHECK (kind IN (${quoted(RECORDING_KINDS)})),
          day              TEXT    NOT NULL,
          started_at_ms    INTEGER NOT NULL,
          ended_at_ms      INTEGER NOT NULL,
          triggered_at_ms  INTEGER,
          pre_roll_ms      REAL    NOT NULL,
          duration_s       REAL    NOT NULL,
          frames           INTEGER NOT NULL,
          width            INTEGER NOT NULL,
          height           INTEGER NOT NULL,
          trigger_level    REAL,
          peak_score       REAL,
          clip_path        TEXT    NOT NULL UNIQUE,
          snapshot_path    TEXT,
          thumbnail_path   TEXT,
          heatmap_path     TEXT,
          sidecar_path     TEXT    NOT NULL UNIQUE,
          clip_bytes       INTEGER NOT NULL,
          total_bytes      INTEGER NOT NULL,
          favorite         INTEGER NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1)),
          upload_state     TEXT    NOT NULL DEFAULT 'none' CHECK (upload_state IN (${quoted(UPLOAD_STATES)})),
          indexed_at_ms    INTEGER NOT NULL
        );
        CREATE INDEX recordings_by_start    ON recordings (started_at_ms, id);
        CREATE INDEX recordings_by_day      ON recordings (day, started_at_ms, id);
        CREATE INDEX recordings_by_kind     ON recordings (kind, started_at_ms, id);
        CREATE INDEX recordings_by_favorite ON recordings (favorite, started_at_ms, id);
        CREATE INDEX recordings_by_camera   ON recordings (camera, started_at_ms, id);
      `);
    },
  },
  {
    version: 2,
    description: 'per-day counts kept by triggers, so the calendar and retention never scan every row',
    up(db) {
      const key = 'day = OLD.day AND camera = OLD.camera AND kind = OLD.kind AND favorite = OLD.favorite';
      const add = `INSERT INTO day_counts (day, camera, kind, favorite, count, bytes) VALUES (NEW.day, NEW.camera, NEW.kind, NEW.favorite, 1, NEW.total_bytes)
            ON CONFLICT (day, camera, kind, favorite) DO UPDATE SET count = count + 1, bytes = bytes + excluded.bytes;`;
      const remove = `UPDATE day_counts SET count = count - 1, bytes = bytes - OLD.total_bytes WHERE ${key};
          DELETE FROM day_counts WHERE ${key} AND count <= 0;`;
      db.exec(`
        CREATE TABLE day_counts (
          day      TEXT    NOT NULL,
          camera   TEXT    NOT NULL,
          kind     TEXT    NOT NULL,
          favorite INTEGER NOT NULL,
          count    INTEGER NOT NULL,
          bytes    INTEGER NOT NULL,
          PRIMARY KEY (day, camera, kind, favorite)
        ) WITHOUT ROWID;
        INSERT INTO day_counts (day, camera, kind, favorite, count, bytes)
          SELECT day, camera, kind, favorite, COUNT(*), SUM(total_bytes) FROM recordings GROUP BY day, camera, kind, favorite;
        CREATE TRIGGER recordings_counts_insert AFTER INSERT ON recordings BEGIN
          ${add}
        END;
        CREATE TRIGGER recordings_counts_delete AFTER DELETE ON recordings BEGIN
          ${remove}
        END;
        CREATE TRIGGER recordings_counts_update AFTER UPDATE OF day, camera, kind, favorite, total_bytes ON recordings BEGIN
          ${remove}
          ${add}
        END;
      `);
    },
  },
  {
    version: 3,
    description: 'clips removed from this device after an upload keep their row (where they went, and when)',
    up(db) {
      db.exec(`
        ALTER TABLE recordings ADD COLUMN offloaded_at_ms INTEGER;
        ALTER TABLE recordings ADD COLUMN offloaded_to TEXT;
      `);
    },
  },
  {
    version: 4,
    description: 'reviewed flag per recording (the gallery counts what nobody has looked at yet)',
    up(db) {
      db.exec(`
        ALTER TABLE recordings ADD COLUMN reviewed INTEGER NOT NULL DEFAULT 0 CHECK (reviewed IN (0, 1));
        CREATE INDEX recordings_unreviewed ON recordings (reviewed, kind);
      `);
    },
  },
  {
    version: 5,
    description: 'object labels per recording (JSON as in the sidecar) and a label index the gallery filters by',
    up(db) {
      // labels_json NULL: never classified; '[]': classified, nothing found. recording_labels
      // holds one row per label and sub-label of a recording, kept by triggers, so a filter by
      // label is an index lookup. Rows that exist already have no labels: nothing to copy.
      const fill = `INSERT OR IGNORE INTO recording_labels (label, recording_id)
            SELECT json_extract(value, '$.label'), NEW.id FROM json_each(NEW.labels_json) WHERE NEW.labels_json IS NOT NULL
            UNION SELECT json_extract(value, '$.subLabel'), NEW.id FROM json_each(NEW.labels_json) WHERE NEW.labels_json IS NOT NULL;`;
      db.exec(`
        ALTER TABLE recordings ADD COLUMN labels_json TEXT;
        CREATE TABLE recording_labels (
          label        TEXT NOT NULL,
          recording_id TEXT NOT NULL,
          PRIMARY KEY (label, recording_id)
        ) WITHOUT ROWID;
        CREATE INDEX recording_labels_by_recording ON recording_labels (recording_id);
        CREATE INDEX recordings_unlabelled ON recordings (started_at_ms, id) WHERE labels_json = '[]';
        CREATE TRIGGER recordings_labels_insert AFTER INSERT ON recordings WHEN NEW.labels_json IS NOT NULL BEGIN
          ${fill}
        END;
        CREATE TRIGGER recordings_labels_update AFTER UPDATE OF labels_json ON recordings BEGIN
          DELETE FROM recording_labels WHERE recording_id = OLD.id;
          ${fill}
        END;
        CREATE TRIGGER recordings_labels_delete AFTER DELETE ON recordings BEGIN
          DELETE FROM recording_labels WHERE recording_id = OLD.id;
        END;
      `);
    },
  },
  {
    version: 6,
    description: 'what started each event (the video detector, sensors), from the sidecar',
    up(db) {
      // Comma-separated cue names ([a-z0-9_-], so no escaping); NULL for none.
      db.exec('ALTER TABLE recordings ADD COLUMN cues TEXT');
    },
  },
  {
    version: 7,
    description: 'breaks in the video (camera restarts), from the sidecar',
    up(db) {
      // JSON as in the sidecar; NULL for none. Rows that exist already have none (older recorders wrote none).
      db.exec('ALTER TABLE recordings ADD COLUMN discontinuities_json TEXT');
    },
  },
];

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Reads `PRAGMA user_version`. */
export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/**
 * Brings the database up to the last migration, one transaction per step, so a failing step
 * leaves the database at the previous version. Throws `STORE_SCHEMA_TOO_NEW` for a database
 * written by a newer build (it is not corrupt: rebuilding it would throw away its newer data)
 * and `STORE_MIGRATION_FAILED` with the cause when a step fails.
 */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): { from: number; to: number } {
  const from = schemaVersion(db);
  const latest = migrations.length ? migrations[migrations.length - 1].version : 0;
  if (from > latest) {
    throw new StoreError('STORE_SCHEMA_TOO_NEW', `database schema version ${from} is newer than this build's ${latest}; upgrade Preroll or run reindex into a new data directory`, from);
  }
  for (const step of migrations) {
    if (step.version <= from) continue;
    try {
      db.transaction(() => {
        step.up(db);
        db.pragma(`user_version = ${step.version}`);
      })();
    } catch (error) {
      throw new StoreError('STORE_MIGRATION_FAILED', `migration to schema version ${step.version} (${step.description}) failed: ${(error as Error).message}`, step.version, { cause: error });
    }
  }
  return { from, to: Math.max(from, latest) };
}
