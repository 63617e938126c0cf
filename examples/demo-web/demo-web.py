#!/usr/bin/env python3
"""The demo web service `make run` supervises: it reads its config file (lines `key = value`:
port, greeting) and serves the greeting at / and {"ok": true} at /health on 127.0.0.1. A config
it cannot read makes it exit with status 2 and the reason, as a real service with a bad config
does. Python standard library only."""
import http.server
import json
import sys


def load(path):
    conf = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError("line %d: expected key = value" % n)
            conf[key.strip()] = value.strip()
    port = int(conf.get("port", ""))  # ValueError for a missing or non-numeric port
    if not 1 <= port <= 65535:
        raise ValueError("port %d out of range" % port)
    return port, conf.get("greeting", "hello")


class Handler(http.server.BaseHTTPRequestHandler):
    greeting = "hello"

    def do_GET(self):
        if self.path == "/health":
            body, kind = json.dumps({"ok": True}).encode(), "application/json"
        else:
            body, kind = (self.greeting + "\n").encode(), "text/plain"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("demo-web: " + fmt % args + "\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: demo-web.py CONFIG")
    try:
        port, greeting = load(sys.argv[1])
    except (OSError, ValueError) as e:
        sys.stderr.write("demo-web: bad config %s: %s\n" % (sys.argv[1], e))
        sys.exit(2)
    Handler.greeting = greeting
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sys.stderr.write("demo-web: serving on 127.0.0.1:%d\n" % port)
    server.serve_forever()


if __name__ == "__main__":
    main()
