import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Classifier } from '@preroll/classify';
import { waitFor as sharedWaitFor } from '@preroll/testkit';
import { startPreroll, type Preroll } from '../src/app';
import { parseConfig, type ConfigInput } from '../src/config';

/** A fresh data directory. */
export function tempDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'preroll-server-'));
}

/** Starts a real Preroll (camera → recorder → store → web) on 127.0.0.1 and a free port. */
export async function startTestServer(input: ConfigInput & { password?: string | null; classifier?: Classifier } = {}): Promise<Preroll & { url: string }> {
  const { password = null, classifier, ...rest } = input;
  const config = parseConfig({
    ...rest,
    server: { host: '127.0.0.1', port: 0, dataDir: tempDataDir(), ...rest.server },
    camera: { source: 'demo', ...rest.camera },
    // Labelling loads a 170 MB model and spends about a second per event: only the tests of
    // labels turn it on.
    labels: { enabled: false, ...rest.labels },
  });
  const logger = pino({ level: process.env.PREROLL_TEST_LOG ?? 'silent' });
  const preroll = await startPreroll({ config, logger, password, onExit: () => undefined, classifier });
  return Object.assign(preroll, { url: `http://127.0.0.1:${preroll.port}` });
}

/** JSON request helper with the same-origin header a browser would send. */
export async function request(url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const origin = new URL(url).origin;
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), Origin: origin, ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (error) {
    void error;
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Polls `check` every 250 ms until it returns a truthy value (bounded; the shared `waitFor` of @preroll/testkit). */
export function waitFor<T>(check: () => Promise<T | null | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  return sharedWaitFor(check, { timeoutMs, what, intervalMs: 250 }) as Promise<T>;
}
