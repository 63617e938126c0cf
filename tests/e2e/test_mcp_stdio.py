"""The bridge over stdio answers a message over the size cap with the request's id, recovered
from the bytes (the top-level "id", wherever it stands), so a client waiting for that id gets its
error instead of waiting for ever; the bridge goes on serving afterwards."""
import json
import shutil
import tempfile
import unittest

import mcptest

CAP = 1024 * 1024  # MCP_MESSAGE_MAX


def huge_request(id_, size, nested_ids=True):
    """A tools/call whose params hold `size` bytes of strings with quotes, braces and "id" keys,
    with its own id after them."""
    piece = {"id": 1, "s": "\"}]{[\\", "inner": [{"id": "not-this-one"}]}
    params = {"name": "system_health", "arguments": {"blob": [piece] * (size // 60)}}
    if not nested_ids:
        params = {"name": "system_health", "arguments": {"blob": "x" * size}}
    text = '{"jsonrpc":"2.0","method":"tools/call","params":%s' % json.dumps(params)
    if id_ is not None:
        text += ',"id":%s' % json.dumps(id_)
    return (text + "}").encode()


class StdioOversized(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="osmoda-stdio-")
        self.bridge = mcptest.StdioBridge(self.tmp).start()
        self.bridge.initialize()

    def tearDown(self):
        rc, err = self.bridge.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(rc, 0, err[-2000:])
        self.assertEqual(mcptest.sanitizer_report(err), "")

    def check_too_large(self, answer):
        self.assertEqual(answer["error"]["code"], -32600)
        self.assertIn("too large", answer["error"]["message"])

    def test_id_after_a_huge_params_member_is_answered(self):
        b = self.bridge
        for id_, size in (("req-big", 3 * CAP), (4242, int(1.5 * CAP)), ("\u00e9\"x", 5 * CAP)):
            msg = huge_request(id_, size)
            self.assertGreater(len(msg), CAP)
            b.send(raw=msg + b"\n")
            self.check_too_large(b.wait_id(id_, timeout=60))
        # the bridge still serves, and a request after the big one gets its own answer
        r = b.request(7, "ping")
        self.assertEqual(r["result"], {})

    def test_nested_ids_are_not_taken(self):
        b = self.bridge
        # the params hold "id" members, the request itself has none: null, never a nested id
        b.send(raw=huge_request(None, 2 * CAP) + b"\n")
        answer = b.wait_id(None, timeout=60)
        self.check_too_large(answer)
        self.assertIsNone(answer["id"])
        r = b.request(8, "ping")
        self.assertEqual(r["id"], 8)

    def test_last_line_without_newline(self):
        b = self.bridge
        b.send(raw=huge_request(99, 2 * CAP, nested_ids=False))
        b.proc.stdin.close()
        self.check_too_large(b.wait_id(99, timeout=60))


if __name__ == "__main__":
    unittest.main()
