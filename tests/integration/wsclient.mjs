// A real WebSocket client (the pinned `ws` package) driven line by line, for the gateway's chat
// tests: argv[2] is the URL, argv[3] a JSON object of options ({headers, autoPong}). Commands
// arrive on stdin as JSON lines; every event goes to stdout as a JSON line:
//   {"ev":"open"} {"ev":"message","data":"..."} {"ev":"ping"} {"ev":"close","code":N,"reason":"..."}
//   {"ev":"refused","status":N,"headers":{...},"body":"..."} {"ev":"error","message":"..."}
//   {"ev":"buffered","bytes":N} (answer to {"cmd":"buffered"})
// Commands: {"cmd":"send","text":"..."} | {"cmd":"send_hex","hex":"..."} (text frame of raw
// bytes) | {"cmd":"pause"} | {"cmd":"resume"} | {"cmd":"close"} | {"cmd":"buffered"}
import { createRequire } from 'node:module';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'node', 'package.json'));
const WebSocket = require('ws');

const url = process.argv[2];
const opts = JSON.parse(process.argv[3] || '{}');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const ws = new WebSocket(url, {
  headers: opts.headers || {},
  autoPong: opts.autoPong !== false,
  maxPayload: 64 * 1024 * 1024,
});

ws.on('open', () => out({ ev: 'open' }));
ws.on('message', (data, isBinary) => out({ ev: 'message', data: isBinary ? null : data.toString() }));
ws.on('ping', () => out({ ev: 'ping' }));
ws.on('close', (code, reason) => {
  out({ ev: 'close', code, reason: reason.toString() });
  process.exit(0);
});
ws.on('error', (e) => out({ ev: 'error', message: String(e.message || e) }));
ws.on('unexpected-response', (req, res) => {
  let body = '';
  res.on('data', (c) => { body += c; });
  res.on('end', () => {
    out({ ev: 'refused', status: res.statusCode, headers: res.headers, body });
    process.exit(0);
  });
});

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line);
  if (c.cmd === 'send') ws.send(c.text);
  else if (c.cmd === 'send_hex') ws.send(Buffer.from(c.hex, 'hex'), { binary: false });
  else if (c.cmd === 'pause') ws.pause();
  else if (c.cmd === 'resume') ws.resume();
  else if (c.cmd === 'close') ws.close(1000, 'bye');
  else if (c.cmd === 'buffered') out({ ev: 'buffered', bytes: ws.bufferedAmount });
});
