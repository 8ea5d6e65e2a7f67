import { execFile, execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { which } from '@preroll/process';
import { main } from '../src/cli';
import { memoryIo } from './io';
import { startTestServer } from './server-helpers';

/**
 * The deployment files: deploy/*.sh, the systemd unit, the installer's output, the Dockerfile and
 * the Samba snippet of docs/samba.md, checked with the real tools where this machine has them.
 * Tests that need a missing tool are skipped with the reason in their name.
 */

const REPO = resolve(__dirname, '../../..');
const DEPLOY = join(REPO, 'deploy');
const INSTALL = join(DEPLOY, 'install.sh');
const NODE = which('node') ?? process.execPath;
const isRoot = process.getuid?.() === 0;

function run(command: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', input: options.input, timeout: options.timeoutMs ?? 20_000, shell: false });
}
function install(args: readonly string[]): { code: number | null; out: string; lines: string[] } {
  const result = run('sh', [INSTALL, ...args]);
  const out = `${result.stdout}${result.stderr}`;
  return { code: result.status, out, lines: out.split('\n').filter(Boolean) };
}
/** Every file under a directory with its mode and a hash of its content. */
function snapshot(root: string): Record<string, string> {
  const found: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = statSync(path);
      const rel = path.slice(root.length);
      if (stat.isDirectory()) {
        found[`${rel}/`] = (stat.mode & 0o7777).toString(8);
        walk(path);
      } else {
        found[rel] = `${(stat.mode & 0o7777).toString(8)} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
      }
    }
  };
  if (existsSync(root)) walk(root);
  return found;
}
/** `Key=value` lines of a unit file, by key (a key may repeat). */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) keys.set(match[1], [...(keys.get(match[1]) ?? []), match[2]]);
  }
  return keys;
}
function megabytes(value: string): number {
  const match = /^(\d+)([KMG])$/.exec(value);
  if (!match) throw new Error(`not a size: ${value}`);
  return Number(match[1]) * { K: 1 / 1024, M: 1, G: 1024 }[match[2] as 'K' | 'M' | 'G'];
}

const shellcheck = which('shellcheck');
const systemdAnalyze = which('systemd-analyze');
const testparm = which('testparm');

describe('deploy scripts', () => {
  const scripts = readdirSync(DEPLOY).filter((name) => name.endsWith('.sh'));

  test('deploy/ has the installer and the quick-start script', () => {
    expect(scripts).toEqual(expect.arrayContaining(['install.sh', 'setup.sh']));
  });

  (shellcheck ? test.each(scripts) : test.skip.each(scripts))(`shellcheck passes on deploy/%s${shellcheck ? '' : ' (skipped: shellcheck is not installed)'}`, (name) => {
    const result = run(shellcheck as string, ['--shell=sh', '--severity=style', join(DEPLOY, name)]);
    expect(result.stdout).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('the systemd unit', () => {
  const text = readFileSync(join(DEPLOY, 'preroll.service'), 'utf8');
  const keys = unitKeys(text);
  const one = (key: string): string => {
    const values = keys.get(key);
    if (!values || values.length !== 1) throw new Error(`${key}: expected one value, got ${JSON.stringify(values)}`);
    return values[0];
  };

  test('runs the CLI as preroll with the config file, restarts on failure, logs to journald', () => {
    expect(one('ExecStart')).toBe('/usr/bin/node /opt/preroll/apps/server/dist/src/cli.js serve --config /etc/preroll/config.json');
    expect(one('User')).toBe('preroll');
    expect(one('SupplementaryGroups')).toBe('video');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartSec')).toMatch(/^\d+s$/);
    expect(one('StandardOutput')).toBe('journal');
    expect(one('EnvironmentFile')).toBe('-/etc/preroll/env');
    expect(one('WantedBy')).toBe('multi-user.target');
  });

  test('is hardened: read-only system but the data directory, private /tmp, no home, no new privileges', () => {
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(one('ProtectSystem')).toBe('strict');
    expect(one('ReadWritePaths')).toBe('/var/lib/preroll');
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    // The camera needs /dev: no PrivateDevices, no DevicePolicy.
    expect(keys.has('PrivateDevices')).toBe(false);
    expect(keys.has('DevicePolicy')).toBe(false);
    // V8 writes executable memory.
    expect(keys.has('MemoryDenyWriteExecute')).toBe(false);
  });

  test('memory limits fit a Pi Zero 2 W (512 MB) and stopping leaves time to close the clip', () => {
    const high = megabytes(one('MemoryHigh'));
    const max = megabytes(one('MemoryMax'));
    expect(high).toBeLessThan(max);
    expect(max).toBeLessThanOrEqual(400);
    expect(high).toBeGreaterThanOrEqual(256);
    expect(one('KillSignal')).toBe('SIGTERM');
    // Only node gets SIGTERM; it stops rpicam-vid and ffmpeg itself after finishing the clip.
    expect(one('KillMode')).toBe('mixed');
    expect(Number(/^(\d+)s$/.exec(one('TimeoutStopSec'))?.[1])).toBeGreaterThanOrEqual(60);
  });

  (systemdAnalyze ? test : test.skip)(`systemd-analyze verify accepts the unit without a warning${systemdAnalyze ? '' : ' (skipped: systemd-analyze is not installed)'}`, () => {
    const result = run(systemdAnalyze as string, ['verify', join(DEPLOY, 'preroll.service')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('install.sh', () => {
  const base = mkdtempSync(join(tmpdir(), 'preroll-install-'));

  test('--dry-run --root lists every file it would write and writes nothing', () => {
    const root = join(base, 'dry');
    const { code, lines } = install(['--dry-run', '--root', root]);
    expect(code).toBe(0);
    for (const path of ['/var/lib/preroll', '/var/lib/preroll/events', '/etc/preroll']) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^install: would create ${root}${path} `)));
    for (const path of ['/etc/preroll/config.json', '/etc/preroll/env', '/etc/polkit-1/rules.d/50-preroll-reboot.rules', '/usr/local/bin/preroll', '/etc/systemd/system/preroll.service']) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^install: would write ${root}${path} `)));
    }
    expect(lines).toContain('install: skip user preroll (--root)');
    expect(lines[lines.length - 1]).toBe('install: dry run: nothing was changed');
    expect(existsSync(root)).toBe(false);
  });

  test('a world-readable configuration kept from an older install is made 0640', () => {
    const root = join(base, 'old-mode');
    expect(install(['--root', root]).code).toBe(0);
    const config = join(root, 'etc/preroll/config.json');
    chmodSync(config, 0o644);
    const content = readFileSync(config, 'utf8');
    const again = install(['--root', root]);
    expect(again.code).toBe(0);
    expect(again.lines).toContain(`install: fixed ${config} (mode 0640)`);
    expect(statSync(config).mode & 0o777).toBe(0o640);
    expect(readFileSync(config, 'utf8')).toBe(content);
  });

  test('--root writes the files; a second run changes nothing; a dry run then has nothing to do', () => {
    const root = join(base, 'staged');
    const first = install(['--root', root]);
    expect(first.code).toBe(0);
    const files = snapshot(root);
    expect(files).toMatchObject({
      // It may hold MQTT and webhook secrets: root and the preroll group only.
      '/etc/preroll/config.json': expect.stringMatching(/^640 /),
      '/etc/preroll/env': expect.stringMatching(/^600 /),
      '/etc/systemd/system/preroll.service': expect.stringMatching(/^644 /),
      '/etc/polkit-1/rules.d/50-preroll-reboot.rules': expect.stringMatching(/^644 /),
      '/usr/local/bin/preroll': expect.stringMatching(/^755 /),
      '/var/lib/preroll/': '750',
      '/var/lib/preroll/events/': '750',
    });

    const second = install(['--root', root]);
    expect(second.code).toBe(0);
    expect(second.lines.filter((line) => /^install: (wrote|updated|created|fixed) /.test(line))).toEqual([]);
    expect(snapshot(root)).toEqual(files);
    const dry = install(['--dry-run', '--root', root]);
    expect(dry.lines.filter((line) => line.startsWith('install: would '))).toEqual([]);
  });

  test('the installed unit runs this checkout with this node, and passes systemd-analyze where available', () => {
    const root = join(base, 'unit');
    install(['--root', root]);
    const unit = readFileSync(join(root, 'etc/systemd/system/preroll.service'), 'utf8');
    expect(unitKeys(unit).get('ExecStart')).toEqual([`${NODE} ${REPO}/apps/server/dist/src/cli.js serve --config /etc/preroll/config.json`]);
    expect(unitKeys(unit).get('WorkingDirectory')).toEqual([REPO]);
    if (systemdAnalyze) {
      const result = run(systemdAnalyze, ['verify', join(root, 'etc/systemd/system/preroll.service')]);
      expect(result.stderr).toBe('');
    }
  });

  test('the default configuration passes `preroll config check`, keeps recordings in /var/lib/preroll and can reboot without sudo', async () => {
    const root = join(base, 'config');
    install(['--root', root]);
    const file = join(root, 'etc/preroll/config.json');
    const io = memoryIo();
    expect(await main(['config', 'check', file], io)).toBe(0);
    expect(io.out()).toBe(`${file}: ok\n`);
    const config = JSON.parse(readFileSync(file, 'utf8'));
    expect(config.server.dataDir).toBe('/var/lib/preroll');
    // NoNewPrivileges makes sudo useless; systemctl asks logind, which asks polkit (the rule).
    expect(config.actions.rebootCommand).toEqual(['systemctl', 'reboot']);
    expect(config.camera.profile).toBe('auto');
    // Size, rate and encoder are left to the Pi model's profile.
    expect(config.camera.width).toBeUndefined();
    expect(config.recorder).toBeUndefined();
  });

  test('an edited configuration and environment file are kept when the installer runs again', () => {
    const root = join(base, 'edited');
    install(['--root', root]);
    const config = join(root, 'etc/preroll/config.json');
    const env = join(root, 'etc/preroll/env');
    writeFileSync(config, '{"server":{"port":9000}}\n');
    writeFileSync(env, 'PREROLL_PASSWORD=mine and only mine\n');
    const again = install(['--root', root]);
    expect(again.lines).toContain(`install: kept ${config} (exists; not overwritten)`);
    expect(readFileSync(config, 'utf8')).toBe('{"server":{"port":9000}}\n');
    expect(readFileSync(env, 'utf8')).toBe('PREROLL_PASSWORD=mine and only mine\n');
  });

  (shellcheck ? test : test.skip)(`the CLI wrapper it installs passes shellcheck${shellcheck ? '' : ' (skipped: shellcheck is not installed)'}`, () => {
    const root = join(base, 'wrapper');
    install(['--root', root]);
    const wrapper = join(root, 'usr/local/bin/preroll');
    const result = run(shellcheck as string, ['--severity=style', wrapper]);
    expect(result.stdout).toBe('');
    expect(readFileSync(wrapper, 'utf8')).toContain(`exec runuser -u preroll -- ${NODE} ${REPO}/apps/server/dist/src/cli.js "$@"`);
  });

  test('--uninstall keeps the configuration and the recordings; --purge deletes them', () => {
    const root = join(base, 'uninstall');
    install(['--root', root]);
    const clip = join(root, 'var/lib/preroll/events/2025-01-01/2025-01-01_12-00-00-000_motion.mp4');
    mkdirSync(join(clip, '..'), { recursive: true });
    writeFileSync(clip, 'a recording');
    const dry = install(['--uninstall', '--dry-run', '--root', root]);
    expect(dry.lines).toContain(`install: would remove ${root}/etc/systemd/system/preroll.service`);
    expect(existsSync(join(root, 'etc/systemd/system/preroll.service'))).toBe(true);

    const removed = install(['--uninstall', '--root', root]);
    expect(removed.code).toBe(0);
    for (const gone of ['etc/systemd/system/preroll.service', 'etc/polkit-1/rules.d/50-preroll-reboot.rules', 'usr/local/bin/preroll']) expect(existsSync(join(root, gone))).toBe(false);
    expect(readFileSync(clip, 'utf8')).toBe('a recording');
    expect(existsSync(join(root, 'etc/preroll/config.json'))).toBe(true);

    expect(install(['--purge', '--root', root]).code).toBe(2);
    const purged = install(['--uninstall', '--purge', '--root', root]);
    expect(purged.code).toBe(0);
    expect(purged.lines).toContain(`install: deleting every recording: 1 clips in ${root}/var/lib/preroll`);
    expect(existsSync(join(root, 'var/lib/preroll'))).toBe(false);
    expect(existsSync(join(root, 'etc/preroll'))).toBe(false);
  });

  test('--dry-run on this machine plans the packages, the build, the user and systemd, and changes nothing', () => {
    const before = ['/etc/preroll', '/var/lib/preroll', '/etc/systemd/system/preroll.service'].map(existsSync);
    const { code, out, lines } = install(['--dry-run']);
    if (/^\/(home|root)(\/|$)/.test(REPO)) {
      // The service cannot read a home directory (ProtectHome): a real run stops there; the dry
      // run warns where to move the checkout and goes on planning.
      expect(out).toMatch(/warning: the checkout .* is in a home directory.*\n.*\/opt\/preroll/);
    }
    expect(code).toBe(0);
    expect(lines).toContainEqual(expect.stringMatching(/^install: would run: deploy\/setup\.sh as \S+ /));
    expect(out).toMatch(/install: (would run: useradd --system .* preroll|ok user preroll)/);
    expect(out).toMatch(/\/etc\/preroll\/config\.json/);
    expect(out).toMatch(/\/etc\/systemd\/system\/preroll\.service/);
    expect(lines[lines.length - 1]).toBe('install: dry run: nothing was changed');
    expect(['/etc/preroll', '/var/lib/preroll', '/etc/systemd/system/preroll.service'].map(existsSync)).toEqual(before);
  });

  test('with Node 18 (what Bookworm ships) it stops before changing anything and says what to do', () => {
    // A `node` that answers like Debian Bookworm's: the installer's own version check decides.
    const bin = mkdtempSync(join(tmpdir(), 'preroll-node18-'));
    writeFileSync(join(bin, 'node'), '#!/bin/sh\n[ "$1" = --version ] && echo v18.19.0 && exit 0\nexit 1\n', { mode: 0o755 });
    // --dry-run: the check runs all the same, and nothing could be installed if it did not stop.
    const result = spawnSync('sh', [INSTALL, '--dry-run'], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, timeout: 20_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('Node.js v18.19.0 is too old; Preroll needs 20.19 or newer.');
    if (/^VERSION_CODENAME=bookworm$/m.test(existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '')) {
      expect(result.stderr).toContain('https://deb.nodesource.com/setup_22.x');
    }
    expect(result.stdout).not.toMatch(/^install: would (write|create)/m);
  });

  test('bad options are refused', () => {
    expect(install(['--frobnicate']).code).toBe(2);
    expect(install(['--root']).code).toBe(2);
  });
});

describe('deploy/wait-ready.js (the installer waits for the service with it)', () => {
  /** Runs it with a configuration on stdin, asynchronously (the server answering is in this process). */
  const waitReady = (server: Record<string, unknown>, seconds: number): Promise<{ code: number | null; out: string }> =>
    new Promise((done) => {
      const child = execFile(NODE, [join(DEPLOY, 'wait-ready.js'), String(seconds)], { timeout: 20_000 }, (_error, stdout) => done({ code: child.exitCode, out: stdout }));
      child.stdin?.end(JSON.stringify({ server }));
    });

  test('prints the URL once /healthz answers; gives up at the deadline when nothing does', async () => {
    const server = await startTestServer();
    try {
      expect(await waitReady({ host: '0.0.0.0', port: server.port }, 5)).toEqual({ code: 0, out: `http://HOST:${server.port}/\n` });
    } finally {
      await server.stop();
    }
    const started = Date.now();
    expect((await waitReady({ host: '0.0.0.0', port: server.port }, 2)).code).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
  });

  (which('openssl') ? test : test.skip)(`speaks HTTPS when server.tls is set (a self-signed certificate)${which('openssl') ? '' : ' (skipped: openssl is not installed)'}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-ready-'));
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
    const tls = { certPath, keyPath };
    const server = await startTestServer({ server: { host: '127.0.0.1', port: 0, dataDir: join(dir, 'data'), tls }, password: 'a long test password' });
    try {
      expect(await waitReady({ host: '127.0.0.1', port: server.port, tls }, 5)).toEqual({ code: 0, out: `https://HOST:${server.port}/\n` });
    } finally {
      await server.stop();
    }
  });
});

