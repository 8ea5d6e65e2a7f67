import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import WebSocket from 'ws';
import { startPreroll } from '../src/app';
import { parseConfig } from '../src/config';
import { request, startTestServer, tempDataDir } from './server-helpers';

const CLI = resolve(__dirname, '../dist/src/cli.js');

describe('access control', () => {
  test('preroll passwd sets the password; login, rate limit, session cookie, WebSocket and stream token', async () => {
    const dataDir = tempDataDir();
    execFileSync(process.execPath, [CLI, 'passwd', '--data', dataDir], { input: 'a long enough password\n' });
    const server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 } });
    try {
      expect((await request(`${server.url}/api/status`, 'GET')).body.code).toBe('AUTH_REQUIRED');
      expect((await fetch(`${server.url}/stream.mjpg`)).status).toBe(401);
      expect((await fetch(`${server.url}/`, { redirect: 'manual' })).headers.get('location')).toBe('/login.html');
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      const wsDenied = new WebSocket(`${server.url.replace('http', 'ws')}/ws`);
      const denied = await new Promise<string>((r) => {
        wsDenied.on('unexpected-response', (_req, res) => r(String(res.statusCode)));
        wsDenied.on('error', (e) => r(e.message));
      });
      expect(denied).toMatch(/401/);

      for (let i = 0; i < 5; i++) expect((await request(`${server.url}/api/login`, 'POST', { password: `guess ${i}` })).body.code).toBe('AUTH_BAD_PASSWORD');
      const limited = await request(`${server.url}/api/login`, 'POST', { password: 'a long enough password' });
      expect(limited.status).toBe(429);
      expect(limited.body.code).toBe('AUTH_RATE_LIMITED');
    } finally {
      await server.stop();
    }

    // A fresh process (rate limit cleared): the right password gives a session.
    const again = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 } });
    try {
      const login = await request(`${again.url}/api/login`, 'POST', { password: 'a long enough password' });
      expect(login.status).toBe(204);
      const cookie = login.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^preroll_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
      const session = cookie.split(';')[0];
      expect((await request(`${again.url}/api/status`, 'GET', undefined, { Cookie: session })).status).toBe(200);
      expect((await request(`${again.url}/api/status`, 'GET', undefined, { Cookie: `${session}x` })).status).toBe(401);
      const ws = new WebSocket(`${again.url.replace('http', 'ws')}/ws`, { headers: { Cookie: session, Origin: again.url } });
      await new Promise((r, j) => {
        ws.once('message', r);
        ws.once('error', j);
      });
      ws.close();
      const { token } = (await request(`${again.url}/api/stream-token`, 'GET', undefined, { Cookie: session })).body;
      const controller = new AbortController();
      const stream = await fetch(`${again.url}/stream.mjpg?token=${token}`, { signal: controller.signal });
      expect(stream.status).toBe(200);
      controller.abort();
      expect((await fetch(`${again.url}/stream.mjpg?token=${token}x`)).status).toBe(401);
    } finally {
      await again.stop();
    }
  });

  test('API tokens: made with the CLI, accepted as a Bearer header (also while running), revoked', async () => {
    const dataDir = tempDataDir();
    execFileSync(process.execPath, [CLI, 'passwd', '--data', dataDir], { input: 'a long enough password\n' });
    const server = await startTestServer({ server: { dataDir, host: '127.0.0.1', port: 0 } });
    try {
      const token = execFileSync(process.execPath, [CLI, 'token', 'create', 'home assistant', '--data', dataDir]).toString().trim();
      expect(token).toMatch(/^prt_/);
      const auth = { Authorization: `Bearer ${token}` };
      // The server re-reads auth.json at most every 2 s.
      await new Promise((r) => setTimeout(r, 2100));
      expect((await request(`${server.url}/api/status`, 'GET', undefined, auth)).status).toBe(200);
      expect((await request(`${server.url}/api/trigger-level`, 'PUT', { value: 9 }, auth)).body).toEqual({ triggerLevel: 9 });
      expect((await request(`${server.url}/api/status`, 'GET', undefined, { Authorization: `Bearer ${token.slice(0, -2)}xx` })).status).toBe(401);
      const [listed] = JSON.parse(`[${execFileSync(process.execPath, [CLI, 'token', 'list', '--json', '--data', dataDir]).toString().trim().split('\n').join(',')}]`);
      expect(listed).toMatchObject({ name: 'home assistant' });
      expect(JSON.stringify(listed)).not.toContain(token);
      execFileSync(process.execPath, [CLI, 'token', 'revoke', listed.id, '--data', dataDir]);
      await new Promise((r) => setTimeout(r, 2100));
      expect((await request(`${server.url}/api/status`, 'GET', undefined, auth)).status).toBe(401);
    } finally {
      await server.stop();
    }
  });

  test('listening beyond localhost without a password generates one, in a 0600 file and never in the log', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, callback) {
          lines.push(chunk.toString());
          callback();
        },
      }),
    );
    const dataDir = tempDataDir();
    const config = parseConfig({ server: { host: '0.0.0.0', port: 0, dataDir }, camera: { source: 'demo' } });
    const server = await startPreroll({ config, logger, password: null, onExit: () => undefined });
    try {
      const file = join(dataDir, 'initial-password');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, 'utf8').trim();
      expect(password.length).toBeGreaterThanOrEqual(16);
      expect(lines.some((l) => l.includes('generated one') && l.includes(file))).toBe(true);
      expect(lines.some((l) => l.includes(password))).toBe(false);
      const url = `http://127.0.0.1:${server.port}`;
      expect((await request(`${url}/api/status`, 'GET')).status).toBe(401);
      expect((await request(`${url}/api/login`, 'POST', { password })).status).toBe(204);
    } finally {
      await server.stop();
    }
    // The second start keeps the stored password and prints nothing new.
    lines.length = 0;
    const second = await startPreroll({ config, logger, password: null, onExit: () => undefined });
    await second.stop();
    expect(lines.some((l) => l.includes('generated one'))).toBe(false);
  });
});
