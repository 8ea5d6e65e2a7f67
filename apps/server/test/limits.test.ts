import { scopeNeeded } from '../src/http/auth';
import { hostAllowed, hostName } from '../src/http/host';
import { effectiveMaxConnections, fdSoftLimit, FD_RESERVE } from '../src/http/limits';
import { redactDeep } from '../src/logger';

describe('pure decisions of the web layer', () => {
  test.each([
    ['127.0.0.1:8080', [], true],
    ['[::1]:8080', [], true],
    ['192.168.1.20', [], true],
    ['localhost:8080', [], true],
    ['app.localhost', [], true],
    ['evil.example:8080', [], false],
    ['cam.example.org:8080', ['cam.example.org'], true],
    ['CAM.Example.org.', ['cam.example.org'], true],
    ['a.home.example', ['*.home.example'], true],
    ['home.example', ['*.home.example'], false],
    ['evilhome.example', ['*.home.example'], false],
    ['bad host', [], false],
    ['[::1', [], false],
  ] as const)('Host %s with allowed %j: %s', (host, allowed, expected) => {
    expect(hostAllowed(host, allowed)).toBe(expected);
  });

  test('a request without Host (HTTP/1.0) is accepted; host names are parsed without port', () => {
    expect(hostAllowed(undefined, [])).toBe(true);
    expect(hostName('Example.org:80')).toBe('example.org');
    expect(hostName('[fe80::1]:80')).toBe('fe80::1');
  });

  test.each([
    ['GET', '/api/status', 'read'],
    ['HEAD', '/stream.mjpg', 'read'],
    ['PUT', '/api/trigger-level', 'control'],
    ['DELETE', '/api/events/abc', 'control'],
    ['POST', '/api/delete-all', 'admin'],
    ['POST', '/api/delete-all/confirm', 'admin'],
    ['POST', '/api/cameras/garden/delete-all', 'admin'],
    ['POST', '/api/reboot', 'admin'],
    ['POST', '/api/exit', 'admin'],
    ['POST', '/api/logout-all', 'admin'],
  ])('%s %s needs %s', (method, path, scope) => {
    expect(scopeNeeded(method, path)).toBe(scope);
  });

  test('the connection cap stays below the descriptor limit, with room for the recorder', () => {
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            160                  160                  files\n';
    expect(fdSoftLimit(limits)).toBe(160);
    expect(fdSoftLimit('Max open files            unlimited            unlimited            files\n')).toBeNull();
    expect(effectiveMaxConnections(128, 160)).toBe(160 - FD_RESERVE);
    expect(effectiveMaxConnections(128, 65_536)).toBe(128);
    expect(effectiveMaxConnections(128, 40)).toBe(8);
    expect(effectiveMaxConnections(128, null)).toBe(128);
    expect(fdSoftLimit()).toBeGreaterThan(0);
  });

  test('log redaction reaches nested strings, arrays and errors', () => {
    const out = JSON.stringify(
      redactDeep({ url: '/stream.mjpg?token=abc', stderr: ["from 'rtsp://u:pw@h/x'"], err: new Error('cannot open rtsp://u:pw@h/x'), n: 3 }),
    );
    expect(out).not.toMatch(/abc|:pw@/);
    expect(out).toContain('token=***');
    expect(out).toContain('rtsp://u:***@h/x');
  });
});
