#!/usr/bin/env python3
"""A stand-in for the claude CLI's stream-json output, for the gateway's chat tests that are about
the gateway itself (socket backpressure, abort, one turn at a time), where the timing and volume
must be controlled. The real CLI runs in tests/e2e/test_gateway_chat.py. The message (the argument
after "--") says what to do:
  echo   one assistant text describing how it was started, then the result
  sleep  writes its pid to $STANDIN_PID_FILE and waits until it is killed
  flood N  N assistant messages of 16 KiB text each
  fail   two lines on stderr and exit status 3, without a result
  apierror  a result with is_error and api_error_status 401
It never prints a secret, only whether one was given."""
import json
import os
import sys
import time

argv = sys.argv[1:]
msg = argv[argv.index("--") + 1] if "--" in argv else ""
sid = "standin-session-1"


def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def assistant(text):
    out({"type": "assistant", "session_id": sid,
         "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})


out({"type": "system", "subtype": "init", "session_id": sid})
if msg == "echo":
    opt = lambda name: argv[argv.index(name) + 1] if name in argv else None
    assistant(json.dumps({
        "resume": opt("--resume"), "model": opt("--model"),
        "allowed": opt("--allowedTools"), "disallowed": opt("--disallowedTools"),
        "strict": "--strict-mcp-config" in argv, "mcp_config": opt("--mcp-config"),
        "api_key_given": bool(os.environ.get("ANTHROPIC_API_KEY")),
        "secret_in_argv": any(os.environ.get("ANTHROPIC_API_KEY", "\0") in a for a in argv),
        "cwd": os.getcwd()}))
elif msg == "sleep":
    with open(os.environ["STANDIN_PID_FILE"], "w") as f:
        f.write(str(os.getpid()))
    while True:
        time.sleep(3600)
elif msg == "fail":
    sys.stderr.write("starting\nthe model endpoint refused the key\n")
    sys.exit(3)
elif msg == "apierror":
    out({"type": "result", "subtype": "success", "is_error": True, "api_error_status": 401,
         "session_id": sid, "result": "Invalid API key"})
    sys.exit(1)
elif msg.startswith("flood "):
    chunk = "x" * 16384
    for i in range(int(msg.split()[1])):
        assistant("%08d" % i + chunk)
out({"type": "result", "subtype": "success", "is_error": False, "session_id": sid,
     "result": "ok"})