describe('the polkit rule for the reboot button', () => {
  const tools = ['unshare', 'setpriv', 'dbus-daemon', 'pkcheck'].every((tool) => which(tool)) && existsSync('/usr/lib/polkit-1/polkitd') && existsSync('/usr/share/polkit-1/actions/org.freedesktop.login1.policy');
  const usable = isRoot && tools;
  const why = !isRoot ? ' (skipped: needs root to run polkitd in a private namespace)' : !tools ? ' (skipped: polkitd, dbus-daemon, pkcheck or unshare missing)' : '';

  // The real polkitd, on a private system bus in its own mount and pid namespace, judges the
  // installed rule. The rule names the user preroll; the test swaps in `nobody`, which exists
  // everywhere, so it needs no user of its own.
  (usable ? test : test.skip)(`polkitd lets the service's user reboot, and nothing else${why}`, () => {
    const root = join(mkdtempSync(join(tmpdir(), 'preroll-polkit-')), 'root');
    install(['--root', root]);
    const rule = readFileSync(join(root, 'etc/polkit-1/rules.d/50-preroll-reboot.rules'), 'utf8');
    expect(rule).toContain('subject.user === "preroll"');
    const ruleForNobody = join(root, 'nobody.rules');
    writeFileSync(ruleForNobody, rule.replace('subject.user === "preroll"', 'subject.user === "nobody"'));
    const script = `
      set -u
      mount --make-rprivate /
      mount -t tmpfs tmpfs /run/dbus 2>/dev/null || { mkdir -p /run/dbus && mount -t tmpfs tmpfs /run/dbus; }
      mount -t tmpfs tmpfs /etc/polkit-1/rules.d
      cp "$1" /etc/polkit-1/rules.d/50-test.rules
      dbus-daemon --system --nofork --nopidfile 2>/dev/null &
      i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
      /usr/lib/polkit-1/polkitd --no-debug >/dev/null 2>&1 &
      # Ready when pkcheck gets an answer (1 is "error": polkitd not on the bus yet).
      i=0; while [ $i -lt 100 ]; do pkcheck --action-id org.freedesktop.login1.reboot --process $$ >/dev/null 2>&1; [ $? -ne 1 ] && break; sleep 0.1; i=$((i+1)); done
      for user in nobody daemon; do
        setpriv --reuid "$user" --regid "$(id -g "$user")" --clear-groups sleep 20 & subject=$!
        # Ask only once the child runs as that user: before setpriv switches, it is still root's.
        uid=$(id -u "$user"); i=0
        while [ "$(awk '/^Uid:/ {print $2}' /proc/$subject/status)" != "$uid" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
        for action in org.freedesktop.login1.reboot org.freedesktop.login1.reboot-multiple-sessions org.freedesktop.login1.power-off; do
          pkcheck --action-id "$action" --process "$subject" >/dev/null 2>&1
          echo "$user $action $?"
        done
      done`;
    const result = run('unshare', ['-m', '-p', '-f', '--mount-proc', 'sh', '-c', script, 'polkit-test', ruleForNobody], { timeoutMs: 20_000 });
    // pkcheck: 0 = authorized, 2 = not authorized.
    expect(result.stdout.trim().split('\n')).toEqual([
      'nobody org.freedesktop.login1.reboot 0',
      'nobody org.freedesktop.login1.reboot-multiple-sessions 0',
      'nobody org.freedesktop.login1.power-off 2',
      'daemon org.freedesktop.login1.reboot 2',
      'daemon org.freedesktop.login1.reboot-multiple-sessions 2',
      'daemon org.freedesktop.login1.power-off 2',
    ]);
  });
});

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const dockerWorks = Boolean(which('docker')) && run('docker', ['info'], { timeoutMs: 10_000 }).status === 0;

  test(`${dockerWorks ? '' : '(docker daemon not available: static checks only) '}builds from Debian trixie with setup.sh, runs as a non-root user with a data volume, port 8080 and a health check`, () => {
    const from = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(from.length).toBeGreaterThan(0);
    for (const image of from) expect(image).toBe('debian:trixie-slim');
    expect(text).toMatch(/apt-get install[^\n]*\\\n\s+nodejs npm ffmpeg/);
    expect(text).toMatch(/^RUN sh deploy\/setup\.sh/m);
    expect(text).toMatch(/^VOLUME \["\/var\/lib\/preroll"\]$/m);
    expect(text).toMatch(/^EXPOSE 8080$/m);
    expect(text).toMatch(/^USER preroll$/m);
    expect(text).toMatch(/^ENTRYPOINT \["node", "apps\/server\/dist\/src\/cli\.js"\]$/m);
    expect(text).toMatch(/^CMD \["serve"\]$/m);
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n');
    expect(ignore).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git']));
  });

  test('its HEALTHCHECK command answers 0 for a running Preroll and 1 when nothing listens', async () => {
    const match = /^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(text);
    expect(match).not.toBeNull();
    const argv = JSON.parse((match as RegExpExecArray)[1]) as string[];
    expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    // Asynchronously: the server answering it runs in this process.
    const check = (port: number): Promise<number | null> =>
      new Promise((done) => {
        const child = execFile(NODE, argv.slice(1), { env: { ...process.env, PREROLL_PORT: String(port) }, timeout: 10_000 });
        child.on('exit', (code) => done(code));
      });
    const server = await startTestServer();
    try {
      expect(await check(server.port)).toBe(0);
    } finally {
      await server.stop();
    }
    expect(await check(server.port)).toBe(1);
  });

  (dockerWorks ? test : test.skip)(`docker build succeeds${dockerWorks ? '' : ' (skipped: no docker daemon)'}`, () => {
    const result = spawnSync('docker', ['build', '-q', '-t', 'preroll-test', REPO], { encoding: 'utf8', timeout: 900_000 });
    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.status).toBe(0);
  }, 900_000);
});

