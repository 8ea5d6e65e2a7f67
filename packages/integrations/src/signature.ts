/**
 * Webhook signatures. The signed text is `<timestamp>.<body>`: binding the timestamp to the
 * body means a receiver that rejects old timestamps also rejects replays of a captured request.
 */

import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header carrying `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const SIGNATURE_HEADER = 'x-preroll-signature';
/** Header carrying the Unix time of the attempt in whole seconds (part of the signed text). */
export const TIMESTAMP_HEADER = 'x-preroll-timestamp';
/** Header carrying the delivery id, the same on every retry of one delivery (for de-duplication). */
export const DELIVERY_HEADER = 'x-preroll-delivery';
/** Header naming the event type (`recording.finished`). */
export const EVENT_HEADER = 'x-preroll-event';

/** The `X-Preroll-Signature` value of `body` sent at `timestampS` (pure). */
export function signWebhook(secret: string, timestampS: number, body: string | Buffer): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestampS}.`);
  hmac.update(body);
  return `sha256=${hmac.digest('hex')}`;
}

/** Input of {@link verifyWebhookSignature}: the raw body bytes and the two headers as received. */
export interface VerifyInput {
  readonly secret: string;
  readonly body: string | Buffer;
  readonly signature: string | undefined;
  readonly timestamp: string | undefined;
  /** Current Unix time, seconds. */
  readonly nowS: number;
  /** Accepted clock difference, seconds. Default 300. */
  readonly toleranceS?: number;
}

/**
 * Verifies a received webhook the way a receiver should: timestamp present and within the
 * tolerance, signature equal in constant time. For Node receivers (and the tests); docs/
 * integrations.md shows the same in Python.
 */
export function verifyWebhookSignature(input: VerifyInput): boolean {
  if (input.signature === undefined || input.timestamp === undefined || !/^\d{1,12}$/.test(input.timestamp)) return false;
  const timestampS = Number(input.timestamp);
  if (Math.abs(input.nowS - timestampS) > (input.toleranceS ?? 300)) return false;
  const expected = Buffer.from(signWebhook(input.secret, timestampS, input.body));
  const received = Buffer.from(input.signature);
  return expected.length === received.length && timingSafeEqual(expected, received);
}
