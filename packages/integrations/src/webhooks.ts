/**
 * Webhook deliveries: one worker and one bounded queue per URL, so a dead endpoint delays only
 * its own deliveries and never grows memory; each POST is signed, timed out and retried with
 * exponential backoff a bounded number of times.
 */

import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';
import type { ResolvedWebhooksConfig } from './config';
import { parseRetryAfterS, sleepUnlessAborted, webhookRetryDelayMs, type WebhookOutcome } from './retry';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from './signature';
import type { EventSummary } from './summary';

/** Longest wait at stop for queued deliveries to go out. */
const STOP_DRAIN_MS = 2000;
/** Counters of one webhook URL. */
export interface WebhookEndpointStats {
  /** The URL with its path and query hidden (they often carry a token). */
  readonly url: string;
  readonly delivered: number;
  /** Deliveries given up (last attempt failed, or a status that is not retried). */
  readonly failed: number;
  /** Attempts that failed and were retried. */
  readonly retries: number;
  /** Deliveries dropped because the queue was full, or still waiting at stop(). */
  readonly dropped: number;
  /** Deliveries waiting or in progress. */
  readonly queued: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
}

/** Counters of all webhook URLs. */
export interface WebhookStats {
  readonly delivered: number;
  readonly failed: number;
  readonly retries: number;
  readonly dropped: number;
  readonly queued: number;
  readonly endpoints: readonly WebhookEndpointStats[];
}

/** Options of {@link createWebhookSender}. */
export interface WebhookSenderOptions {
  readonly config: ResolvedWebhooksConfig;
  readonly softwareVersion: string;
  readonly logger?: Logger;
}

/** Posts event summaries to the configured URLs. */
export interface WebhookSender {
  /** Queues one delivery per URL; returns at once. Ignored for kinds not in `eventKinds` and after stop(). */
  send(summary: EventSummary): void;
  /** Aborts the attempts in progress and the waits, drops what is queued; resolves when every worker has exited. */
  stop(): Promise<void>;
  stats(): WebhookStats;
}

interface Delivery {
  readonly id: string;
  /** The summary's `type`, sent as the event header. */
  readonly type: EventSummary['type'];
  readonly body: string;
  attempts: number;
}

interface Endpoint {
  readonly url: string;
  readonly shown: string;
  readonly waiting: Delivery[];
  active: Delivery | null;
  worker: Promise<void> | null;
  delivered: number;
  failed: number;
  retries: number;
  dropped: number;
  lastStatus: number | null;
  lastError: string | null;
}

type AttemptResult = { readonly kind: 'ok'; readonly status: number } | WebhookOutcome;