describe('memory settings of the server', () => {
  // docs/benchmarks.md (Soak) measured these; every way of starting the server must use them.
  const settings = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
  const nodeOptions = ['--max-semi-space-size=2', '--max-old-space-size=256'];

  test('are the same in pnpm start, the systemd unit, the Docker image and the benches\' child server', () => {
    const start = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.start as string;
    for (const [name, value] of Object.entries(settings)) expect(start).toContain(`${name}=\${${name}:-${value}}`);
    expect(start).toContain(`node ${nodeOptions.join(' ')} apps/server/dist/src/cli.js serve`);

    const unit = unitKeys(readFileSync(join(DEPLOY, 'preroll.service'), 'utf8')).get('Environment') ?? [];
    const unitEnv = new Map(unit.map((line) => /^"?([A-Z_]+)=(.*?)"?$/.exec(line) as RegExpExecArray).map((m) => [m[1], m[2]] as const));
    for (const [name, value] of Object.entries(settings)) expect(unitEnv.get(name)).toBe(value);
    expect(unitEnv.get('NODE_OPTIONS')).toBe(nodeOptions.join(' '));

    const docker = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    for (const [name, value] of Object.entries(settings)) expect(docker).toMatch(new RegExp(`^\\s+${name}=${value} \\\\$`, 'm'));
    expect(docker).toContain(`NODE_OPTIONS="${nodeOptions.join(' ')}"`);

    const child = readFileSync(join(REPO, 'apps/server/src/bench/serve-child.ts'), 'utf8');
    for (const [name, value] of Object.entries(settings)) expect(child).toContain(`${name}: '${value}'`);
    expect(child).toContain(`NODE_OPTIONS: '${nodeOptions.join(' ')}'`);
  });

  test('node accepts the options in NODE_OPTIONS', () => {
    const withOptions = spawnSync(NODE, ['-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: nodeOptions.join(' ') },
      timeout: 20_000,
    });
    expect(withOptions.stderr).toBe('');
    expect(withOptions.status).toBe(0);
    // 256 MB of old generation plus the young generation (3 semi-spaces of 2 MB).
    expect(Number(withOptions.stdout) / 1024 / 1024).toBeGreaterThanOrEqual(256);
    expect(Number(withOptions.stdout) / 1024 / 1024).toBeLessThan(270);
  });
});

