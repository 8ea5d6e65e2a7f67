import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyModeOf, changedKeys, configJsonSchema, groupOf, mergePatch, origins, redactConfig, REDACTED, unitOf, writeConfigAtomic } from '../src/config';
import { unredact } from '../src/http/config';

describe('configuration documents (pure)', () => {
  test('merge patch: objects merge, null removes (and empty parents go), arrays replace, [redacted] keeps', () => {
    const doc = { detector: { gapS: 4, mask: { rects: [{ x: 0, y: 0, width: 1, height: 0.1 }] } }, integrations: { webhooks: { secret: 's3cret', urls: ['http://a'] } } };
    expect(mergePatch(doc, { detector: { gapS: null } })).toEqual({ detector: { mask: doc.detector.mask }, integrations: doc.integrations });
    expect(mergePatch({ detector: { gapS: 4 } }, { detector: { gapS: null } })).toEqual({});
    expect(mergePatch(doc, { detector: { mask: { rects: [] } } })).toMatchObject({ detector: { gapS: 4, mask: { rects: [] } } });
    expect(mergePatch(doc, { integrations: { webhooks: { secret: REDACTED, urls: ['http://b'] } } })).toMatchObject({ integrations: { webhooks: { secret: 's3cret', urls: ['http://b'] } } });
    expect(doc.detector.gapS).toBe(4);
  });

  test('redaction: secret keys and URLs with credentials, nothing else', () => {
    const redacted = redactConfig({ mqtt: { url: 'mqtt://user:pw@host:1883', password: 'pw', username: 'user' }, notify: { telegram: { botToken: '1:abc' } }, server: { tls: { keyPath: '/etc/key.pem' } }, n: 3 });
    expect(redacted).toEqual({ mqtt: { url: REDACTED, password: REDACTED, username: 'user' }, notify: { telegram: { botToken: REDACTED } }, server: { tls: { keyPath: '/etc/key.pem' } }, n: 3 });
  });

  test('unredact puts back the current secrets of a restored document, and drops what has none', () => {
    const current = { webhooks: { secret: 'kept', urls: ['http://x'] } };
    expect(unredact({ webhooks: { secret: REDACTED, urls: ['http://y'] }, mqtt: { password: REDACTED } }, current)).toEqual({ webhooks: { secret: 'kept', urls: ['http://y'] }, mqtt: {} });
  });

  test('changed keys are leaves; arrays compare whole', () => {
    expect(changedKeys({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 2, c: [1, 2] }, d: 1, e: { f: true } })).toEqual(['a.b', 'e.f']);
    expect(changedKeys({ a: { c: [1, 2] } }, { a: { c: [2, 1] } })).toEqual(['a.c']);
  });

  test('origins: a flag wins over the environment, the environment over the file', () => {
    const layers = { fileDoc: { server: { port: 1 }, detector: { gapS: 3 } }, envKeys: ['server.port', 'integrations.mqtt'], flagKeys: ['server.host'], profileKeys: ['camera.width'] };
    expect(origins({ server: { port: 1, host: 'h', dataDir: 'd' }, detector: { gapS: 3 }, integrations: { mqtt: { url: 'u' } }, camera: { width: 640 } }, layers)).toEqual({
      'server.port': 'env',
      'server.host': 'flag',
      'server.dataDir': 'default',
      'detector.gapS': 'file',
      'integrations.mqtt.url': 'env',
      'camera.width': 'profile',
    });
  });

  test.each([
    ['detector.triggerLevel', 'live', 'Detection', null],
    ['detector.noise.riseS', 'live', 'Detection', 's'],
    ['retention.maxDiskPct', 'live', 'Storage', '%'],
    ['retention.intervalS', 'restart', 'Storage', 's'],
    ['live.maxFps', 'live', 'Live view', 'frames/s'],
    ['integrations.webhooks.urls', 'live', 'Integrations', null],
    ['integrations.notify.ntfy.topic', 'live', 'Alerts', null],
    ['arming.mode', 'live', 'Alerts', null],
    ['camera.fps', 'camera', 'Camera', 'frames/s'],
    ['camera.id', 'restart', 'Camera', null],
    ['recorder.preRollMs', 'camera', 'Recording', 'ms'],
    ['recording.gpio.pin', 'restart', 'Recording', null],
    ['server.port', 'restart', 'System', null],
    ['server.limits.sessionDays', 'restart', 'Security', 'days'],
    ['recording.lookback.maxBytes', 'camera', 'Recording', 'bytes'],
  ])('%s applies %s, in group %s, unit %s', (key, apply, group, unit) => {
    expect(applyModeOf(key)).toBe(apply);
    expect(groupOf(key)).toBe(group);
    expect(unitOf(key)).toBe(unit);
  });

  test('the JSON Schema annotates every key', () => {
    const schema = configJsonSchema();
    const missing: string[] = [];
    const walk = (node: any, key: string): void => {
      if (key && (!node['x-key'] || !node['x-apply'] || !node['x-group'])) missing.push(key);
      for (const [name, child] of Object.entries(node.properties ?? {})) walk(child, key ? `${key}.${name}` : name);
    };
    walk(schema, '');
    expect(missing).toEqual([]);
    expect(schema.properties?.integrations?.properties?.webhooks?.['x-secret']).toBeUndefined();
  });
});

describe('writeConfigAtomic', () => {
  test('writes 0640 JSON, keeps the previous file as .bak, leaves no temporary file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-write-'));
    const file = join(dir, 'config.json');
    await writeConfigAtomic(file, { a: 1 });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: 1 });
    expect(statSync(file).mode & 0o777).toBe(0o640);
    writeFileSync(file, '{"by": "hand"}\n');
    await writeConfigAtomic(file, { a: 2 });
    expect(readFileSync(`${file}.bak`, 'utf8')).toBe('{"by": "hand"}\n');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ a: 2 });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'config.json.bak']);
  });
});
