import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import WebSocket from 'ws';
import { createHash } from 'node:crypto';
import { startPreroll, type Preroll } from '../src/app';
import { createApiToken, listApiTokens } from '../src/http/auth';
import { loadConfig } from '../src/config';
import { startFromFile } from './config-helpers';
import { request, tempDataDir, waitFor } from './server-helpers';

const SECRET = 'webhook-signing-secret-0123456789';

async function getConfig(url: string): Promise<any> {
  const answer = await request(`${url}/api/config`, 'GET');
  expect(answer.status).toBe(200);
  expect(answer.headers.get('etag')).toBe(`"${answer.body.version}"`);
  return answer.body;
}

function patch(url: string, body: unknown, version?: string): ReturnType<typeof request> {
  return request(`${url}/api/config`, 'PATCH', body, version === undefined ? {} : { 'If-Match': `"${version}"` });
}

describe('GET/PATCH /api/config', () => {
  let server: Preroll & { url: string; file: string; dataDir: string };
  let hooks: Server;
  const deliveries: unknown[] = [];

  beforeAll(async () => {
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        deliveries.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    server = await startFromFile(
      {
        detector: { triggerLevel: 20, triggerMode: 'manual' },
        // Webhooks configured but off: switched on live below.
        integrations: { webhooks: { enabled: false, urls: [`http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`], secret: SECRET } },
      },
      { PREROLL_RETENTION__MAX_AGE_DAYS: '30' },
    );
    await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.fps > 0, 20_000, 'frames');
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await new Promise((resolve) => hooks.close(resolve));
  });

  test('the effective configuration: secrets redacted, each key\'s origin, a version, and the annotated JSON Schema', async () => {
    const answer = await request(`${server.url}/api/config`, 'GET');
    expect(JSON.stringify(answer.body)).not.toContain(SECRET);
    const body = answer.body;
    expect(body.version).toMatch(/^[0-9a-f]{16}$/);
    expect(body.editable).toBe(true);
    expect(body.error).toBeNull();
    expect(body.config.integrations.webhooks.secret).toBe('[redacted]');
    expect(body.config.detector.triggerLevel).toBe(20);
    expect(body.origins).toMatchObject({
      'detector.triggerLevel': 'file',
      'detector.gapS': 'default',
      'retention.maxAgeDays': 'env',
      'server.port': 'flag',
      'camera.source': 'flag',
    });
    const props = body.schema.properties;
    expect(props.detector.properties.triggerLevel).toMatchObject({ 'x-apply': 'live', 'x-group': 'Detection', minimum: 0.1, maximum: 65025, description: expect.stringContaining('Motion score') });
    expect(props.camera.properties.fps['x-apply']).toBe('camera');
    expect(props.server.properties.port['x-apply']).toBe('restart');
    expect(props.recorder.properties.preRollMs).toMatchObject({ 'x-unit': 'ms', default: 5000 });
    expect(props.retention.properties.maxDiskPct).toMatchObject({ 'x-unit': '%', 'x-group': 'Storage' });
    expect(body.groups).toEqual(['Camera', 'Detection', 'Recording', 'Storage', 'Live view', 'Alerts', 'Integrations', 'Security', 'System']);
  });

  test('the detector level is applied live, written atomically with a backup, and published once on the WebSocket', async () => {
    const before = await getConfig(server.url);
    const beforeText = readFileSync(server.file, 'utf8');
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Origin: server.url } });
    const messages: any[] = [];
    ws.on('message', (data, binary) => {
      if (!binary) messages.push(JSON.parse(data.toString()));
    });
    try {
      await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
      const answer = await patch(server.url, { detector: { triggerLevel: 33 } }, before.version);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ changed: ['detector.triggerLevel'], applied: ['detector.triggerLevel'], restartRequired: [] });
      expect(answer.body.version).not.toBe(before.version);
      expect(answer.headers.get('etag')).toBe(`"${answer.body.version}"`);
      expect(JSON.stringify(answer.body)).not.toContain(SECRET);
      // In force at once, without a restart.
      expect((await request(`${server.url}/api/status`, 'GET')).body.triggerLevel).toBe(33);
      // On disk: the new file (0640) with the secret kept, the previous one as .bak.
      const written = JSON.parse(readFileSync(server.file, 'utf8'));
      expect(written.detector.triggerLevel).toBe(33);
      expect(written.integrations.webhooks.secret).toBe(SECRET);
      expect(statSync(server.file).mode & 0o777).toBe(0o640);
      expect(readFileSync(`${server.file}.bak`, 'utf8')).toBe(beforeText);
      await waitFor(async () => messages.some((m) => m.type === 'config'), 10_000, 'the config message');
      // A status tick or two later: still exactly one.
      await waitFor(async () => messages.filter((m) => m.type === 'status').length >= 3, 10_000, 'more status messages');
      const config = messages.filter((m) => m.type === 'config');
      expect(config).toHaveLength(1);
      expect(config[0]).toMatchObject({ version: answer.body.version, keys: ['detector.triggerLevel'], error: false });
    } finally {
      ws.close();
    }
  }, 60_000);

  test('a stale or missing version is refused with the current one; invalid values name the key and write nothing', async () => {
    const current = await getConfig(server.url);
    const stale = await patch(server.url, { detector: { gapS: 5 } }, '0000000000000000');
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ code: 'CONFIG_VERSION_CONFLICT', version: current.version });
    const missing = await patch(server.url, { detector: { gapS: 5 } });
    expect(missing.status).toBe(428);
    expect(missing.body.code).toBe('CONFIG_VERSION_REQUIRED');
    const text = readFileSync(server.file, 'utf8');
    const bad = await patch(server.url, { detector: { triggerLevel: -4 } }, current.version);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'CONFIG_INVALID', key: 'detector.triggerLevel' });
    expect(bad.body.message).toContain('detector.triggerLevel');
    const unknown = await patch(server.url, { detector: { triggerLevl: 4 } }, current.version);
    expect(unknown.body).toMatchObject({ code: 'CONFIG_INVALID', key: 'detector.triggerLevl' });
    expect(readFileSync(server.file, 'utf8')).toBe(text);
    expect((await getConfig(server.url)).version).toBe(current.version);
  });

  test('keys from the environment or a flag are read-only', async () => {
    const current = await getConfig(server.url);
    const flag = await patch(server.url, { server: { port: 9999 } }, current.version);
    expect(flag.status).toBe(409);
    expect(flag.body).toMatchObject({ code: 'CONFIG_READ_ONLY', key: 'server.port' });
    const env = await patch(server.url, { retention: { maxAgeDays: 5 } }, current.version);
    expect(env.body).toMatchObject({ code: 'CONFIG_READ_ONLY', key: 'retention.maxAgeDays' });
  });

  test('retention and live view are applied in place; the web server port needs a restart', async () => {
    const current = await getConfig(server.url);
    const answer = await patch(server.url, { retention: { maxDiskPct: 91 }, live: { jpegQuality: 55 }, actions: { allowReboot: true } }, current.version);
    expect(answer.status).toBe(200);
    expect(answer.body.changed).toEqual(['actions.allowReboot', 'live.jpegQuality', 'retention.maxDiskPct']);
    expect(answer.body.applied).toEqual(['live.jpegQuality', 'retention.maxDiskPct']);
    expect(answer.body.restartRequired).toEqual(['actions.allowReboot']);
    expect(server.runtime.store().retention.maxDiskPct).toBe(91);
    expect((await getConfig(server.url)).restartRequired).toEqual(['actions.allowReboot']);
  });

  test('null resets a key to its default', async () => {
    const current = await getConfig(server.url);
    const answer = await patch(server.url, { live: { jpegQuality: null } }, current.version);
    expect(answer.body.config.live.jpegQuality).toBe(70);
    expect(answer.body.origins['live.jpegQuality']).toBe('default');
    expect(JSON.parse(readFileSync(server.file, 'utf8')).live).toBeUndefined();
  });

  test('an integration is restarted live: webhooks switched on deliver the next recording', async () => {
    const current = await getConfig(server.url);
    const answer = await patch(server.url, { integrations: { webhooks: { enabled: true } } }, current.version);
    expect(answer.body).toMatchObject({ applied: ['integrations.webhooks.enabled'], restartRequired: [] });
    const photo = (await request(`${server.url}/api/snapshot`, 'POST')).body;
    await waitFor(async () => deliveries.some((d) => JSON.stringify(d).includes(photo.id)), 20_000, 'the webhook');
    expect(deliveries.filter((d) => JSON.stringify(d).includes(photo.id))).toHaveLength(1);
  }, 60_000);

  test('alert channels restart in place: an ntfy channel added is there at once', async () => {
    expect((await request(`${server.url}/api/alerts`, 'GET')).body.channels).toEqual([]);
    const current = await getConfig(server.url);
    const answer = await patch(server.url, { integrations: { notify: { ntfy: { serverUrl: 'http://127.0.0.1:9/', topic: 'preroll-test', token: 'tk_secret_of_the_test' } } } }, current.version);
    expect(answer.status).toBe(200);
    expect(answer.body.restartRequired).toEqual([]);
    expect(answer.body.applied).toContain('integrations.notify.ntfy.topic');
    expect(JSON.stringify(answer.body)).not.toContain('tk_secret_of_the_test');
    expect((await request(`${server.url}/api/alerts`, 'GET')).body.channels).toEqual(['ntfy']);
    const removed = await patch(server.url, { integrations: { notify: null } }, answer.body.version);
    expect(removed.body.restartRequired).toEqual([]);
    expect((await request(`${server.url}/api/alerts`, 'GET')).body.channels).toEqual([]);
  }, 60_000);

  test('a camera change restarts the source after finishing the clip being written; a manual recording goes on in a new clip', async () => {
    // No motion event around the manual recording: its clip is then of kind `manual`.
    await request(`${server.url}/api/motion`, 'POST', { enabled: false });
    await waitFor(async () => !(await request(`${server.url}/api/status`, 'GET')).body.recording, 30_000, 'no recording');
    expect((await request(`${server.url}/api/record/start`, 'POST')).body).toEqual({ recording: true });
    await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.recording, 10_000, 'recording');
    const current = await getConfig(server.url);
    const answer = await patch(server.url, { camera: { fps: 8 } }, current.version);
    expect(answer.body).toMatchObject({ changed: ['camera.fps'], applied: ['camera.fps'], restartRequired: [] });
    // The manual clip was finished, not lost; frames flow again at the new rate, the manual recording goes on.
    const clip = await waitFor(async () => (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items[0], 20_000, 'the finished clip');
    expect(clip.durationS).toBeGreaterThan(0);
    expect((await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items).toHaveLength(1);
    await waitFor(async () => {
      const status = (await request(`${server.url}/api/status`, 'GET')).body;
      return status.captureState === 'running' && status.fps > 5 && status.fps < 11 && status.manualRecording;
    }, 30_000, 'frames at 8 fps, still recording');
    await request(`${server.url}/api/record/stop`, 'POST');
    await waitFor(async () => (await request(`${server.url}/api/events?kind=manual`, 'GET')).body.items.length === 2, 20_000, 'the second clip');
    await request(`${server.url}/api/motion`, 'POST', { enabled: true });
  }, 120_000);

  test('a file edited by hand into something invalid keeps the last good configuration, with the error shown; a valid edit is applied', async () => {
    const good = await getConfig(server.url);
    const doc = JSON.parse(readFileSync(server.file, 'utf8'));
    writeFileSync(server.file, JSON.stringify({ ...doc, detector: { ...doc.detector, triggerLevel: 'high' } }));
    const broken = await waitFor(async () => {
      const body = await getConfig(server.url);
      return body.error ? body : null;
    }, 15_000, 'the error');
    expect(broken.error).toMatchObject({ code: 'CONFIG_INVALID', key: 'detector.triggerLevel' });
    expect(broken.config.detector.triggerLevel).toBe(good.config.detector.triggerLevel);
    const status = (await request(`${server.url}/api/status`, 'GET')).body;
    expect(status.triggerLevel).toBe(good.config.detector.triggerLevel);
    expect(status.configError).toMatchObject({ code: 'CONFIG_INVALID', key: 'detector.triggerLevel' });
    // The page can fix it: a change against the broken file's version.
    const fixed = await patch(server.url, { detector: { triggerLevel: 44 } }, broken.version);
    expect(fixed.status).toBe(200);
    expect((await getConfig(server.url)).error).toBeNull();
    expect((await request(`${server.url}/api/status`, 'GET')).body.triggerLevel).toBe(44);
    // A valid edit by hand is applied live.
    const now = JSON.parse(readFileSync(server.file, 'utf8'));
    writeFileSync(server.file, JSON.stringify({ ...now, detector: { ...now.detector, triggerLevel: 55 } }));
    await waitFor(async () => (await request(`${server.url}/api/status`, 'GET')).body.triggerLevel === 55, 15_000, 'the hand edit applied');
  }, 60_000);

  test('backup without secrets by default, with them only on confirmation; restore validates and keeps redacted secrets', async () => {
    const plain = await request(`${server.url}/api/config/backup`, 'GET');
    expect(plain.status).toBe(200);
    expect(plain.headers.get('content-disposition')).toMatch(/^attachment; filename="preroll-backup-/);
    expect(JSON.stringify(plain.body)).not.toContain(SECRET);
    expect(plain.body).toMatchObject({ format: 'preroll-backup', formatVersion: 1, secretsIncluded: false, tokens: [] });
    expect(plain.body.settings).toHaveProperty('cam');
    const refused = await request(`${server.url}/api/config/backup`, 'POST', { includeSecrets: true });
    expect(refused.body.code).toBe('CONFIG_CONFIRM_SECRETS');
    const full = await request(`${server.url}/api/config/backup`, 'POST', { includeSecrets: true, confirm: 'include secrets' });
    expect(full.body.config.integrations.webhooks.secret).toBe(SECRET);

    const current = await getConfig(server.url);
    const changed = await patch(server.url, { detector: { gapS: 9 } }, current.version);
    const invalid = await request(`${server.url}/api/config/restore`, 'POST', { ...plain.body, config: { detector: { gapS: -1 } } }, { 'If-Match': `"${changed.body.version}"` });
    expect(invalid.body).toMatchObject({ code: 'CONFIG_INVALID', key: 'detector.gapS' });
    const restored = await request(`${server.url}/api/config/restore`, 'POST', plain.body, { 'If-Match': `"${changed.body.version}"` });
    expect(restored.status).toBe(200);
    expect(restored.body.changed).toEqual(['detector.gapS']);
    const written = JSON.parse(readFileSync(server.file, 'utf8'));
    expect(written.detector.gapS).toBeUndefined();
    expect(written.integrations.webhooks.secret).toBe(SECRET);
  });
});

