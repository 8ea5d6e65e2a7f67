import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configurationMarkdown, ConfigError, envOverrides, loadConfig, parseConfig } from '../src/config';
import { main } from '../src/cli';
import { memoryIo } from './io';

const dir = mkdtempSync(join(tmpdir(), 'preroll-config-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  test('defaults: the product runs with no file at all', () => {
    const { config } = loadConfig({ env: {}, modelPath: '/nonexistent/model' });
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 8080,
      dataDir: './data',
      allowedHosts: [],
      limits: {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 15_000,
        bodyTimeoutMs: 5000,
        keepAliveTimeoutMs: 5000,
        idleTimeoutMs: 120_000,
        maxConnections: 128,
        maxUnauthenticated: 32,
        maxUnauthenticatedPerAddress: 8,
        loginFailuresPerMinute: 5,
        loginAttemptsPerMinute: 30,
        sessionDays: 30,
      },
    });
    expect(config.camera.source).toBe('auto');
    expect(config.recorder.preRollMs).toBe(5000);
    expect(config.retention.maxDiskPct).toBe(80);
    expect(Object.isFrozen(config.detector.lighting)).toBe(true);
  });

  test.each([
    ['{"detector":{"triggerLvel":3}}', 'detector.triggerLvel', /unknown key/],
    ['{"detector":{"triggerLevel":-3}}', 'detector.triggerLevel', /0\.1/],
    ['{"server":{"port":70000}}', 'server.port', /65535/],
    ['{"camera":{"width":641}}', 'camera.width', /multiple of 2/],
    ['{"recorder":{"encoder":"nvenc"}}', 'recorder.encoder', /libx264/],
    ['{"camera":{"strideAlign":32}}', 'camera.strideAlign', /./],
    ['{"camera":{"rpicamRoute":"direct"}}', 'camera.rpicamRoute', /node.*split/],
    ['{"nonsense":true}', 'nonsense', /unknown key/],
  ])('%s is refused with one clear error naming %s', (text, key, message) => {
    const error = (() => {
      try {
        loadConfig({ file: file('bad.json', text), env: {} });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.key).toBe(key);
    expect(error.message).toContain(key);
    expect(error.message).toMatch(message);
  });

  test('unreadable and non-JSON files have their own codes', () => {
    expect(() => loadConfig({ file: join(dir, 'missing.json'), env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_NOT_FOUND' }));
    expect(() => loadConfig({ file: file('broken.json', '{ "server": '), env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_BAD_JSON' }));
    expect(() => loadConfig({ file: file('array.json', '[1,2]'), env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  test('environment overrides the file, command-line flags override both', () => {
    const path = file('ok.json', JSON.stringify({ server: { port: 9000 }, detector: { triggerLevel: 4 } }));
    const env = { PREROLL_CONFIG: path, PREROLL_PORT: '9100', PREROLL_DETECTOR__TRIGGER_LEVEL: '8', PREROLL_DETECTOR__LIGHTING__HOLD_S: '2.5', PREROLL_CAMERA__RPICAM_ARGS: '["--hflip"]', PREROLL_PASSWORD: 'secret pw' };
    const { config, password } = loadConfig({ env, overrides: { 'server.host': '127.0.0.1' } });
    expect(config.server).toMatchObject({ port: 9100, host: '127.0.0.1' });
    expect(config.detector.triggerLevel).toBe(8);
    expect(config.detector.lighting.holdS).toBe(2.5);
    expect(config.camera.rpicamArgs).toEqual(['--hflip']);
    expect(password).toBe('secret pw');
    expect(envOverrides({ PREROLL_RETENTION__MAX_DISK_PCT: '70', HOME: '/root' })).toEqual([[['retention', 'maxDiskPct'], 70]]);
    expect(() => loadConfig({ env: { PREROLL_DETECTOR__GAP_S: 'soon' } })).toThrow(expect.objectContaining({ key: 'detector.gapS' }));
  });

  test('server limits and host names are bounded and checked', () => {
    expect(parseConfig({ server: { allowedHosts: ['cam.example.org', '*.home.example'], limits: { maxUnauthenticatedPerAddress: 2 } } }).server).toMatchObject({
      allowedHosts: ['cam.example.org', '*.home.example'],
      limits: { maxUnauthenticatedPerAddress: 2, maxConnections: 128 },
    });
    expect(() => parseConfig({ server: { allowedHosts: ['evil.example/path'] } })).toThrow(expect.objectContaining({ key: 'server.allowedHosts.0' }));
    expect(() => parseConfig({ server: { limits: { headersTimeoutMs: 0 } } })).toThrow(expect.objectContaining({ key: 'server.limits.headersTimeoutMs' }));
    expect(() => parseConfig({ server: { limits: { sessiondays: 3 } } })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  test('parseConfig accepts a complete example', () => {
    const config = parseConfig({
      camera: { id: 'garden', source: 'rpicam:1280x720@15', strideAlign: 64 },
      detector: { triggerLevel: 8, mask: { rects: [{ x: 0, y: 0, width: 1, height: 0.1 }] } },
      retention: { maxDiskPct: 75, maxAgeDays: 30 },
      actions: { allowReboot: true },
    });
    expect(config.camera.id).toBe('garden');
    expect(config.detector.mask.rects).toHaveLength(1);
  });

  test('docs/configuration.md is the one generated from the schema', () => {
    const docs = readFileSync(resolve(__dirname, '../../../docs/configuration.md'), 'utf8');
    expect(docs).toBe(configurationMarkdown());
  });

  test('preroll config check prints ok or the first error with its key', async () => {
    const good = memoryIo();
    expect(await main(['config', 'check', file('good.json', '{"live":{"maxFps":5}}')], good)).toBe(0);
    expect(good.out()).toMatch(/: ok$/m);
    const bad = memoryIo();
    expect(await main(['config', 'check', file('bad2.json', '{"live":{"maxFps":500}}')], bad)).toBe(1);
    expect(bad.err()).toMatch(/^CONFIG_INVALID: .*live\.maxFps/);
    expect(await main(['config', 'check'], memoryIo())).toBe(2);
  });
});
