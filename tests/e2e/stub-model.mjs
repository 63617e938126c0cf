// A scripted stand-in for the Anthropic Messages API on 127.0.0.1, so the real Claude Code CLI
// can be driven deterministically and offline. The script (JSON file in STUB_SCRIPT) is a list of
// steps; step i answers the request that already carries i tool results:
//   {"tool": "<tool name as offered>", "input": {...}}  -> a tool_use block
//   anything past the end                               -> a final text quoting the last result
// Every request is appended to STUB_LOG as one JSON line. Prints "LISTENING <port>" when ready.
import http from 'node:http';
import fs from 'node:fs';

const script = JSON.parse(fs.readFileSync(process.env.STUB_SCRIPT, 'utf8'));
const logPath = process.env.STUB_LOG;

function toolResults(messages) {
  const results = [];
  for (const m of messages || []) {
    if (m.role !== 'user' || !Array.isArray(m.content)) continue;
    for (const block of m.content) if (block.type === 'tool_result') results.push(block);
  }
  return results;
}

function resultText(block) {
  if (typeof block.content === 'string') return block.content;
  return (block.content || []).map((c) => c.text || '').join('');
}

function reply(body) {
  const results = toolResults(body.messages);
  const step = script[results.length];
  const offered = new Set((body.tools || []).map((t) => t.name));
  if (step && step.tool) {
    if (!offered.has(step.tool)) return { type: 'text', text: `TOOL NOT OFFERED: ${step.tool}` };
    return { type: 'tool_use', id: `toolu_${results.length}`, name: step.tool, input: step.input || {} };
  }
  const last = results.length ? resultText(results[results.length - 1]).slice(0, 400) : '';
  return { type: 'text', text: `FINAL ANSWER: ${last}` };
}

function message(block, model) {
  return {
    id: 'msg_stub', type: 'message', role: 'assistant', model,
    content: [block], stop_reason: block.type === 'tool_use' ? 'tool_use' : 'end_turn',
    stop_sequence: null, usage: { input_tokens: 10, output_tokens: 10 },
  };
}

function sse(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`);
}

function stream(res, msg) {
  const block = msg.content[0];
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  sse(res, 'message_start', { message: { ...msg, content: [], stop_reason: null } });
  if (block.type === 'tool_use') {
    sse(res, 'content_block_start', { index: 0, content_block: { ...block, input: {} } });
    sse(res, 'content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
  } else {
    sse(res, 'content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    sse(res, 'content_block_delta', { index: 0, delta: { type: 'text_delta', text: block.text } });
  }
  sse(res, 'content_block_stop', { index: 0 });
  sse(res, 'message_delta', { delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: 10 } });
  sse(res, 'message_stop', {});
  res.end();
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    if (req.method !== 'POST' || !req.url.startsWith('/v1/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"not found"}}');
      return;
    }
    const body = JSON.parse(raw);
    if (logPath) fs.appendFileSync(logPath, JSON.stringify(body) + '\n');
    const msg = message(reply(body), body.model || 'stub-model');
    if (body.stream) stream(res, msg);
    else { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(msg)); }
  });
});

server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
});
