// A scripted stand-in for an OpenAI-compatible chat-completions server on 127.0.0.1 (what a local
// llama.cpp or Ollama server offers), so the gateway's openai driver can be driven offline. The
// script (JSON file in STUB_SCRIPT) is a list of steps; step i answers the request that already
// carries i tool messages:
//   {"tool": "<function name as offered>", "input": {...}}  -> a tool call, its arguments in pieces
//   {"hang": true}                                          -> a first text piece, then nothing more
//   anything past the end                                   -> a final text quoting the last result
// Answers stream as server-sent events ("data: {...}", then "data: [DONE]"). Every request is
// appended to STUB_LOG as one JSON line, with its authorization header. Prints "LISTENING <port>".
import http from 'node:http';
import fs from 'node:fs';

const script = JSON.parse(fs.readFileSync(process.env.STUB_SCRIPT, 'utf8'));
const logPath = process.env.STUB_LOG;

function chunk(res, delta, finish) {
  const c = { id: 'chatcmpl-stub', object: 'chat.completion.chunk', model: 'stub',
    choices: [{ index: 0, delta, finish_reason: finish || null }] };
  res.write(`data: ${JSON.stringify(c)}\n\n`);
}

function answer(res, body) {
  const tools = (body.messages || []).filter((m) => m.role === 'tool');
  const step = script[tools.length];
  const offered = new Set((body.tools || []).map((t) => t.function && t.function.name));
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  chunk(res, { role: 'assistant', content: '' });
  if (step && step.hang) {
    chunk(res, { content: 'thinking...' });
    return; // the answer never ends: the client has to give up
  }
  if (step && step.tool && offered.has(step.tool)) {
    const args = JSON.stringify(step.input || {});
    const half = Math.floor(args.length / 2);
    const id = `call_${tools.length}`;
    chunk(res, { tool_calls: [{ index: 0, id, type: 'function', function: { name: step.tool, arguments: args.slice(0, half) } }] });
    chunk(res, { tool_calls: [{ index: 0, function: { arguments: args.slice(half) } }] });
    chunk(res, {}, 'tool_calls');
  } else {
    const last = tools.length ? String(tools[tools.length - 1].content).slice(0, 400) : '';
    const text = step && step.tool ? `TOOL NOT OFFERED: ${step.tool}` : `FINAL ANSWER: ${last}`;
    chunk(res, { content: text.slice(0, 14) });
    chunk(res, { content: text.slice(14) });
    chunk(res, {}, 'stop');
  }
  res.end('data: [DONE]\n\n');
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"not found","type":"invalid_request_error"}}');
      return;
    }
    const body = JSON.parse(raw);
    if (logPath) fs.appendFileSync(logPath, JSON.stringify({ authorization: req.headers.authorization || null, body }) + '\n');
    answer(res, body);
  });
});
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