describe('restore brings back everything the backup holds', () => {
  test('runtime settings, tokens (working with secrets; to re-issue without) and the arming mode; a bad bundle changes nothing', async () => {
    const server = await startFromFile({ detector: { triggerMode: 'auto' } });
    try {
      const url = server.url;
      await waitFor(async () => (await request(`${url}/api/status`, 'GET')).body.fps > 0, 30_000, 'frames');
      const kept = createApiToken(server.dataDir, 'kept', 'read');
      const dropped = createApiToken(server.dataDir, 'dropped', 'control');
      // The state the backups hold: a manual level, motion off, continuous on, arming home.
      expect((await request(`${url}/api/trigger-level`, 'PUT', { value: 30 })).status).toBe(200);
      expect((await request(`${url}/api/motion`, 'POST', { enabled: false })).status).toBe(200);
      expect((await request(`${url}/api/continuous`, 'POST', { enabled: true })).status).toBe(200);
      expect((await request(`${url}/api/arming`, 'PUT', { mode: 'home' })).status).toBe(200);
      const plain = (await request(`${url}/api/config/backup`, 'GET')).body;
      const full = (await request(`${url}/api/config/backup`, 'POST', { includeSecrets: true, confirm: 'include secrets' })).body;
      expect(plain.settings.cam).toMatchObject({ triggerMode: 'manual', triggerLevel: 30, motionEnabled: false, continuousEnabled: true });
      expect(plain.arming).toEqual({ mode: 'home' });
      expect(plain.tokens.map((t: { name: string }) => t.name)).toEqual(['kept', 'dropped']);
      expect(plain.tokens.every((t: object) => !('sha256' in t))).toBe(true);
      expect(full.tokens[0].sha256).toBe(createHash('sha256').update(kept.token).digest('hex'));

      // Everything changes after the backup.
      expect((await request(`${url}/api/trigger-level`, 'PUT', { mode: 'auto' })).status).toBe(200);
      expect((await request(`${url}/api/motion`, 'POST', { enabled: true })).status).toBe(200);
      expect((await request(`${url}/api/continuous`, 'POST', { enabled: false })).status).toBe(200);
      expect((await request(`${url}/api/arming`, 'PUT', { mode: 'away' })).status).toBe(200);
      const authFile = join(server.dataDir, 'auth.json');
      const authBefore = readFileSync(authFile, 'utf8');
      const settingsBefore = readFileSync(join(server.dataDir, 'settings.json'), 'utf8');

      // Bad bundles: a stable code, and nothing written (configuration, settings, tokens, arming).
      let version = (await getConfig(url)).version;
      const bads: [unknown, string][] = [
        [{ ...full, settings: { cam: { triggerMode: 'sometimes' } } }, 'CONFIG_BAD_BACKUP'],
        [{ ...full, tokens: [{ ...full.tokens[0], sha256: 'not-a-hash' }] }, 'CONFIG_BAD_BACKUP'],
        [{ ...full, arming: { mode: 'party' } }, 'CONFIG_BAD_BACKUP'],
        [{ ...full, format: 'something-else' }, 'CONFIG_BAD_BACKUP'],
        [{ ...full, config: { detector: { gapS: -1 } } }, 'CONFIG_INVALID'],
      ];
      for (const [bundle, code] of bads) {
        const answer = await request(`${url}/api/config/restore`, 'POST', bundle, { 'If-Match': `"${version}"` });
        expect(answer.status).toBe(400);
        expect(answer.body.code).toBe(code);
      }
      const stale = await request(`${url}/api/config/restore`, 'POST', full, { 'If-Match': '"0000000000000000"' });
      expect(stale.body.code).toBe('CONFIG_VERSION_CONFLICT');
      expect(readFileSync(authFile, 'utf8')).toBe(authBefore);
      expect(readFileSync(join(server.dataDir, 'settings.json'), 'utf8')).toBe(settingsBefore);
      expect((await getConfig(url)).version).toBe(version);
      expect((await request(`${url}/api/status`, 'GET')).body).toMatchObject({ motionEnabled: true, trigger: { mode: 'auto' }, continuous: { enabled: false } });

      // Without secrets: settings and arming come back; a token this server still holds works
      // on, one it does not (revoked meanwhile) must be issued again.
      expect(listApiTokens(server.dataDir)).toHaveLength(2);
      const revoked = JSON.parse(authBefore);
      revoked.tokens = revoked.tokens.filter((t: { name: string }) => t.name !== 'dropped');
      writeFileSync(authFile, JSON.stringify(revoked));
      const answer = await request(`${url}/api/config/restore`, 'POST', plain, { 'If-Match': `"${version}"` });
      expect(answer.status).toBe(200);
      expect(answer.body.restored).toMatchObject({ settings: ['cam'], settingsSkipped: [], arming: 'home' });
      expect(answer.body.restored.tokens.map((t: { name: string }) => t.name)).toEqual(['kept']);
      expect(answer.body.restored.tokensNeedingNewSecret).toEqual([{ id: dropped.info.id, name: 'dropped', createdAt: dropped.info.createdAt, scope: 'control' }]);
      const status = (await request(`${url}/api/status`, 'GET')).body;
      expect(status).toMatchObject({ motionEnabled: false, triggerLevel: 30, trigger: { mode: 'manual' }, continuous: { enabled: true } });
      expect((await request(`${url}/api/alerts`, 'GET')).body.arming).toMatchObject({ mode: 'home' });
      expect(JSON.parse(readFileSync(join(server.dataDir, 'settings.json'), 'utf8'))).toMatchObject({ triggerMode: 'manual', triggerLevel: 30, motionEnabled: false, continuousEnabled: true });

      // With secrets: every token is back, working (its SHA-256 is the one its secret gives).
      version = answer.body.version;
      const again = await request(`${url}/api/config/restore`, 'POST', full, { 'If-Match': `"${version}"` });
      expect(again.status).toBe(200);
      expect(again.body.restored.tokensNeedingNewSecret).toEqual([]);
      const stored = JSON.parse(readFileSync(authFile, 'utf8')).tokens as { name: string; sha256: string }[];
      expect(stored.map((t) => [t.name, t.sha256])).toEqual([
        ['kept', createHash('sha256').update(kept.token).digest('hex')],
        ['dropped', createHash('sha256').update(dropped.token).digest('hex')],
      ]);
    } finally {
      await server.stop();
    }
  }, 90_000);
});

describe('without a configuration file', () => {
  test('the configuration is shown but a change is refused with CONFIG_NO_FILE', async () => {
    const dataDir = tempDataDir();
    const { config } = loadConfig({ env: {}, overrides: { 'server.host': '127.0.0.1', 'server.port': 0, 'server.dataDir': dataDir, 'camera.source': 'demo' } });
    const server = await startPreroll({ config, logger: pino({ level: 'silent' }), password: null, onExit: () => undefined });
    const url = `http://127.0.0.1:${server.port}`;
    try {
      const body = await getConfig(url);
      expect(body.editable).toBe(false);
      const answer = await patch(url, { detector: { gapS: 3 } }, body.version);
      expect(answer.status).toBe(409);
      expect(answer.body.code).toBe('CONFIG_NO_FILE');
      expect(existsSync(join(dataDir, 'config.json'))).toBe(false);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
