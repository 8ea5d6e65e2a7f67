/**
 * Test helpers: a real mosquitto broker on a free loopback port, a TCP proxy whose connections
 * can be cut (to make the broker see an abrupt disconnect), an MQTT subscriber that records
 * what it receives, a pino logger captured in memory, and bounded waits.
 */

import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { connect, type MqttClient } from 'mqtt';
import pino, { type Logger } from 'pino';
import { spawnChild, type ChildHandle, describeExit, runTool } from '@preroll/process';
import type { EventRecord } from '@preroll/store';
import { freePort, waitFor as sharedWaitFor } from '@preroll/testkit';

/** Polls `predicate` every 20 ms until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  await sharedWaitFor(predicate, { timeoutMs, what, intervalMs: 20 });
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A loopback port that was free a moment ago (the broker binds it right after). */
export { freePort };

/** A TLS listener: the broker's certificate and key, and (to require client certificates) the CA file that must have signed them. */
export interface BrokerTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
}

/**
 * A self-signed certificate (its own CA) for `127.0.0.1`, made with openssl: returns the PEM
 * file paths.
 */
export async function makeCertificate(dir: string, name: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  await runCommand('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile]);
  return { certFile, keyFile };
}

/** A running mosquitto. */
export interface Broker {
  readonly port: number;
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Starts mosquitto with a generated config on 127.0.0.1 and waits until it accepts TCP
 * connections. With `users`, anonymous access is off and a password file is made with
 * `mosquitto_passwd -b`.
 */
export async function startBroker(options: { users?: Record<string, string>; tls?: BrokerTls } = {}): Promise<Broker> {
  const dir = await tempDir('preroll-mosquitto-');
  const port = await freePort();
  const lines = [`listener ${port} 127.0.0.1`, 'persistence false', 'log_dest stderr', 'log_type error', 'log_type warning'];
  // Run as root, mosquitto would switch to the `mosquitto` user and could not read our files.
  if (os.userInfo().uid === 0) lines.push('user root');
  if (options.users) {
    const passwordFile = path.join(dir, 'passwd');
    await fsp.writeFile(passwordFile, '');
    for (const [user, password] of Object.entries(options.users)) {
      await runCommand('mosquitto_passwd', ['-b', passwordFile, user, password]);
    }
    await fsp.chmod(passwordFile, 0o600);
    lines.push('allow_anonymous false', `password_file ${passwordFile}`);
  } else {
    lines.push('allow_anonymous true');
  }
  if (options.tls) {
    lines.push(`certfile ${options.tls.certFile}`, `keyfile ${options.tls.keyFile}`);
    if (options.tls.clientCaFile) lines.push(`cafile ${options.tls.clientCaFile}`, 'require_certificate true');
  }
  const configFile = path.join(dir, 'mosquitto.conf');
  await fsp.writeFile(configFile, `${lines.join('\n')}\n`);
  const child = spawnChild({ name: 'mosquitto', command: 'mosquitto', args: ['-c', configFile], stdio: ['ignore', 'ignore', 'pipe'] });
  const deadline = Date.now() + 5000;
  while (!(await canConnect(port))) {
    if (child.hasExited()) throw new Error(`mosquitto exited: ${describeExit(await child.exited)}`);
    if (Date.now() > deadline) {
      await child.stop({ graceMs: 0 });
      throw new Error('mosquitto did not listen within 5 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 30));
  }
  return {
    port,
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    async stop() {
      await child.stop({ graceMs: 0, termMs: 2000 });
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

async function runCommand(command: string, args: string[]): Promise<void> {
  const child: ChildHandle = spawnChild({ name: command, command, args, stdio: ['ignore', 'ignore', 'pipe'] });
  const info = await child.exited;
  if (info.code !== 0) throw new Error(`${command} failed: ${describeExit(info)}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A TCP proxy to `targetPort`; `cut()` destroys every open connection pair without a goodbye. */
export interface Proxy {
  readonly port: number;
  readonly url: string;
  cut(): void;
  close(): Promise<void>;
}

/** Starts a loopback proxy to `targetPort` on a port of its own. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut() {
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One message as the subscriber saw it. */
export interface Received {
  readonly topic: string;
  readonly payload: Buffer;
  readonly retain: boolean;
  readonly text: string;
}

/** An MQTT client of the test that records every message on its subscriptions. */
export interface Subscriber {
  readonly client: MqttClient;
  readonly messages: Received[];
  /** Messages on exactly `topic`. */
  on(topic: string): Received[];
  /** The last message on `topic`, or undefined. */
  last(topic: string): Received | undefined;
  publish(topic: string, payload: string | Buffer, options?: { retain?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** Connects a recording subscriber to `url` and subscribes to `filters` (in that order, one SUBSCRIBE). */
export async function subscribe(url: string, filters: string[], auth: { username?: string; password?: string } = {}): Promise<Subscriber> {
  const client = connect(url, { reconnectPeriod: 0, clientId: `test-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, ...auth });
  const messages: Received[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain, text: payload.toString('utf8') }));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(filters, { qos: 1 });
  return {
    client,
    messages,
    on: (topic) => messages.filter((m) => m.topic === topic),
    last: (topic) => messages.filter((m) => m.topic === topic).at(-1),
    async publish(topic, payload, options = {}) {
      await client.publishAsync(topic, payload, { qos: 1, retain: options.retain ?? false });
    },
    async close() {
      await client.endAsync(true);
    },
  };
}

/** A pino logger whose lines are parsed into `lines` (to assert error codes). */
export function captureLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; codes(): string[] } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  return { logger, lines, codes: () => lines.map((l) => l.code).filter((c): c is string => typeof c === 'string') };
}

/** A real JPEG made by ffmpeg (a test pattern), `width`x`height`. */
export async function makeJpeg(file: string, width = 64, height = 48): Promise<Buffer> {
  await runTool('ffmpeg', ['-y', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=1`, '-frames:v', '1', file]);
  return fsp.readFile(file);
}

/** The control callbacks with a log of the calls (what a command did). */
export function recordingControl(): {
  control: { setTriggerLevel(v: number): number; setMotionEnabled(on: boolean): boolean; startManualRecording(): boolean; stopManualRecording(): void };
  calls: Array<[string, unknown]>;
} {
  const calls: Array<[string, unknown]> = [];
  return {
    calls,
    control: {
      setTriggerLevel(v) {
        calls.push(['setTriggerLevel', v]);
        return Math.min(v, 50);
      },
      setMotionEnabled(on) {
        calls.push(['setMotionEnabled', on]);
        return on;
      },
      startManualRecording() {
        calls.push(['startManualRecording', null]);
        return true;
      },
      stopManualRecording() {
        calls.push(['stopManualRecording', null]);
      },
    },
  };
}

/** An index record as the store would return it (for tests that need no store). */
export function makeRecord(overrides: Partial<EventRecord> = {}): EventRecord {
  const id = overrides.id ?? '2024-05-01_12-00-00-000_motion';
  return {
    id,
    camera: 'cam',
    kind: 'motion',
    day: '2024-05-01',
    startedAt: '2024-05-01T10:00:00.000Z',
    endedAt: '2024-05-01T10:00:08.000Z',
    triggeredAt: '2024-05-01T10:00:05.000Z',
    preRollMs: 5000,
    durationS: 8,
    frames: 120,
    width: 640,
    height: 360,
    triggerLevel: 6,
    peakScore: 42.5,
    favorite: false,
    cues: ['video'],
    reviewed: false,
    uploadState: 'none',
    offloaded: null,
    files: { clip: `events/2024-05-01/${id}.mp4`, snapshot: `events/2024-05-01/${id}.jpg`, thumbnail: null, heatmap: null, sidecar: `events/2024-05-01/${id}.json` },
    clipBytes: 1000,
    totalBytes: 1200,
    labels: null,
    ...overrides,
  };
}