/** The response body is read only to free the socket; more than this is not kept. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Shows a webhook URL without what may be secret: `https://hooks.example.com/…`. */
export function redactWebhookUrl(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname.length > 1 || u.search ? '/…' : '/'}`;
}

/** Creates the sender; it holds no sockets or timers until something is sent. */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const { config, logger } = options;
  const endpoints: Endpoint[] = config.urls.map((url) => ({
    url,
    shown: redactWebhookUrl(url),
    waiting: [],
    active: null,
    worker: null,
    delivered: 0,
    failed: 0,
    retries: 0,
    dropped: 0,
    lastStatus: null,
    lastError: null,
  }));
  const stopController = new AbortController();

  const run = async (endpoint: Endpoint): Promise<void> => {
    while (!stopController.signal.aborted && endpoint.waiting.length > 0) {
      const delivery = endpoint.waiting.shift() as Delivery;
      endpoint.active = delivery;
      await deliver(endpoint, delivery);
      endpoint.active = null;
    }
    endpoint.worker = null;
  };

  const deliver = async (endpoint: Endpoint, delivery: Delivery): Promise<void> => {
    for (;;) {
      const outcome = await attempt(endpoint.url, delivery, options.softwareVersion, config.timeoutMs, config.secret, stopController.signal);
      delivery.attempts++;
      if (stopController.signal.aborted) {
        endpoint.dropped++;
        return;
      }
      if (outcome.kind === 'ok') {
        endpoint.delivered++;
        endpoint.lastStatus = outcome.status;
        logger?.debug({ url: endpoint.shown, delivery: delivery.id, attempts: delivery.attempts }, 'webhook: delivered');
        return;
      }
      if (outcome.kind === 'status') endpoint.lastStatus = outcome.status;
      endpoint.lastError = describe(outcome);
      const delayMs = webhookRetryDelayMs(delivery.attempts, outcome, config);
      const fields = { url: endpoint.shown, delivery: delivery.id, attempts: delivery.attempts, status: outcome.kind === 'status' ? outcome.status : undefined };
      if (delayMs === null) {
        endpoint.failed++;
        logger?.warn({ code: 'WEBHOOK_GAVE_UP', ...fields }, `webhook: gave up on ${endpoint.shown} after ${delivery.attempts} attempt(s): ${endpoint.lastError}`);
        return;
      }
      endpoint.retries++;
      logger?.info({ code: 'WEBHOOK_ATTEMPT_FAILED', delayMs, ...fields }, `webhook: ${endpoint.shown} ${endpoint.lastError}; retry in ${delayMs} ms`);
      await sleepUnlessAborted(delayMs, stopController.signal);
      if (stopController.signal.aborted) {
        endpoint.dropped++;
        return;
      }
    }
  };

  return {
    send(summary) {
      if (stopController.signal.aborted || !config.eventKinds.includes(summary.kind)) return;
      const body = JSON.stringify(summary);
      const id = randomUUID();
      for (const endpoint of endpoints) {
        endpoint.waiting.push({ id, type: summary.type, body, attempts: 0 });
        while (endpoint.waiting.length > config.queueMax) {
          const oldest = endpoint.waiting.shift() as Delivery;
          endpoint.dropped++;
          logger?.warn({ code: 'WEBHOOK_QUEUE_FULL', url: endpoint.shown, delivery: oldest.id }, `webhook: queue of ${endpoint.shown} full; dropped the oldest delivery`);
        }
        endpoint.worker ??= run(endpoint);
      }
    },
    async stop() {
      // What was queued before the stop (the last recordings, finished while the cameras
      // stopped) still goes out, for at most one attempt's timeout; then the rest is dropped.
      const drained = Promise.all(endpoints.map((e) => e.worker));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.min(config.timeoutMs, STOP_DRAIN_MS))));
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      stopController.abort();
      await Promise.all(endpoints.map((e) => e.worker));
      for (const endpoint of endpoints) {
        endpoint.dropped += endpoint.waiting.length;
        endpoint.waiting.length = 0;
      }
    },
    stats() {
      const list = endpoints.map((e) => ({
        url: e.shown,
        delivered: e.delivered,
        failed: e.failed,
        retries: e.retries,
        dropped: e.dropped,
        queued: e.waiting.length + (e.active ? 1 : 0),
        lastStatus: e.lastStatus,
        lastError: e.lastError,
      }));
      const sum = (key: 'delivered' | 'failed' | 'retries' | 'dropped' | 'queued'): number => list.reduce((n, e) => n + e[key], 0);
      return { delivered: sum('delivered'), failed: sum('failed'), retries: sum('retries'), dropped: sum('dropped'), queued: sum('queued'), endpoints: list };
    },
  };
}

function describe(outcome: WebhookOutcome): string {
  if (outcome.kind === 'status') return `HTTP ${outcome.status}`;
  if (outcome.kind === 'timeout') return 'timed out';
  return outcome.message;
}

/** One POST; resolves `ok` with the 2xx status, else how it failed. Never rejects. */
function attempt(url: string, delivery: Delivery, version: string, timeoutMs: number, secret: string, stop: AbortSignal): Promise<AttemptResult> {
  return new Promise((resolve) => {
    const timestampS = Math.floor(Date.now() / 1000);
    const body = Buffer.from(delivery.body);
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const onStop = (): void => controller.abort();
    stop.addEventListener('abort', onStop, { once: true });
    let settled = false;
    const finish = (result: AttemptResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stop.removeEventListener('abort', onStop);
      resolve(result);
    };
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    let req;
    try {
      req = request(url, {
        method: 'POST',
        // A fresh connection per attempt: nothing pooled stays open towards a dead endpoint.
        agent: false,
        signal: controller.signal,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          'user-agent': `Preroll-Webhook/${version}`,
          [EVENT_HEADER]: delivery.type,
          [DELIVERY_HEADER]: delivery.id,
          [TIMESTAMP_HEADER]: String(timestampS),
          [SIGNATURE_HEADER]: signWebhook(secret, timestampS, body),
        },
      });
    } catch (error) {
      finish({ kind: 'network', message: (error as Error).message });
      return;
    }
    req.on('response', (res: IncomingMessage) => {
      let received = 0;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > MAX_RESPONSE_BYTES) res.destroy();
      });
      const status = res.statusCode ?? 0;
      const done = (): void =>
        finish(status >= 200 && status < 300 ? { kind: 'ok', status } : { kind: 'status', status, retryAfterS: parseRetryAfterS(header(res, 'retry-after'), Date.now()) });
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
    });
    req.on('error', (error) => finish(timedOut ? { kind: 'timeout' } : { kind: 'network', message: error.message }));
    req.end(body);
  });
}

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
