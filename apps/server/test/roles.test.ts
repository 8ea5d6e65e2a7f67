import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createApiToken } from '../src/http/auth';
import { request, startTestServer } from './server-helpers';

const CLI = resolve(__dirname, '../dist/src/cli.js');
const ADMIN_PASSWORD = 'the admin password';
const VIEWER_PASSWORD = 'the viewer password';

/** Routes written as templates in the sources, and the paths they stand for. */
const DYNAMIC: Record<string, string[]> = {
  '`/${action}`': ['/reboot', '/exit'],
  '`/events/:id/${name}`': ['/events/:id/clip', '/events/:id/snapshot', '/events/:id/thumbnail'],
};

/** Every route the server defines, read from its sources: a new route fails this test until it is in the table. */
function definedRoutes(): string[] {
  const dir = resolve(__dirname, '../src/http');
  const routes = new Set<string>();
  for (const name of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const match of text.matchAll(/\b(?:api|router|app)\.(get|post|put|patch|delete)\(\s*(\[[^\]]*\]|'[^']*'|`[^`]*`)/g)) {
      const written = match[2];
      const paths = written.startsWith('[') ? [...written.matchAll(/'([^']*)'/g)].map((m) => m[1]) : (DYNAMIC[written] ?? [written.slice(1, -1)]);
      for (const path of paths) routes.add(`${match[1].toUpperCase()} ${path}`);
    }
    // Routes registered in a loop over a list of paths.
    for (const match of text.matchAll(/for \(const route of \[([^\]]*)\]\)\s*\{\s*api\.(get|post|put|patch|delete)\(route/g)) {
      for (const path of [...match[1].matchAll(/'([^']*)'/g)].map((m) => m[1])) routes.add(`${match[2].toUpperCase()} ${path}`);
    }
  }
  return [...routes].sort();
}

/**
 * What a viewer may do on each route (`allow` or `deny`), as the route is written in the source,
 * with the concrete path it is called on. Routes of a camera's router are under `/api`.
 */
const TABLE: Record<string, { viewer: 'allow' | 'deny'; path: string; body?: unknown }> = {
  'GET /healthz': { viewer: 'allow', path: '/healthz' },
  'GET /api/cameras': { viewer: 'allow', path: '/api/cameras' },
  'GET /cameras/:camera/stream.mjpg': { viewer: 'allow', path: '/cameras/cam/stream.mjpg' },
  'GET /stream.mjpg': { viewer: 'allow', path: '/stream.mjpg' },
  'GET /cameras/:camera/stream.mp4': { viewer: 'allow', path: '/cameras/cam/stream.mp4' },
  'GET /stream.mp4': { viewer: 'allow', path: '/stream.mp4' },
  'GET /metrics': { viewer: 'allow', path: '/metrics' },
  'GET /assets/:hash/*path': { viewer: 'allow', path: '/assets/0/style.css' },
  'GET /login.html': { viewer: 'allow', path: '/login.html' },
  'GET /sw.js': { viewer: 'allow', path: '/sw.js' },
  'GET /manifest.webmanifest': { viewer: 'allow', path: '/manifest.webmanifest' },
  'GET /favicon.svg': { viewer: 'allow', path: '/favicon.svg' },
  'GET /': { viewer: 'allow', path: '/' },
  'GET /index.html': { viewer: 'allow', path: '/index.html' },
  'POST /login': { viewer: 'allow', path: '/api/login', body: {} },
  'POST /logout': { viewer: 'allow', path: '/api/logout' },
  'POST /logout-all': { viewer: 'deny', path: '/api/logout-all' },
  'GET /status': { viewer: 'allow', path: '/api/status' },
  'GET /stream-token': { viewer: 'allow', path: '/api/stream-token' },
  'PUT /trigger-level': { viewer: 'deny', path: '/api/trigger-level', body: { step: 1 } },
  'POST /motion': { viewer: 'deny', path: '/api/motion', body: { enabled: false } },
  'POST /record/start': { viewer: 'deny', path: '/api/record/start' },
  'POST /record/stop': { viewer: 'deny', path: '/api/record/stop' },
  'POST /continuous': { viewer: 'deny', path: '/api/continuous', body: { enabled: true } },
  'POST /memories': { viewer: 'deny', path: '/api/memories', body: { minutes: 1 } },
  'POST /photo': { viewer: 'deny', path: '/api/photo' },
  'POST /snapshot': { viewer: 'deny', path: '/api/snapshot' },
  'POST /reboot': { viewer: 'deny', path: '/api/reboot', body: {} },
  'POST /exit': { viewer: 'deny', path: '/api/exit', body: {} },
  'GET /timeline': { viewer: 'allow', path: '/api/timeline?day=2026-01-01' },
  'POST /calibrate': { viewer: 'deny', path: '/api/calibrate', body: {} },
  'POST /delete-all': { viewer: 'deny', path: '/api/delete-all' },
  'POST /delete-all/confirm': { viewer: 'deny', path: '/api/delete-all/confirm', body: {} },
  'POST /delete-all/cancel': { viewer: 'deny', path: '/api/delete-all/cancel' },
  'GET /events': { viewer: 'allow', path: '/api/events' },
  'GET /days': { viewer: 'allow', path: '/api/days' },
  'GET /labels': { viewer: 'allow', path: '/api/labels' },
  'GET /events/:id': { viewer: 'allow', path: '/api/events/none' },
  'GET /events/:id/clip': { viewer: 'allow', path: '/api/events/none/clip' },
  'GET /events/:id/snapshot': { viewer: 'allow', path: '/api/events/none/snapshot' },
  'GET /events/:id/thumbnail': { viewer: 'allow', path: '/api/events/none/thumbnail' },
  'PATCH /events/:id': { viewer: 'allow', path: '/api/events/none', body: { favorite: true } },
  'POST /events/:id/upload': { viewer: 'deny', path: '/api/events/none/upload' },
  'DELETE /events/:id': { viewer: 'deny', path: '/api/events/none' },
  'GET /alerts': { viewer: 'allow', path: '/api/alerts' },
  'PUT /arming': { viewer: 'deny', path: '/api/arming', body: { mode: 'away' } },
  'GET /push/key': { viewer: 'allow', path: '/api/push/key' },
  'POST /push/subscriptions': { viewer: 'allow', path: '/api/push/subscriptions', body: {} },
  'DELETE /push/subscriptions': { viewer: 'allow', path: '/api/push/subscriptions', body: {} },
  'POST /alerts/test': { viewer: 'deny', path: '/api/alerts/test', body: {} },
  'GET /alerts/open': { viewer: 'allow', path: '/api/alerts/open?t=x' },
  'GET /alerts/snapshot/:id': { viewer: 'allow', path: '/alerts/snapshot/none' },
  'GET /review': { viewer: 'allow', path: '/api/review' },
  'POST /events/reviewed': { viewer: 'allow', path: '/api/events/reviewed' },
  'PUT /events/:id/reviewed': { viewer: 'allow', path: '/api/events/none/reviewed', body: { reviewed: true } },
  'GET /scores': { viewer: 'allow', path: '/api/scores' },
  'GET /me': { viewer: 'allow', path: '/api/me' },
  'GET /config': { viewer: 'deny', path: '/api/config' },
  'GET /config/schema': { viewer: 'deny', path: '/api/config/schema' },
  'PATCH /config': { viewer: 'deny', path: '/api/config', body: { detector: { gapS: 1 } } },
  'GET /config/backup': { viewer: 'deny', path: '/api/config/backup' },
  'POST /config/backup': { viewer: 'deny', path: '/api/config/backup', body: { includeSecrets: true, confirm: 'include secrets' } },
  'POST /config/restore': { viewer: 'deny', path: '/api/config/restore', body: {} },
  'POST /sensors/:name': { viewer: 'deny', path: '/api/sensors/none' },
  'POST /exports': { viewer: 'deny', path: '/api/exports', body: {} },
  'GET /exports/:id': { viewer: 'allow', path: '/api/exports/none' },
  'GET /mask': { viewer: 'allow', path: '/api/mask' },
  'POST /mask/preview': { viewer: 'deny', path: '/api/mask/preview', body: { polygons: [] } },
  'DELETE /mask/preview': { viewer: 'deny', path: '/api/mask/preview' },
  'PUT /mask': { viewer: 'deny', path: '/api/mask', body: { polygons: [] } },
  'GET /camera/controls': { viewer: 'allow', path: '/api/camera/controls' },
  'POST /camera/controls/preview': { viewer: 'deny', path: '/api/camera/controls/preview', body: {} },
  'POST /camera/controls/cancel': { viewer: 'deny', path: '/api/camera/controls/cancel' },
  'POST /camera/focus': { viewer: 'deny', path: '/api/camera/focus' },
  'PUT /camera/controls': { viewer: 'deny', path: '/api/camera/controls', body: {} },
};

/** Status of a request, without reading an endless stream's body. */
async function statusOf(url: string, method: string, cookie: string, body?: unknown): Promise<{ status: number; code: string | null }> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method,
    signal: controller.signal,
    redirect: 'manual',
    headers: { Cookie: cookie, Origin: new URL(url).origin, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let code: string | null = null;
  if (response.status === 403) code = ((await response.json()) as { code: string }).code;
  controller.abort();
  return { status: response.status, code };
}

async function login(url: string, body: Record<string, string>): Promise<string> {
  const answer = await request(`${url}/api/login`, 'POST', body);
  expect(answer.status).toBe(204);
  return (answer.headers.get('set-cookie') ?? '').split(';')[0];
}

describe('users and roles', () => {
  test('the route table covers every route the server defines', () => {
    const defined = definedRoutes();
    expect(defined.filter((route) => !(route in TABLE))).toEqual([]);
    expect(Object.keys(TABLE).filter((route) => !defined.includes(route))).toEqual([]);
  });

  test('a viewer added with "preroll user add" is refused every admin and control route, and allowed the rest; passwd and remove end their sessions', async () => {
    const server = await startTestServer({ password: ADMIN_PASSWORD });
    const dataDir = server.runtime.store().dataDir;
    try {
      const added = execFileSync(process.execPath, [CLI, 'user', 'add', 'vera', '--role', 'viewer', '--data', dataDir], { input: `${VIEWER_PASSWORD}\n` }).toString();
      expect(added).toContain('user "vera" (viewer) added');
      // Stored hashed, like the admin's password.
      const auth = readFileSync(join(dataDir, 'auth.json'), 'utf8');
      expect(auth).not.toContain(VIEWER_PASSWORD);
      expect(JSON.parse(auth).users).toHaveLength(1);
      const listed = execFileSync(process.execPath, [CLI, 'user', 'list', '--json', '--data', dataDir]).toString().trim().split('\n').map((line) => JSON.parse(line));
      expect(listed.map((u: { name: string; role: string }) => `${u.name}:${u.role}`)).toEqual(['admin:admin', 'vera:viewer']);

      expect((await request(`${server.url}/api/login`, 'POST', { user: 'vera', password: 'not it at all' })).status).toBe(401);
      const viewer = await login(server.url, { user: 'vera', password: VIEWER_PASSWORD });
      expect((await request(`${server.url}/api/me`, 'GET', undefined, { Cookie: viewer })).body).toMatchObject({ user: 'vera', role: 'viewer' });

      const wrong: string[] = [];
      // Logging out last: it ends the viewer's session.
      const ordered = Object.entries(TABLE).sort(([a], [b]) => Number(a === 'POST /logout') - Number(b === 'POST /logout'));
      for (const [route, { viewer: expected, path, body }] of ordered) {
        const method = route.split(' ')[0];
        const { status, code } = await statusOf(`${server.url}${path}`, method, viewer, body);
        const denied = status === 403 && code === 'AUTH_ROLE';
        if (status === 401 || denied !== (expected === 'deny')) wrong.push(`${route}: ${status} ${code ?? ''}`);
      }
      expect(wrong).toEqual([]);

      // The admin (the existing password, no user name) may read the settings.
      const admin = await login(server.url, { password: ADMIN_PASSWORD });
      expect((await request(`${server.url}/api/config`, 'GET', undefined, { Cookie: admin })).status).toBe(200);
      expect((await request(`${server.url}/api/me`, 'GET', undefined, { Cookie: admin })).body).toMatchObject({ user: 'admin', role: 'admin' });

      // Tokens keep their scopes: read looks, control changes, only admin reaches the settings.
      const read = `Bearer ${createApiToken(dataDir, 'r', 'read').token}`;
      const control = `Bearer ${createApiToken(dataDir, 'c', 'control').token}`;
      await new Promise((r) => setTimeout(r, 1100)); // the server re-reads auth.json at most once a second
      expect((await request(`${server.url}/api/config`, 'GET', undefined, { Authorization: control })).body.code).toBe('AUTH_SCOPE');
      expect((await request(`${server.url}/api/events/none`, 'PATCH', { favorite: true }, { Authorization: read })).body.code).toBe('AUTH_SCOPE');
      expect((await request(`${server.url}/api/events/none`, 'PATCH', { favorite: true }, { Authorization: control })).status).toBe(404);

      // A new password ends the user's sessions; the new one logs in, the old one no longer.
      const before = await login(server.url, { user: 'vera', password: VIEWER_PASSWORD });
      execFileSync(process.execPath, [CLI, 'user', 'passwd', 'vera', '--data', dataDir], { input: 'another viewer password\n' });
      await new Promise((r) => setTimeout(r, 1100));
      expect((await request(`${server.url}/api/status`, 'GET', undefined, { Cookie: before })).status).toBe(401);
      expect((await request(`${server.url}/api/login`, 'POST', { user: 'vera', password: VIEWER_PASSWORD })).status).toBe(401);

      // Removing the user ends their sessions at once.
      const again = await login(server.url, { user: 'vera', password: 'another viewer password' });
      expect((await request(`${server.url}/api/status`, 'GET', undefined, { Cookie: again })).status).toBe(200);
      execFileSync(process.execPath, [CLI, 'user', 'remove', 'vera', '--data', dataDir]);
      await new Promise((r) => setTimeout(r, 1100));
      expect((await request(`${server.url}/api/status`, 'GET', undefined, { Cookie: again })).status).toBe(401);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
