/** Table tests of the pure decisions: config validation, commands, score throttle, outbox, retries, rclone argv. */

import {
  createOutbox,
  discoveryMessages,
  eventSummary,
  isRetryableStatus,
  mqttTopics,
  parseCommand,
  parseRetryAfterS,
  rcloneCopyArgs,
  rcloneDestination,
  redactRcloneArgs,
  redactWebhookUrl,
  renderPathTemplate,
  resolveIntegrationsConfig,
  shouldPublishScore,
  signWebhook,
  uploadPlan,
  webhookRetryDelayMs,
  type IntegrationsConfig,
} from '../src';
import { makeRecord } from './helpers';

describe('config validation', () => {
  test('defaults of each section', () => {
    const c = resolveIntegrationsConfig({ mqtt: { url: 'mqtt://broker' }, webhooks: { urls: ['https://x.example/h'], secret: 'x'.repeat(16) }, upload: { remote: 'gdrive:' } }, 'garage');
    expect(c.mqtt).toMatchObject({
      url: 'mqtt://broker',
      clientId: 'preroll-garage',
      topicPrefix: 'preroll/garage',
      qos: 1,
      retain: true,
      scoreIntervalMs: 1000,
      eventKinds: ['motion', 'manual', 'segment', 'memory', 'photo'],
      discovery: { enabled: true, prefix: 'homeassistant', nodeId: 'preroll_garage', deviceName: 'Preroll garage', triggerLevelMin: 0.1, triggerLevelMax: 100 },
    });
    expect(c.webhooks).toMatchObject({ timeoutMs: 10_000, maxAttempts: 5, retryInitialMs: 2000, queueMax: 100, eventKinds: ['motion', 'manual', 'memory', 'photo'] });
    expect(c.upload).toMatchObject({ pathTemplate: 'preroll/{camera}/{day}', kinds: ['motion', 'manual', 'memory'], files: ['snapshot', 'sidecar'], deleteLocalAfterUpload: false, rcloneCommand: 'rclone' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(resolveIntegrationsConfig(undefined, 'cam')).toEqual({ mqtt: null, webhooks: null, upload: null, notify: null });
    expect(resolveIntegrationsConfig({ mqtt: { enabled: false, url: 'mqtt://b' } }, 'cam').mqtt).toBeNull();
  });

  const secret = 's'.repeat(16);
  const bad: Array<[string, IntegrationsConfig | Record<string, unknown>, string]> = [
    ['unknown section', { mqt: {} }, 'integrations.mqt'],
    ['unknown key', { mqtt: { url: 'mqtt://b', qoss: 1 } }, 'mqtt.qoss'],
    ['missing url', { mqtt: {} }, 'mqtt.url'],
    ['http url for mqtt', { mqtt: { url: 'http://b' } }, 'mqtt.url'],
    ['not a url', { mqtt: { url: 'not a url' } }, 'mqtt.url'],
    ['qos 3', { mqtt: { url: 'mqtt://b', qos: 3 } }, 'mqtt.qos'],
    ['wildcard prefix', { mqtt: { url: 'mqtt://b', topicPrefix: 'a/+/b' } }, 'mqtt.topicPrefix'],
    ['trailing slash prefix', { mqtt: { url: 'mqtt://b', topicPrefix: 'a/b/' } }, 'mqtt.topicPrefix'],
    ['fractional queueMax', { mqtt: { url: 'mqtt://b', queueMax: 2.5 } }, 'mqtt.queueMax'],
    ['reconnect max below min', { mqtt: { url: 'mqtt://b', reconnectMinMs: 5000, reconnectMaxMs: 1000 } }, 'mqtt.reconnectMaxMs'],
    ['score interval too short', { mqtt: { url: 'mqtt://b', scoreIntervalMs: 10 } }, 'mqtt.scoreIntervalMs'],
    ['bad event kind', { mqtt: { url: 'mqtt://b', eventKinds: ['motion', 'timelapse'] } }, 'mqtt.eventKinds'],
    ['number max below min', { mqtt: { url: 'mqtt://b', discovery: { triggerLevelMin: 10, triggerLevelMax: 5 } } }, 'mqtt.discovery.triggerLevelMax'],
    ['bad node id', { mqtt: { url: 'mqtt://b', discovery: { nodeId: 'a b' } } }, 'mqtt.discovery.nodeId'],
    ['no urls', { webhooks: { urls: [], secret } }, 'webhooks.urls'],
    ['ftp url', { webhooks: { urls: ['ftp://x'], secret } }, 'webhooks.urls[0]'],
    ['short secret', { webhooks: { urls: ['https://x'], secret: 'short' } }, 'webhooks.secret'],
    ['missing secret', { webhooks: { urls: ['https://x'] } }, 'webhooks.secret'],
    ['too many attempts', { webhooks: { urls: ['https://x'], secret, maxAttempts: 100 } }, 'webhooks.maxAttempts'],
    ['remote without colon', { upload: { remote: 'gdrive' } }, 'upload.remote'],
    ['remote like an option', { upload: { remote: '--config=/etc/x:' } }, 'upload.remote'],
    ['unknown placeholder', { upload: { remote: 'r:', pathTemplate: '{camera}/{hour}' } }, 'upload.pathTemplate'],
    ['dot-dot in template', { upload: { remote: 'r:', pathTemplate: 'a/../b' } }, 'upload.pathTemplate'],
    ['bad extra file', { upload: { remote: 'r:', files: ['clip'] } }, 'upload.files'],
    ['extraArgs not strings', { upload: { remote: 'r:', extraArgs: [1] } }, 'upload.extraArgs'],
    ['enabled not boolean', { upload: { remote: 'r:', enabled: 'yes' } }, 'upload.enabled'],
    ['tls on a plain mqtt:// url', { mqtt: { url: 'mqtt://h', tls: { caPath: '/ca.pem' } } }, 'mqtt.tls'],
    ['a client certificate without its key', { mqtt: { url: 'mqtts://h', tls: { certPath: '/c.pem' } } }, 'mqtt.tls.keyPath'],
    ['an unknown tls key', { mqtt: { url: 'mqtts://h', tls: { ca: '/ca.pem' } } }, 'mqtt.tls.ca'],
    ['rejectUnauthorized not boolean', { mqtt: { url: 'mqtts://h', tls: { rejectUnauthorized: 'no' } } }, 'mqtt.tls.rejectUnauthorized'],
  ];
  test.each(bad)('%s is refused with INTEGRATIONS_BAD_CONFIG naming %s', (_name, config, key) => {
    expect(() => resolveIntegrationsConfig(config as IntegrationsConfig, 'cam')).toThrow(expect.objectContaining({ code: 'INTEGRATIONS_BAD_CONFIG', value: expect.objectContaining({ key }) }));
    expect(() => resolveIntegrationsConfig(config as IntegrationsConfig, 'cam')).toThrow(new RegExp(key.replace(/[.[\]]/g, '\\$&')));
  });

  test('secrets are not echoed in the error', () => {
    expect(() => resolveIntegrationsConfig({ webhooks: { urls: ['https://x'], secret: 'tiny-secret' } }, 'cam')).toThrow(expect.objectContaining({ value: { key: 'webhooks.secret', value: '***' } }));
  });
});

describe('MQTT commands', () => {
  const t = mqttTopics('p/cam');
  const cases: Array<[string, string, unknown]> = [
    [t.setTriggerLevel, '12.5', { type: 'triggerLevel', value: 12.5 }],
    [t.setTriggerLevel, ' 6 ', { type: 'triggerLevel', value: 6 }],
    [t.setTriggerLevel, '.5', { type: 'triggerLevel', value: 0.5 }],
    [t.setTriggerLevel, '{"value":7}', { type: 'triggerLevel', value: 7 }],
    [t.setTriggerLevel, '0', 'between'],
    [t.setTriggerLevel, '65026', 'between'],
    [t.setTriggerLevel, 'NaN', 'number'],
    [t.setTriggerLevel, 'Infinity', 'number'],
    [t.setTriggerLevel, '0x10', 'number'],
    [t.setTriggerLevel, '{"value":"7"}', 'number'],
    [t.setTriggerLevel, '{broken', 'number'],
    [t.setMotion, 'ON', { type: 'motion', on: true }],
    [t.setMotion, 'off', { type: 'motion', on: false }],
    [t.setMotion, 'true', 'ON or OFF'],
    [t.setRecord, 'On', { type: 'record', on: true }],
    [t.setRecord, '', 'ON or OFF'],
    [t.setRecord, 'O'.repeat(65), 'longer than'],
  ];
  test.each(cases)('%s %j', (topic, payload, expected) => {
    const parsed = parseCommand(t, topic, Buffer.from(payload));
    if (typeof expected === 'string') expect(parsed).toEqual({ ok: false, reason: expect.stringContaining(expected) });
    else expect(parsed).toEqual({ ok: true, command: expected });
  });
  test('a topic that is not a command is not parsed', () => {
    expect(parseCommand(t, 'p/cam/motion', Buffer.from('ON'))).toBeNull();
    expect(parseCommand(t, 'p/cam/set/other', Buffer.from('ON'))).toBeNull();
  });
});

describe('score throttle', () => {
  const throttle = { intervalMs: 1000, minDelta: 0.5, heartbeatMs: 60_000 };
  const last = { score: 3, atMs: 10_000, above: false };
  const cases: Array<[string, typeof last | null, number, number, boolean]> = [
    ['first value', null, 3, 0, true],
    ['too soon even when changed a lot', last, 90, 10_500, false],
    ['changed enough after the interval', last, 3.5, 11_000, true],
    ['changed too little', last, 3.4, 11_000, false],
    ['crossed the trigger level by a little', { ...last, score: 5.9 }, 6.1, 11_000, true],
    ['unchanged until the heartbeat', last, 3, 69_999, false],
    ['unchanged at the heartbeat', last, 3, 70_000, true],
    ['not a number', last, Number.NaN, 20_000, false],
  ];
  test.each(cases)('%s', (_name, previous, score, nowMs, expected) => {
    expect(shouldPublishScore(previous, score, 6, nowMs, throttle)).toBe(expected);
  });
});

describe('discovery documents', () => {
  test('one per entity, unique ids, a shared device, retained config topics', () => {
    const config = resolveIntegrationsConfig({ mqtt: { url: 'mqtt://b', discovery: { prefix: 'ha', triggerLevelMax: 500, triggerLevelStep: 1 } } }, 'door').mqtt!;
    const messages = discoveryMessages(config, 'door', '1.0.0');
    expect(messages.map((m) => m.topic)).toEqual([
      'ha/binary_sensor/preroll_door/motion/config',
      'ha/sensor/preroll_door/score/config',
      'ha/number/preroll_door/trigger_level/config',
      'ha/switch/preroll_door/detection/config',
      'ha/switch/preroll_door/recording/config',
      'ha/image/preroll_door/snapshot/config',
    ]);
    expect(messages.map((m) => m.config.unique_id)).toEqual(['motion', 'score', 'trigger_level', 'detection', 'recording', 'snapshot'].map((o) => `preroll_door_${o}`));
    expect(new Set(messages.map((m) => JSON.stringify(m.config.device))).size).toBe(1);
    expect(messages[2].config).toMatchObject({ min: 0.1, max: 500, step: 1, command_topic: 'preroll/door/set/trigger_level' });
    expect(messages.map((m) => m.config.default_entity_id)).toEqual([
      'binary_sensor.preroll_door_motion',
      'sensor.preroll_door_score',
      'number.preroll_door_trigger_level',
      'switch.preroll_door_detection',
      'switch.preroll_door_recording',
      'image.preroll_door_snapshot',
    ]);
  });
  test('with labels on, a "detected" binary sensor per person / animal / vehicle that turns itself off', () => {
    const config = resolveIntegrationsConfig({ mqtt: { url: 'mqtt://b' } }, 'door').mqtt!;
    expect(discoveryMessages(config, 'door', '1.0.0', false, false)).toHaveLength(6);
    const messages = discoveryMessages(config, 'door', '1.0.0', false, true).slice(6);
    expect(messages.map((m) => m.topic)).toEqual(['person', 'animal', 'vehicle'].map((l) => `homeassistant/binary_sensor/preroll_door/${l}/config`));
    expect(messages[0].config).toMatchObject({ name: 'Person detected', state_topic: 'preroll/door/label/person', payload_on: 'ON', off_delay: 60 });
    expect(mqttTopics('p').label).toEqual({ person: 'p/label/person', animal: 'p/label/animal', vehicle: 'p/label/vehicle' });
  });
});

describe('outbox', () => {
  test('keeps the newest per key, drops the oldest beyond the count', () => {
    const box = createOutbox(3, 1_000_000);
    box.push({ topic: 'state', payload: 'A', retain: true }, 'state');
    box.push({ topic: 'e', payload: '1', retain: false });
    box.push({ topic: 'state', payload: 'B', retain: true }, 'state');
    expect(box.size).toBe(2);
    box.push({ topic: 'e', payload: '2', retain: false });
    const dropped = box.push({ topic: 'e', payload: '3', retain: false });
    expect(dropped.map((m) => m.payload)).toEqual(['1']);
    expect([box.shift(), box.shift(), box.shift(), box.shift()].map((m) => m?.payload)).toEqual(['B', '2', '3', undefined]);
    expect(box.bytes).toBe(0);
  });
  test('drops the oldest beyond the byte bound, even the message just added when it alone is too big', () => {
    const box = createOutbox(100, 10);
    box.push({ topic: 'a', payload: Buffer.alloc(6), retain: false });
    expect(box.push({ topic: 'b', payload: Buffer.alloc(6), retain: false }).map((m) => m.topic)).toEqual(['a']);
    expect(box.push({ topic: 'c', payload: Buffer.alloc(20), retain: false }).map((m) => m.topic)).toEqual(['b', 'c']);
    expect(box.size).toBe(0);
  });
});

describe('webhook retries and signatures', () => {
  const policy = { maxAttempts: 4, retryInitialMs: 1000, retryMaxMs: 5000 };
  const cases: Array<[string, number, Parameters<typeof webhookRetryDelayMs>[1], number | null]> = [
    ['500 after the first attempt', 1, { kind: 'status', status: 500 }, 1000],
    ['503 after the second', 2, { kind: 'status', status: 503 }, 2000],
    ['network error after the third', 3, { kind: 'network', message: 'ECONNREFUSED' }, 4000],
    ['after the last attempt', 4, { kind: 'timeout' }, null],
    ['404 is final', 1, { kind: 'status', status: 404 }, null],
    ['401 is final', 1, { kind: 'status', status: 401 }, null],
    ['301 is final', 1, { kind: 'status', status: 301 }, null],
    ['429 waits for Retry-After', 1, { kind: 'status', status: 429, retryAfterS: 3 }, 3000],
    ['Retry-After capped', 1, { kind: 'status', status: 429, retryAfterS: 3600 }, 5000],
    ['408 is retried', 1, { kind: 'status', status: 408 }, 1000],
  ];
  test.each(cases)('%s', (_name, attempts, outcome, expected) => {
    expect(webhookRetryDelayMs(attempts, outcome, policy)).toBe(expected);
  });
  test('retryable statuses and Retry-After', () => {
    expect([200, 400, 408, 429, 500, 502].map(isRetryableStatus)).toEqual([false, false, true, true, true, true]);
    expect(parseRetryAfterS('120', 0)).toBe(120);
    expect(parseRetryAfterS(new Date(30_000).toUTCString(), 0)).toBe(30);
    expect(parseRetryAfterS('soon', 0)).toBeNull();
    expect(parseRetryAfterS(undefined, 0)).toBeNull();
  });
  test('the signature covers the timestamp and the body', () => {
    const a = signWebhook('secret-0123456789', 1700000000, '{"a":1}');
    expect(a).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(signWebhook('secret-0123456789', 1700000001, '{"a":1}')).not.toBe(a);
    expect(signWebhook('secret-0123456789', 1700000000, '{"a":2}')).not.toBe(a);
  });
  test('webhook URLs are shown without path or query', () => {
    expect(redactWebhookUrl('https://hooks.example.com/services/T0/B0/XYZ?x=1')).toBe('https://hooks.example.com/…');
    expect(redactWebhookUrl('http://user:pw@127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/');
  });
});

describe('rclone', () => {
  const record = makeRecord({ id: '2024-05-01_12-00-00-000_photo', kind: 'photo', camera: 'garden', day: '2024-05-01' });
  test('path template and destination', () => {
    expect(renderPathTemplate('preroll/{camera}/{year}/{month}/{day}/{kind}', record)).toBe('preroll/garden/2024/05/2024-05-01/photo');
    expect(rcloneDestination('gdrive:', 'preroll/x/', 'a.mp4')).toBe('gdrive:preroll/x/a.mp4');
    expect(rcloneDestination('s3:bucket', 'x', 'a.mp4')).toBe('s3:bucket/x/a.mp4');
    expect(rcloneDestination('s3:bucket/', '', 'a.mp4')).toBe('s3:bucket/a.mp4');
  });
  test('the plan uploads the clip first and a file listed twice once', () => {
    const photo = { ...record, files: { ...record.files, clip: 'events/2024-05-01/p.jpg', snapshot: 'events/2024-05-01/p.jpg' } };
    const plan = uploadPlan({ remote: 'r:', pathTemplate: '{day}', files: ['snapshot', 'thumbnail', 'sidecar'] }, photo, '/data/events/2024-05-01/p.jpg', '/data');
    expect(plan).toEqual([
      { local: '/data/events/2024-05-01/p.jpg', destination: 'r:2024-05-01/p.jpg' },
      { local: `/data/${record.files.sidecar}`, destination: `r:2024-05-01/${record.id}.json` },
    ]);
  });
  test('argv: copyto, own retries, config file, extra args', () => {
    expect(rcloneCopyArgs({ rcloneConfigPath: '/etc/rclone.conf', extraArgs: ['--bwlimit', '1M'] }, { local: '/a.mp4', destination: 'r:x/a.mp4' })).toEqual([
      'copyto', '/a.mp4', 'r:x/a.mp4', '--retries', '1', '--low-level-retries', '3', '--config', '/etc/rclone.conf', '--bwlimit', '1M',
    ]);
  });
  test('secrets are redacted from what is logged', () => {
    expect(
      redactRcloneArgs([
        'copyto',
        '/a.mp4',
        ':s3,provider=AWS,access_key_id=AKIA123,secret_access_key=hunter2:bucket/x/a.mp4',
        '--s3-secret-access-key',
        'hunter3',
        '--sftp-pass=hunter4',
        'webdav://user:hunter5@host/dav',
        '--bwlimit',
        '1M',
      ]),
    ).toEqual([
      'copyto',
      '/a.mp4',
      ':s3,provider=AWS,access_key_id=***,secret_access_key=***:bucket/x/a.mp4',
      '--s3-secret-access-key',
      '***',
      '--sftp-pass=***',
      'webdav://user:***@host/dav',
      '--bwlimit',
      '1M',
    ]);
  });
});

describe('event summary', () => {
  test('carries the record fields and API links, no absolute paths', () => {
    const s = eventSummary(makeRecord({ files: { clip: 'events/d/a.mp4', snapshot: null, thumbnail: null, heatmap: null, sidecar: 'events/d/a.json' } }));
    expect(s).toMatchObject({ type: 'recording.finished', version: 1, kind: 'motion', links: { snapshot: null } });
    expect(s.links.clip).toBe(`/api/events/${s.id}/clip`);
    expect(JSON.stringify(s)).not.toContain('/tmp');
  });
});
