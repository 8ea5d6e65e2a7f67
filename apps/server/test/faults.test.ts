import { spawn, spawnSync } from 'node:child_process';
import { openSync, closeSync, writeSync, readdirSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import WebSocket from 'ws';
import { ffprobeJson } from '@preroll/process';
import { main } from '../src/cli';
import { memoryIo } from './io';
import { request, startTestServer, tempDataDir, waitFor } from './server-helpers';

const FAKE_BIN = resolve(__dirname, '../../../test-fixtures/bin');
const CLI = resolve(__dirname, '../dist/src/cli.js');

/** ffprobe facts of a clip: first frame a keyframe, duration, frames. */
async function probe(path: string): Promise<{ firstKey: boolean; durationS: number; frames: number }> {
  const doc = await ffprobeJson(path, ['-select_streams', 'v:0', '-show_entries', 'packet=flags:format=duration']);
  const packets = doc.packets as { flags: string }[];
  return { firstKey: packets[0]?.flags.startsWith('K') ?? false, durationS: Number(doc.format.duration), frames: packets.length };
}

/** ffmpeg processes that are children of this test process. */
function spawnedFfmpegs(): number {
  const out = spawnSync('pgrep', ['-P', String(process.pid), 'ffmpeg']).stdout.toString().trim();
  return out ? out.split('\n').length : 0;
}

describe('faults survived', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  test('the camera hangs mid-recording: the clip is closed and playable, the page sees the outage, the camera comes back', async () => {
    const runs = join(mkdtempSync(join(tmpdir(), 'preroll-fault-')), 'runs');
    Object.assign(process.env, { PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, FAKE_RPICAM_HANG_AFTER: '75', FAKE_RPICAM_FAULTY_RUNS: '1', FAKE_RPICAM_RUNS_FILE: runs });
    const server = await startTestServer({ camera: { source: 'rpicam:320x240@15', stallTimeoutMs: 1500 } });
    const states: string[] = [];
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'status' && states[states.length - 1] !== message.status.captureState) states.push(message.status.captureState);
    });
    try {
      await new Promise((r) => setTimeout(r, 2500));
      await request(`${server.url}/api/record/start`, 'POST');
      // Frames stop at 5 s; the watchdog notices 1.5 s later and restarts the camera.
      const clip = await waitFor(async () => (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items[0], 20_000, 'the interrupted clip');
      const facts = await probe(join(server.runtime.store().dataDir, server.runtime.store().get(clip.id)!.files.clip));
      expect(facts.firstKey).toBe(true);
      expect(facts.durationS).toBeGreaterThan(2);
      await waitFor(async () => states.includes('restarting') && states[states.length - 1] === 'running', 20_000, 'the camera to come back');
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      expect(status.captureError.code).toBe('CAPTURE_STALLED');
      expect(status.fps).toBeGreaterThan(0);
      await request(`${server.url}/api/record/stop`, 'POST');
    } finally {
      ws.close();
      await server.stop();
    }
  });

  test('the server is killed with SIGKILL mid-recording: the next start recovers and indexes the partial clip', async () => {
    const dataDir = tempDataDir();
    const env = { ...process.env, PATH: `${FAKE_BIN}${delimiter}${savedEnv.PATH}`, PREROLL_LOG_LEVEL: 'warn' };
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [CLI, 'serve', '--source', 'rpicam:320x240@15', '--port', String(port), '--host', '127.0.0.1', '--data', dataDir], { env, stdio: 'ignore' });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await request(`${url}/api/status`, 'GET').catch(() => null))?.body?.fps > 0, 20_000, 'the server');
      await new Promise((r) => setTimeout(r, 2000));
      await request(`${url}/api/record/start`, 'POST');
      await new Promise((r) => setTimeout(r, 3000));
      const parts = () => readdirSync(join(dataDir, 'events', readdirSync(join(dataDir, 'events'))[0])).filter((f) => f.endsWith('.part.mp4'));
      expect(parts()).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    process.env.PATH = `${FAKE_BIN}${delimiter}${savedEnv.PATH}`;
    const server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 }, camera: { source: 'rpicam:320x240@15' } });
    try {
      const [event] = (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items;
      expect(event).toBeDefined();
      const facts = await probe(join(dataDir, server.runtime.store().get(event.id)!.files.clip));
      expect(facts.firstKey).toBe(true);
      expect(facts.durationS).toBeGreaterThan(2);
      expect((await fetch(`${server.url}${event.urls.clip}`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  }, 90_000);

  test('a port already in use stops the start cleanly: an error, and no camera left running', async () => {
    const holder = (await import('node:net')).createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const port = (holder.address() as { port: number }).port;
    const before = spawnedFfmpegs();
    try {
      await expect(startTestServer({ server: { dataDir: tempDataDir(), host: '127.0.0.1', port } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await waitFor(async () => spawnedFfmpegs() <= before, 5000, 'the demo camera to be stopped');
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  test('a corrupted database is rebuilt from the sidecars at start, losing nothing', async () => {
    const dataDir = tempDataDir();
    const first = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 } });
    await waitFor(async () => (await request(`${first.url}/api/status`, 'GET')).body.fps > 0, 10_000, 'frames');
    const photo = (await request(`${first.url}/api/snapshot`, 'POST')).body;
    await request(`${first.url}/api/events/${photo.id}`, 'PATCH', { favorite: true });
    await first.stop();
    const fd = openSync(join(dataDir, 'index.db'), 'r+');
    writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
    closeSync(fd);
    const second = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 } });
    try {
      const event = (await request(`${second.url}/api/events/${photo.id}`, 'GET')).body;
      expect(event).toMatchObject({ id: photo.id, kind: 'photo', favorite: true });
      expect(readdirSync(dataDir).some((f) => f.startsWith('index.db.corrupt-'))).toBe(true);
    } finally {
      await second.stop();
    }
  });
});

describe('bad video files given to detect and record', () => {
  test('a truncated and a garbage file get a clear error code and exit 1; recordings already made stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-badvideo-'));
    const garbage = join(dir, 'garbage.mp4');
    writeFileSync(garbage, Buffer.from('not a video '.repeat(500)));
    const data = join(dir, 'data');
    for (const args of [['detect', garbage, '--json'], ['record', garbage, '--data', data, '--json']]) {
      const io = memoryIo();
      expect(await main(args, io)).toBe(1);
      expect(io.err()).toMatch(/^preroll (detect|record): CAPTURE_[A-Z_]+: /m);
    }
    const missing = memoryIo();
    expect(await main(['detect', join(dir, 'nope.mp4')], missing)).toBe(1);
    expect(missing.err()).toMatch(/CAPTURE_FILE_NOT_FOUND/);
  });
});