describe('Samba share of the recordings (docs/samba.md)', () => {
  const docs = readFileSync(join(REPO, 'docs/samba.md'), 'utf8');
  const snippet = /<!-- samba: share -->\s*```ini\n([\s\S]*?)```/.exec(docs)?.[1] ?? '';

  test('the documented share is read-only, for a named user, never for guests', () => {
    expect(snippet).toMatch(/^\[preroll\]$/m);
    expect(snippet).toMatch(/^\s*path = \/var\/lib\/preroll\/events$/m);
    expect(snippet).toMatch(/^\s*read only = yes$/m);
    expect(snippet).toMatch(/^\s*guest ok = no$/m);
    expect(snippet).toMatch(/^\s*valid users = \w+$/m);
  });

  (testparm ? test : test.skip)(`testparm -s accepts it and reads it as read-only, no guests, one user${testparm ? '' : ' (skipped: testparm is not installed: apt install samba-common-bin)'}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'preroll-samba-'));
    const conf = join(dir, 'smb.conf');
    writeFileSync(conf, `[global]\n   server role = standalone server\n   map to guest = never\n\n${snippet}`);
    const dump = run(testparm as string, ['-s', conf]);
    expect(dump.status).toBe(0);
    expect(`${dump.stdout}${dump.stderr}`).not.toMatch(/Unknown parameter|Ignoring unknown/i);
    const param = (name: string): string => run(testparm as string, ['-s', '--section-name=preroll', `--parameter-name=${name}`, conf]).stdout.trim();
    expect(param('read only')).toBe('Yes');
    expect(param('guest ok')).toBe('No');
    expect(param('path')).toBe('/var/lib/preroll/events');
    expect(param('valid users')).toMatch(/^\w+$/);
    expect(param('force user')).toBe('preroll');
  });
});
