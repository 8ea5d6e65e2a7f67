/**
 * Webhooks against real HTTP servers on 127.0.0.1: signature checked by the receiver (with
 * plain node:crypto, independently of the sender's code), retries with backoff after 500s,
 * a dead URL that gives up after the bounded attempts without holding up a live one, timeouts,
 * statuses that are not retried, and the bounded queue.
 */

import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createIntegrations, verifyWebhookSignature, type Integrations, type IntegrationsConfig } from '../src';
import { captureLogger, freePort, makeRecord, recordingControl, waitFor } from './helpers';

const SECRET = 'test-secret-0123456789';

interface Hit {
  readonly body: Buffer;
  readonly headers: IncomingMessage['headers'];
  readonly atMs: number;
}

interface Receiver {
  readonly url: string;
  readonly hits: Hit[];
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await (cleanups.pop() as () => Promise<unknown>)();
});

/** A real HTTP receiver; `respond` picks the status of hit number n (0-based), or null to never answer. */
async function receiver(respond: (n: number) => number | null): Promise<Receiver> {
  const hits: Hit[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = hits.length;
      hits.push({ body: Buffer.concat(chunks), headers: req.headers, atMs: Date.now() });
      const status = respond(n);
      if (status === null) {
        hanging.add(res);
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const r = {
    url: `http://127.0.0.1:${port}/hooks/preroll?token=abc`,
    hits,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => r.close());
  return r;
}

function start(webhooks: IntegrationsConfig['webhooks']): { it: Integrations; codes: () => string[] } {
  const log = captureLogger();
  const it = createIntegrations({ config: { webhooks }, dataDir: '/tmp', cameraId: 'cam', control: recordingControl().control, logger: log.logger, softwareVersion: '9.9.9' });
  cleanups.push(() => it.stop());
  return { it, codes: log.codes };
}

/** The receiver's check, written with node:crypto directly (not the package's verify function). */
function signatureValid(hit: Hit): boolean {
  const timestamp = String(hit.headers['x-preroll-timestamp']);
  const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.`).update(hit.body).digest('hex')}`;
  return hit.headers['x-preroll-signature'] === expected && Math.abs(Date.now() / 1000 - Number(timestamp)) < 300;
}

describe('webhooks against real HTTP servers', () => {
  test('a signed summary is retried after 500s until the receiver accepts it', async () => {
    const r = await receiver((n) => (n < 2 ? 500 : 204));
    const { it, codes } = start({ urls: [r.url], secret: SECRET, retryInitialMs: 50, retryMaxMs: 200 });
    await it.start();
    const record = makeRecord({ peakScore: 12.5 });
    it.recordingFinished({ record, snapshotPath: null, clipPath: '/clip.mp4' });
    await waitFor(() => it.stats().webhooks!.delivered === 1, 'delivered');

    expect(r.hits).toHaveLength(3);
    for (const hit of r.hits) {
      expect(signatureValid(hit)).toBe(true);
      expect(verifyWebhookSignature({ secret: SECRET, body: hit.body, signature: hit.headers['x-preroll-signature'] as string, timestamp: hit.headers['x-preroll-timestamp'] as string, nowS: Date.now() / 1000 })).toBe(true);
      expect(hit.headers['content-type']).toBe('application/json');
      expect(hit.headers['x-preroll-event']).toBe('recording.finished');
      expect(hit.headers['user-agent']).toBe('Preroll-Webhook/9.9.9');
    }
    // One delivery id across the retries, so a receiver can drop duplicates.
    expect(new Set(r.hits.map((h) => h.headers['x-preroll-delivery'])).size).toBe(1);
    const body = JSON.parse(r.hits[2].body.toString('utf8'));
    expect(body).toMatchObject({ type: 'recording.finished', version: 1, id: record.id, kind: 'motion', camera: 'cam', peakScore: 12.5 });
    // Exponential backoff: the second wait is at least the doubled first one (50 then 100 ms).
    expect(r.hits[1].atMs - r.hits[0].atMs).toBeGreaterThanOrEqual(45);
    expect(r.hits[2].atMs - r.hits[1].atMs).toBeGreaterThanOrEqual(95);
    expect(it.stats().webhooks).toMatchObject({ delivered: 1, failed: 0, retries: 2, dropped: 0, queued: 0 });
    expect(it.stats().webhooks!.endpoints[0].lastStatus).toBe(204);
    expect(codes().filter((c) => c === 'WEBHOOK_ATTEMPT_FAILED')).toHaveLength(2);
    // The stats never show the URL's path or token.
    expect(JSON.stringify(it.stats())).not.toContain('token=abc');
  });

  test('a tampered body, another secret or an old timestamp does not verify', async () => {
    const r = await receiver(() => 200);
    const { it } = start({ urls: [r.url], secret: SECRET });
    await it.start();
    it.recordingFinished({ record: makeRecord(), snapshotPath: null, clipPath: '/clip.mp4' });
    await waitFor(() => r.hits.length === 1, 'one hit');
    const hit = r.hits[0];
    const base = { secret: SECRET, body: hit.body, signature: hit.headers['x-preroll-signature'] as string, timestamp: hit.headers['x-preroll-timestamp'] as string, nowS: Date.now() / 1000 };
    expect(verifyWebhookSignature(base)).toBe(true);
    expect(verifyWebhookSignature({ ...base, body: Buffer.from(hit.body.toString().replace('"motion"', '"manual"')) })).toBe(false);
    expect(verifyWebhookSignature({ ...base, secret: 'another-secret-0123456' })).toBe(false);
    // A captured request replayed ten minutes later is refused.
    expect(verifyWebhookSignature({ ...base, nowS: base.nowS + 600 })).toBe(false);
    // The timestamp is part of the signed text: changing it breaks the signature.
    expect(verifyWebhookSignature({ ...base, timestamp: String(Number(base.timestamp) + 1) })).toBe(false);
    expect(verifyWebhookSignature({ ...base, signature: undefined })).toBe(false);
  });

  test('a dead URL gives up after the bounded attempts and never holds up a live one', async () => {
    const live = await receiver(() => 200);
    const dead = `http://127.0.0.1:${await freePort()}/hook`;
    const { it, codes } = start({ urls: [dead, live.url], secret: SECRET, maxAttempts: 3, retryInitialMs: 100, retryMaxMs: 100 });
    await it.start();
    it.recordingFinished({ record: makeRecord(), snapshotPath: null, clipPath: '/clip.mp4' });
    // The call returned before any attempt ended: both deliveries are still in their queues.
    expect(it.stats().webhooks!.endpoints.map((e) => [e.queued, e.failed, e.delivered])).toEqual([
      [1, 0, 0],
      [1, 0, 0],
    ]);
    await waitFor(() => live.hits.length === 1, 'live endpoint served');
    // The live endpoint did not wait for the dead one's retries (two waits of 100 ms).
    expect(it.stats().webhooks!.endpoints[0].failed).toBe(0);
    await waitFor(() => it.stats().webhooks!.failed === 1, 'dead endpoint given up');
    const [deadStats, liveStats] = it.stats().webhooks!.endpoints;
    expect(deadStats).toMatchObject({ url: 'http://127.0.0.1:' + new URL(dead).port + '/…', failed: 1, retries: 2, delivered: 0, queued: 0 });
    expect(deadStats.lastError).toMatch(/ECONNREFUSED/);
    expect(liveStats).toMatchObject({ delivered: 1, failed: 0 });
    expect(codes()).toContain('WEBHOOK_GAVE_UP');
  });

  test('a receiver that never answers times out; a 4xx is not retried', async () => {
    const silent = await receiver(() => null);
    const rejecting = await receiver(() => 401);
    const { it } = start({ urls: [silent.url, rejecting.url], secret: SECRET, timeoutMs: 200, maxAttempts: 2, retryInitialMs: 50 });
    await it.start();
    it.recordingFinished({ record: makeRecord(), snapshotPath: null, clipPath: '/clip.mp4' });
    await waitFor(() => it.stats().webhooks!.failed === 2, 'both given up');
    const [timedOut, rejected] = it.stats().webhooks!.endpoints;
    expect(silent.hits).toHaveLength(2);
    expect(timedOut).toMatchObject({ failed: 1, retries: 1, lastError: 'timed out' });
    expect(rejecting.hits).toHaveLength(1);
    expect(rejected).toMatchObject({ failed: 1, retries: 0, lastStatus: 401, lastError: 'HTTP 401' });
  });

  test('segments are not posted by default; the queue of a stuck endpoint is bounded; stop() is prompt', async () => {
    const silent = await receiver(() => null);
    const { it, codes } = start({ urls: [silent.url], secret: SECRET, timeoutMs: 60_000, queueMax: 3 });
    await it.start();
    it.recordingFinished({ record: makeRecord({ kind: 'segment' }), snapshotPath: null, clipPath: '/clip.mp4' });
    for (let i = 0; i < 10; i++) it.recordingFinished({ record: makeRecord({ id: `2024-05-01_12-00-0${i}-000_motion` }), snapshotPath: null, clipPath: '/clip.mp4' });
    await waitFor(() => silent.hits.length === 1, 'first attempt hanging');
    // One delivery in flight, three waiting, six dropped.
    expect(it.stats().webhooks).toMatchObject({ queued: 4, dropped: 6, delivered: 0 });
    expect(JSON.parse(silent.hits[0].body.toString()).kind).toBe('motion');
    expect(codes().filter((c) => c === 'WEBHOOK_QUEUE_FULL')).toHaveLength(6);
    const t0 = Date.now();
    await it.stop();
    // Queued deliveries get at most 2 s to go out, then the stuck one is abandoned: the stop
    // ends long before the delivery's own 60 s timeout would have ended it.
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(it.stats().webhooks).toMatchObject({ queued: 0, dropped: 10 });
  });
});
