import { Socket, connect } from 'node:net';
import { join } from 'node:path';
import { ffprobeJson } from '@preroll/process';
import { startChildServer, type ChildServer } from './child-server';
import { request, tempDataDir, waitFor } from './server-helpers';

const PASSWORD = 'slow clients password';

/**
 * Opens `count` connections that trickle a request one byte a second (half of them a login
 * body, half of them the headers themselves) from `localAddress`. Every socket is kept in
 * `sockets` so the test can destroy them all.
 */
function slowClients(port: number, count: number, localAddress: string, sockets: Set<Socket>, stats: { refused: number; closedByServer: number }): void {
  for (let i = 0; i < count; i++) {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    sockets.add(socket);
    socket.setNoDelay(true);
    const bodyMode = i % 2 === 0;
    const head = bodyMode
      ? `POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"password":"`
      : `GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`;
    let timer: NodeJS.Timeout | null = null;
    socket.on('connect', () => {
      socket.write(head);
      timer = setInterval(() => {
        if (!socket.destroyed) socket.write(bodyMode ? 'a' : 'X');
      }, 1000);
    });
    socket.on('error', () => {
      stats.refused++;
    });
    socket.on('close', () => {
      if (timer) clearInterval(timer);
      stats.closedByServer++;
      sockets.delete(socket);
    });
    socket.on('data', () => undefined);
  }
}

describe('attack: slow clients against a server with few descriptors', () => {
  let server: ChildServer | null = null;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await server?.stop();
    server = null;
  });

  test('300 slow requests under ulimit -n 160: no crash, the clip is finished, a logged-in client is answered', async () => {
    const dataDir = tempDataDir();
    server = startChildServer({ args: ['--source', 'demo', '--data', dataDir], env: { PREROLL_PASSWORD: PASSWORD }, fdLimit: 160 });
    const port = await server.port(60_000);
    const url = `http://127.0.0.1:${port}`;
    const login = await request(`${url}/api/login`, 'POST', { password: PASSWORD });
    expect(login.status).toBe(204);
    const cookie = { Cookie: (login.headers.get('set-cookie') as string).split(';')[0] };
    await waitFor(async () => (await request(`${url}/api/status`, 'GET', undefined, cookie)).body.fps > 0, 30_000, 'frames');
    expect((await request(`${url}/api/record/start`, 'POST', undefined, cookie)).status).toBe(200);

    const stats = { refused: 0, closedByServer: 0 };
    // Two loopback addresses: the attacker's own and the one the logged-in client shares.
    slowClients(port, 150, '127.0.0.2', sockets, stats);
    slowClients(port, 150, '127.0.0.1', sockets, stats);
    // Long enough for every header/body deadline to have run out at least once.
    const answered: number[] = [];
    let polls = 0;
    const until = Date.now() + 25_000;
    while (Date.now() < until) {
      polls++;
      const started = Date.now();
      const status = await request(`${url}/api/status`, 'GET', undefined, cookie).catch((error: Error) => ({ status: 0, body: error.message }));
      if (status.status === 200) answered.push(Date.now() - started);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(server.child.exitCode).toBeNull();
    // Answered nearly every time while under attack.
    expect(answered.length).toBeGreaterThanOrEqual(3);
    expect(answered.length / polls).toBeGreaterThanOrEqual(0.6);
    expect((await request(`${url}/api/record/stop`, 'POST', undefined, cookie)).status).toBe(200);
    const clip = await waitFor(async () => (await request(`${url}/api/events?kind=manual`, 'GET', undefined, cookie)).body.items?.[0], 30_000, 'the manual clip');
    const sidecar = (await request(`${url}/api/events/${clip.id}/sidecar`, 'GET', undefined, cookie)).body;
    const doc = await ffprobeJson(join(dataDir, sidecar.files.clip), ['-show_entries', 'format=duration']);
    expect(Number(doc.format.duration)).toBeGreaterThan(20);
    const crashes = server.rawStderr.filter((line) => /EMFILE|Uncaught|Error:/.test(line));
    expect(crashes).toEqual([]);
    // The server closed the slow ones itself (deadlines and caps), not the test.
    expect(stats.closedByServer).toBeGreaterThan(250);
    process.stdout.write(`slow clients: ${answered.length} of ${polls} polls answered, median ${answered.sort((a, b) => a - b)[answered.length >> 1]} ms, ${stats.closedByServer} slow sockets closed by the server\n`);
  }, 120_000);
});
