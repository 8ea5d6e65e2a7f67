/** Pure parts of the rclone upload: where a file goes, the argv, and what a log may show of it. */

import * as path from 'node:path';
import type { EventRecord } from '@preroll/store';
import type { ResolvedUploadConfig, UploadExtraFile } from './config';

/** The folder template filled in for one recording (pure). Placeholders: see `PATH_PLACEHOLDERS`. */
export function renderPathTemplate(template: string, record: Pick<EventRecord, 'camera' | 'kind' | 'day' | 'id'>): string {
  const values: Record<string, string> = {
    camera: record.camera,
    kind: record.kind,
    day: record.day,
    year: record.day.slice(0, 4),
    month: record.day.slice(5, 7),
    id: record.id,
  };
  return template.replace(/\{([a-z]+)\}/g, (whole, name: string) => values[name] ?? whole);
}

/** `remote` + folder + file name, joined with single slashes (rclone's `name:` needs no slash after the colon). */
export function rcloneDestination(remote: string, folder: string, fileName: string): string {
  const parts = [folder, fileName].map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p.length > 0);
  const joiner = remote.endsWith(':') || remote.endsWith('/') ? '' : '/';
  return `${remote}${joiner}${parts.join('/')}`;
}

/** One file to copy: its absolute local path and its rclone destination. */
export interface UploadFile {
  readonly local: string;
  readonly destination: string;
}

/**
 * The files of a recording to upload: the clip (at `clipPath`), then the configured extra
 * files that the record has, each under the same folder with its own name. A file listed twice
 * (a photo's clip is its snapshot) is uploaded once.
 */
export function uploadPlan(config: Pick<ResolvedUploadConfig, 'remote' | 'pathTemplate' | 'files'>, record: EventRecord, clipPath: string, dataDir: string): UploadFile[] {
  const folder = renderPathTemplate(config.pathTemplate, record);
  const extra: Record<UploadExtraFile, string | null> = {
    snapshot: record.files.snapshot,
    thumbnail: record.files.thumbnail,
    heatmap: record.files.heatmap,
    sidecar: record.files.sidecar,
  };
  const locals = [path.resolve(clipPath), ...config.files.map((f) => extra[f]).filter((p): p is string => p !== null).map((p) => path.resolve(dataDir, p))];
  return [...new Set(locals)].map((local) => ({ local, destination: rcloneDestination(config.remote, folder, path.basename(local)) }));
}

/** The argv (after the program name) of `rclone copyto` for one file. */
export function rcloneCopyArgs(config: Pick<ResolvedUploadConfig, 'rcloneConfigPath' | 'extraArgs'>, file: UploadFile): string[] {
  return [
    'copyto',
    file.local,
    file.destination,
    // Preroll retries the whole recording with its own backoff; rclone's 3 inner retries would
    // multiply the attempts and hide the failure for minutes.
    '--retries',
    '1',
    '--low-level-retries',
    '3',
    ...(config.rcloneConfigPath === undefined ? [] : ['--config', config.rcloneConfigPath]),
    ...config.extraArgs,
  ];
}

const SECRET_KEY = /(pass|secret|key|token|auth|credential|sas|sig)/i;

/**
 * Hides secrets in an rclone argv before it is logged: values of `--*-pass`, `--*-secret`,
 * `--*-key`, `--*-token` options (as `--opt value` or `--opt=value`), `key=value` secrets inside
 * connection-string remotes (`:s3,secret_access_key=...:bucket`) and URL passwords.
 */
export function redactRcloneArgs(args: readonly string[]): string[] {
  return args.map((arg, i) => {
    const previous = i > 0 ? args[i - 1] : '';
    if (previous.startsWith('--') && !previous.includes('=') && SECRET_KEY.test(previous) && !arg.startsWith('--')) return '***';
    const option = /^(--[^=]+)=(.*)$/.exec(arg);
    if (option && SECRET_KEY.test(option[1])) return `${option[1]}=***`;
    return arg
      .replace(/([,:]\s*([A-Za-z0-9_]+)\s*=\s*)('[^']*'|"[^"]*"|[^,:]*)/g, (whole, lead: string, key: string) => (SECRET_KEY.test(key) ? `${lead}***` : whole))
      .replace(/([a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/gi, '$1:***@');
  });
}
