import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { startTestServer, tempDataDir } from './server-helpers';

/** An HTTPS request that trusts only the test's own certificate. */
function httpsCall(url: string, ca: Buffer, method = 'GET', body?: unknown): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, ca, headers: body ? { 'Content-Type': 'application/json', Origin: new URL(url).origin } : {} }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

describe('TLS', () => {
  test('serves HTTPS with the configured certificate, HSTS, and session cookies are Secure', async () => {
    const dir = tempDataDir();
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
    const server = await startTestServer({ server: { dataDir: join(dir, 'data'), host: '127.0.0.1', port: 0, tls: { certPath, keyPath } }, password: 'tls test password' });
    const base = `https://127.0.0.1:${server.port}`;
    try {
      const ca = readFileSync(certPath);
      const health = await httpsCall(`${base}/healthz`, ca);
      expect(health.status).toBe(200);
      expect(health.headers['strict-transport-security']).toBe('max-age=15552000');
      const login = await httpsCall(`${base}/api/login`, ca, 'POST', { password: 'tls test password' });
      expect(login.status).toBe(204);
      expect(String(login.headers['set-cookie'])).toMatch(/; Secure/);
      await expect(httpsCall(`${base}/healthz`, Buffer.from(''))).rejects.toThrow(/self-signed|certificate/);
    } finally {
      await server.stop();
    }
  });

  test('an unreadable certificate stops the start with a clear error', async () => {
    const dir = tempDataDir();
    await expect(startTestServer({ server: { dataDir: dir, host: '127.0.0.1', port: 0, tls: { certPath: join(dir, 'none.pem'), keyPath: join(dir, 'none.key') } } })).rejects.toMatchObject({
      code: 'TLS_FILE_UNREADABLE',
    });
  });
});
