"""A scripted model server on 127.0.0.1 for the gateway's API drivers: the Anthropic Messages API
(POST /v1/messages, server-sent events with text and tool_use blocks) and OpenAI chat
completions (POST /v1/chat/completions, "data:" chunks with content and tool_calls, [DONE]).

It is not a model: each request takes the next step of the script the test gives it and renders
it in the wire format of the path that was called. A step is a dict:
  {"text": ["chunk", ...], "tools": [{"id", "name", "input"}], "usage": [input, output]}
      a response: the text streamed chunk by chunk, then the tool calls (their input JSON sent in
      pieces), stop_reason tool_use / finish_reason tool_calls when there are tools
  {"status": 401, "body": {...}}      an HTTP error with that JSON body
  {"raw": "bytes"}                    a 200 event stream with exactly these bytes (malformed)
  {"text": [...], "hang": True}       the chunks, then the connection held open until the client
                                      closes it (the stub notes that it did: self.closed)
  {"text": [...], "cut": True}        the chunks, then the connection closed without an end
A chat-completions request without stream true gets the step's text as one whole completion.
Every request is kept in self.requests as {"path", "headers", "body"} for the test to assert on.
Lines are written in pieces, with a flush between, so that the client must put lines back
together."""
import http.server
import json
import socketserver
import threading


def _pieces(s, n=3):
    """s cut into up to n pieces (the way providers split tool arguments)."""
    step = max(1, len(s) // n)
    return [s[i:i + step] for i in range(0, len(s), step)] or [""]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        stub = self.server.stub
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        with stub.lock:
            stub.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                  "body": parsed})
            step = stub.script.pop(0) if stub.script else {"status": 500,
                                                          "body": {"error": "script exhausted"}}
        if "status" in step:
            data = json.dumps(step["body"]).encode()
            self.send_response(step["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if self.path.endswith("/chat/completions") and not (parsed or {}).get("stream"):
            self._openai_whole(step, parsed or {})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        if "raw" in step:
            self.wfile.write(step["raw"].encode())
            return
        openai = self.path.endswith("/chat/completions")
        events = (self._openai if openai else self._anthropic)(step, parsed or {})
        try:
            for ev in events:
                half = len(ev) // 2
                self.wfile.write(ev[:half])
                self.wfile.flush()
                self.wfile.write(ev[half:])
                self.wfile.flush()
            if step.get("hang"):
                # hold the stream open until the client goes: a read returns b"" on its close
                self.connection.settimeout(60)
                self.connection.recv(1)
                stub.closed.set()
        except OSError:
            stub.closed.set()

    def _openai_whole(self, step, req):
        """A chat completion answered whole (stream false)."""
        usage = step.get("usage", [0, 0])
        data = json.dumps({
            "id": "chatcmpl-stub", "object": "chat.completion", "model": req.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": "".join(step.get("text", []))}}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    @staticmethod
    def _sse(name, obj):
        return ("event: %s\ndata: %s\n\n" % (name, json.dumps(obj))).encode()

    def _anthropic(self, step, req):
        usage = step.get("usage", [0, 0])
        yield self._sse("message_start", {"type": "message_start", "message": {
            "id": "msg_stub", "type": "message", "role": "assistant", "model": req.get("model"),
            "content": [], "stop_reason": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1}}})
        yield self._sse("ping", {"type": "ping"})
        index = 0
        if step.get("text"):
            yield self._sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                    "content_block": {"type": "text", "text": ""}})
            for chunk in step["text"]:
                yield self._sse("content_block_delta", {
                    "type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": chunk}})
            if step.get("hang") or step.get("cut"):
                return
            yield self._sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        for tool in step.get("tools", []):
            yield self._sse("content_block_start", {
                "type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": tool["id"], "name": tool["name"],
                                  "input": {}}})
            for piece in _pieces(json.dumps(tool["input"])):
                yield self._sse("content_block_delta", {
                    "type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece}})
            yield self._sse("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        yield self._sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use" if step.get("tools") else "end_turn"},
            "usage": {"output_tokens": usage[1]}})
        yield self._sse("message_stop", {"type": "message_stop"})

    @staticmethod
    def _chunk(delta, finish=None):
        return ("data: %s\n\n" % json.dumps({
            "id": "chatcmpl-stub", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})).encode()

    def _openai(self, step, req):
        usage = step.get("usage", [0, 0])
        yield self._chunk({"role": "assistant", "content": ""})
        for chunk in step.get("text", []):
            yield self._chunk({"content": chunk})
        if step.get("hang") or step.get("cut"):
            return
        for i, tool in enumerate(step.get("tools", [])):
            args = _pieces(json.dumps(tool["input"]))
            yield self._chunk({"tool_calls": [{"index": i, "id": tool["id"], "type": "function",
                                               "function": {"name": tool["name"],
                                                            "arguments": args[0]}}]})
            for piece in args[1:]:
                yield self._chunk({"tool_calls": [{"index": i,
                                                   "function": {"arguments": piece}}]})
        yield self._chunk({}, "tool_calls" if step.get("tools") else "stop")
        if (req.get("stream_options") or {}).get("include_usage"):
            yield ("data: %s\n\n" % json.dumps({
                "id": "chatcmpl-stub", "object": "chat.completion.chunk", "choices": [],
                "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}})).encode()
        yield b"data: [DONE]\n\n"


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class ModelStub:
    """Serves the script on 127.0.0.1:<free port> from a thread: with ModelStub(script) as m."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self.lock = threading.Lock()
        self.closed = threading.Event()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.stub = self
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
