/**
 * Stand-ins for the alert services, on loopback: an HTTP server that records every request
 * (ntfy, the Telegram Bot API and a browser vendor's push service answer from it), a real SMTP
 * server (smtp-server) that keeps every mail, and an RFC 8291 decryptor for Web Push bodies.
 */

import { createECDH, createHmac, createDecipheriv, createPublicKey, verify as verifySignature, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One request a stand-in received. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  /** Wall time the request was complete (for latency figures). */
  readonly arrivedMs: number;
}

/** A recording HTTP server on 127.0.0.1; `reply` decides each answer (default 200 `{"ok":true}`). */
export interface StandIn {
  readonly url: string;
  readonly received: Received[];
  reply: (req: Received) => { status: number; body?: string };
  close(): Promise<void>;
}

/** Starts a stand-in HTTP server on a free loopback port. */
export async function startStandIn(): Promise<StandIn> {
  const received: Received[] = [];
  const standIn = {
    url: '',
    received,
    reply: (_req: Received) => ({ status: 200, body: '{"ok":true}' }) as { status: number; body?: string },
    close: async () => undefined,
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks), arrivedMs: Date.now() };
      received.push(entry);
      const answer = standIn.reply(entry);
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.close = () =>
    new Promise<undefined>((resolve) => {
      server.close(() => resolve(undefined));
      server.closeAllConnections();
    });
  return standIn;
}

/** A real SMTP server on loopback that accepts `user`/`pass` (or refuses them) and keeps the parsed mails. */
export interface SmtpStandIn {
  readonly port: number;
  readonly mails: { envelopeTo: string[]; mail: ParsedMail; arrivedMs: number }[];
  close(): Promise<void>;
}

/** Starts smtp-server on 127.0.0.1 without TLS, with AUTH PLAIN/LOGIN. */
export async function startSmtp(user: string, pass: string): Promise<SmtpStandIn> {
  const mails: SmtpStandIn['mails'] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: false,
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass) return callback(null, { user });
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          mails.push({ envelopeTo: session.envelope.rcptTo.map((r) => r.address), mail, arrivedMs: Date.now() });
          callback();
        })
        .catch(callback);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A browser's side of a push subscription: the keys it holds and the JSON it gives the page. */
export interface PushClient {
  readonly subscription: { endpoint: string; keys: { p256dh: string; auth: string } };
  /** Decrypts an aes128gcm body (RFC 8188 framing, RFC 8291 keys). */
  decrypt(body: Buffer): Buffer;
}

/** Makes a subscription for `endpoint` with fresh P-256 keys and auth secret. */
export function makePushClient(endpoint: string): PushClient {
  const ecdh = createECDH('prime256v1');
  const uaPublic = ecdh.generateKeys();
  const authSecret = randomBytes(16);
  const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest();
  return {
    subscription: { endpoint, keys: { p256dh: uaPublic.toString('base64url'), auth: authSecret.toString('base64url') } },
    decrypt(body) {
      const salt = body.subarray(0, 16);
      const rs = body.readUInt32BE(16);
      const idLen = body[20];
      const asPublic = body.subarray(21, 21 + idLen);
      const records = body.subarray(21 + idLen);
      if (records.length > rs) throw new Error('more than one record');
      const ecdhSecret = ecdh.computeSecret(asPublic);
      const prkKey = hmac(authSecret, ecdhSecret);
      const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
      const ikm = hmac(prkKey, Buffer.concat([keyInfo, Buffer.from([1])]));
      const prk = hmac(salt, ikm);
      const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0\x01', 'binary')).subarray(0, 16);
      const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0\x01', 'binary')).subarray(0, 12);
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(records.subarray(records.length - 16));
      const padded = Buffer.concat([decipher.update(records.subarray(0, records.length - 16)), decipher.final()]);
      // The last record ends with the delimiter 0x02 followed by zero padding.
      let end = padded.length - 1;
      while (end >= 0 && padded[end] === 0) end--;
      if (padded[end] !== 2) throw new Error('no last-record delimiter');
      return padded.subarray(0, end);
    },
  };
}

/** Checks a VAPID `Authorization: vapid t=<jwt>, k=<key>` header: returns the JWT claims when the ES256 signature verifies with `k`. */
export function verifyVapid(header: string): { claims: { aud: string; exp: number; sub: string }; publicKey: string } {
  const match = /^vapid t=([^,]+),\s*k=(.+)$/.exec(header);
  if (!match) throw new Error(`not a VAPID header: ${header.slice(0, 30)}`);
  const [, jwt, k] = match;
  const [h, p, s] = jwt.split('.');
  const raw = Buffer.from(k, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  const ok = verifySignature('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  if (!ok) throw new Error('VAPID signature does not verify');
  const header0 = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg: string };
  if (header0.alg !== 'ES256') throw new Error(`alg ${header0.alg}`);
  return { claims: JSON.parse(Buffer.from(p, 'base64url').toString()), publicKey: k };
}

/** Parses a multipart/form-data body with the platform's own parser. */
export async function parseForm(received: Received): Promise<FormData> {
  return new Response(new Uint8Array(received.body), { headers: { 'content-type': String(received.headers['content-type']) } }).formData();
}
