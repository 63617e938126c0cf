// Opens N WebSocket chat sockets (the pinned `ws` client) to the gateway and keeps them idle:
// argv[2] the /ws URL, argv[3] a file of session cookies (one a line; each opens up to 3 sockets,
// the per-token limit), argv[4] N. Prints "OPEN <n>" once all are open (or "FAILED <reason>"),
// then "CLOSED <n>" when stdin ends, counting sockets the server closed meanwhile.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'node', 'package.json'));
const WebSocket = require('ws');

const [url, cookieFile, nArg] = process.argv.slice(2);
const cookies = fs.readFileSync(cookieFile, 'utf8').split('\n').filter(Boolean);
const n = Number(nArg);
const origin = new URL(url).origin.replace('ws:', 'http:');
let open = 0, closedEarly = 0, done = false;
const sockets = [];

for (let i = 0; i < n; i++) {
  const ws = new WebSocket(url, { headers: { Cookie: cookies[Math.floor(i / 3)], Origin: origin } });
  ws.on('open', () => { if (++open === n) process.stdout.write(`OPEN ${open}\n`); });
  ws.on('close', () => { if (!done) closedEarly++; });
  ws.on('unexpected-response', (req, res) => {
    process.stdout.write(`FAILED socket ${i}: HTTP ${res.statusCode}\n`);
    process.exit(1);
  });
  ws.on('error', () => {});
  sockets.push(ws);
}
process.stdin.on('data', () => {});
process.stdin.on('end', () => {
  done = true;
  process.stdout.write(`CLOSED ${closedEarly}\n`);
  process.exit(0);
});
