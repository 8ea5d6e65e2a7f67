#!/usr/bin/env node
// Used by deploy/install.sh after (re)starting the service: waits until Preroll's /healthz
// answers 200, then prints the page's URL (with HOST where the machine's name goes) and exits 0;
// exits 1 after the deadline. Reads the effective configuration (`preroll config print`) on
// stdin, so the port, the address and HTTPS (server.tls) are the ones the service uses.
//
//   node apps/server/dist/src/cli.js config print /etc/preroll/config.json | node deploy/wait-ready.js [SECONDS]
'use strict';

const deadlineMs = Date.now() + Number(process.argv[2] || 60) * 1000;
let text = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => (text += chunk));
process.stdin.on('end', () => {
  let server;
  try {
    ({ server } = JSON.parse(text));
  } catch (error) {
    process.stderr.write(`wait-ready: the configuration on stdin is not JSON: ${error.message}\n`);
    process.exit(1);
  }
  const scheme = server.tls ? 'https' : 'http';
  const client = require(scheme);
  // A wildcard address is reachable on loopback; a specific one only on itself.
  const host = ['0.0.0.0', '::', '127.0.0.1', 'localhost'].includes(server.host) ? '127.0.0.1' : server.host;
  const retry = () => (Date.now() > deadlineMs ? process.exit(1) : setTimeout(poll, 1000));
  const poll = () => {
    let done = false;
    const once = () => {
      if (!done) {
        done = true;
        retry();
      }
    };
    client
      // The certificate is not checked: a self-signed one is normal on a home network.
      .get({ host, port: server.port, path: '/healthz', rejectUnauthorized: false, timeout: 5000 }, (res) => {
        res.resume();
        if (res.statusCode === 200) {
          process.stdout.write(`${scheme}://${host === '127.0.0.1' ? 'HOST' : host}:${server.port}/\n`);
          process.exit(0);
        }
        once();
      })
      .on('timeout', function onTimeout() {
        this.destroy(new Error('timed out'));
      })
      .on('error', once);
  };
  poll();
});
