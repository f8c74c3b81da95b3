#!/usr/bin/python3
"""Malformed requests against `pier serve`: each gets a 4xx answer with
{"error": ...} (or, for a slowloris-style partial request, the connection
is closed after the timeout), and the server keeps answering.

Truncated JSON, wrong types, huge shapes, negative dims, a 100 MB body
(with Content-Length, and chunked), invalid UTF-8, partial headers and
bodies sent slowly, garbage request lines, oversized headers, deep nesting,
clients that vanish mid-request.

Environment: PIER (the binary).
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server, in_thread, make_models, v2_binary_request  # noqa: E402

HEADER_TIMEOUT, BODY_TIMEOUT = 1.0, 1.5


def read_reply(s):
    """Reads one answer from socket s: until its Content-Length is complete, the server closes or resets the
    connection, or the socket times out. Returns the bytes read."""
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                break
    return buf


def raw_exchange(port, data, read_timeout=10):
    """Sends raw bytes; returns (status or None, body bytes) of the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=read_timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        buf = read_reply(s)
        if not buf:
            return None, b""
        status = int(buf.split(b" ", 2)[1])
        return status, buf.partition(b"\r\n\r\n")[2]
    finally:
        s.close()


class MalformedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pier_malformed_")
        make_models(cls.tmp)
        cls.srv = Server("--model-file", os.path.join(cls.tmp, "mlp.onnx"), "--model-file",
                         os.path.join(cls.tmp, "types.onnx"), "--workers", "2", "--threads", "1",
                         "--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT),
                         "--access-log", os.path.join(cls.tmp, "access.log"))

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        cls.srv.errfile.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, rc

    def setUp(self):
        self.assert_alive()

    def tearDown(self):
        self.assert_alive()

    def assert_alive(self):
        self.assertIsNone(self.srv.proc.poll(), "the server exited")
        self.assertEqual(self.srv.request("GET", "/v2/health/live", timeout=10)[0], 200)
        res = self.srv.json("POST", "/models/mlp/score", {"data": [[0.5] * 16]})
        self.assertEqual(np.array(res["result"]).shape, (1, 4))

    def bad(self, path, body, want=400, needle="", headers=None):
        status, hdrs, data = self.srv.request("POST", path, body, headers)
        shown = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.assertEqual(status, want, f"{path} {shown[:120]!r}: {data[:300]!r}")
        err = json.loads(data)["error"]
        self.assertIn(needle, err)
        return err

    def test_truncated_json(self):
        full = json.dumps({"data": [[0.25] * 16]}).encode()
        for cut in [1, 5, 9, len(full) // 2, len(full) - 1]:
            self.bad("/models/mlp/score", full[:cut], needle="JSON")
        v2 = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16], "data": [0] * 16}]}).encode()
        for cut in [1, 20, len(v2) - 2]:
            self.bad("/v2/models/mlp/infer", v2[:cut], needle="JSON")
        self.bad("/models/mlp/score", b"", needle="empty")

    def test_wrong_types(self):
        cases = [
            {"data": "a string"}, {"data": 42}, {"data": None}, {"data": True},
            {"data": [[None] * 16]}, {"data": [[{}] * 16]}, {"data": [[[0]] * 16]}, {"data": [[True] * 16]},
            {"data": {"y": [[0] * 16]}}, {"data": [["1"] * 16]},
        ]
        for body in cases:
            self.bad("/models/mlp/score", body)
        x = {"name": "x", "datatype": "FP32", "shape": [1, 16], "data": [0] * 16}
        v2 = [
            {"inputs": {"x": x}}, {"inputs": [1]}, {"inputs": [{**x, "name": 5}]}, {"inputs": [{**x, "datatype": 1}]},
            {"inputs": [{**x, "shape": "1,16"}]}, {"inputs": [{**x, "shape": [1.5, 16]}]},
            {"inputs": [{**x, "data": "zeros"}]}, {"inputs": [{**x, "data": [[0] * 8, [0] * 9]}]},
            {"inputs": [{**x, "parameters": []}]}, {"inputs": [x], "parameters": {"binary_data_output": "yes"}},
            {"inputs": [x], "outputs": {"name": "y"}}, {"inputs": [x], "id": 7}, [], "text",
            {"inputs": [{**x, "datatype": "INT64"}]},
        ]
        for body in v2:
            self.bad("/v2/models/mlp/infer", body)
        t = {"name": "in_bytes", "datatype": "BYTES", "shape": [2], "data": [1, 2]}
        self.bad("/v2/models/types/infer", {"inputs": [t]}, needle="expected a string")
        t = {"name": "in_bool", "datatype": "BOOL", "shape": [1], "data": ["true"]}
        self.bad("/v2/models/types/infer", {"inputs": [t]}, needle="expected a boolean")
        # Finite numbers beyond a float type's range would silently become
        # infinities (which JSON cannot even express): refused like integers.
        for dt, big in [("FP16", 70000), ("FP16", -1e6), ("FP32", 1e39)]:
            t = {"name": "in_" + dt.lower(), "datatype": dt, "shape": [2], "data": [1, big]}
            self.bad("/v2/models/types/infer", {"inputs": [t]}, needle=f"element [1] is")
            self.bad("/v2/models/types/infer", {"inputs": [t]}, needle="out of range for float")
        self.bad("/models/mlp/score", {"data": [[3.4e38] * 15 + [-1e300]]}, needle="element [0,15] is -1e+300, out of range")

    def test_huge_shapes(self):
        x = {"name": "x", "datatype": "FP32", "data": [0] * 16}
        for shape in [[1 << 40, 16], [1 << 31, 1 << 31, 16], [2 ** 63 - 1, 16], [2 ** 64 - 1, 16], [1] * 40 + [16]]:
            self.bad("/v2/models/mlp/infer", {"inputs": [{**x, "shape": shape}]})
        hdr = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1 << 40, 16],
                           "parameters": {"binary_data_size": 64}}]}
        js = json.dumps(hdr).encode()
        self.bad("/v2/models/mlp/infer", js + b"\0" * 64, headers={"Inference-Header-Content-Length": str(len(js))})
        hdr["inputs"][0].update(name="in_bytes", datatype="BYTES", shape=[1 << 50])
        js = json.dumps(hdr).encode()
        self.bad("/v2/models/types/infer", js + b"\0" * 64, headers={"Inference-Header-Content-Length": str(len(js))})
        # Nesting far deeper than any tensor, and deeper than the parser allows.
        self.bad("/models/mlp/score", b'{"data": ' + b"[" * 40 + b"0" + b"]" * 40 + b"}", needle="deeper")
        self.bad("/models/mlp/score", b'{"data": ' + b"[" * 5000 + b"0" + b"]" * 5000 + b"}")
        # A nested first row that promises a huge product of dims.
        row = [[0] * 1000]
        self.bad("/models/mlp/score", {"data": [row] + [[0]] * 1000}, needle="ragged")

    def test_negative_dims(self):
        x = {"name": "x", "datatype": "FP32", "data": [0] * 16}
        for shape, dim in [([-1, 16], 0), ([1, -16], 1), ([-(2 ** 63), 16], 0)]:
            self.bad("/v2/models/mlp/infer", {"inputs": [{**x, "shape": shape}]},
                     needle=f'dim {dim} of "shape" is negative ({shape[dim]})')
        hdr = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-4, 16], "parameters": {"binary_data_size": 64}}]}
        js = json.dumps(hdr).encode()
        self.bad("/v2/models/mlp/infer", js + b"\0" * 64, headers={"Inference-Header-Content-Length": str(len(js))},
                 needle="negative")
        self.bad("/v2/models/mlp/infer", json.dumps({"inputs": [{**x, "shape": [1, 16],
                                                                  "parameters": {"binary_data_size": -1}}]}),
                 headers={"Inference-Header-Content-Length": "0"})

    def test_100mb_body(self):
        size = 100 << 20
        head = (f"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n").encode()
        status, body = raw_exchange(self.srv.port, head + b"[" + b"0," * (size // 2 - 1) + b"0")
        self.assertEqual(status, 413)
        self.assertIn("larger than the limit", json.loads(body)["error"])
        # Chunked, with no Content-Length: refused once the limit is passed.
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
        s.sendall(b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n" % (1 << 20) + b" " * (1 << 20) + b"\r\n"
        try:
            for _ in range(100):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = read_reply(s)
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 413"), data[:100])

    def rss_kb(self):
        with open(f"/proc/{self.srv.proc.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

    def test_endless_chunk_line(self):
        # A chunk-size line, chunk extension or trailer that never ends is not
        # body (the body limit never sees it): the server must refuse it at a
        # bounded size instead of buffering all of it.
        for start in [b"5;ext=", b"0\r\nX-Trailer: ", b"0000"]:
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=20)
            s.sendall(b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + start)
            fill = (b"0" if start == b"0000" else b"a") * (1 << 20)
            rss0 = self.rss_kb()
            try:
                for _ in range(100):
                    s.sendall(fill)
            except (BrokenPipeError, ConnectionResetError):
                pass
            grown_mb = (self.rss_kb() - rss0) / 1024
            data = read_reply(s)
            s.close()
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), (start, data[:200]))
            self.assertIn(b"chunk-size line, chunk extension or trailer is longer than", data)
            self.assertLess(grown_mb, 50, f"{start!r}: the server buffered {grown_mb:.0f} MB of a chunk line")

    def test_head_has_no_body(self):
        # HEAD answers GET's header fields without the body; a body would be
        # read as the start of the next response on a kept-alive connection.
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s.sendall(b"HEAD /swagger.json HTTP/1.1\r\nHost: x\r\n\r\nHEAD /v2/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            data += c
        s.close()
        answers = data.split(b"\r\n\r\n")
        self.assertEqual(len(answers), 4, data)
        self.assertTrue(answers[0].startswith(b"HTTP/1.1 200"), data)
        length = [int(line.split(b":")[1]) for line in answers[0].split(b"\r\n")
                  if line.lower().startswith(b"content-length:")]
        self.assertGreater(length[0], 100)  # GET's length, not the (absent) body's
        self.assertTrue(answers[1].startswith(b"HTTP/1.1 404"), data)
        self.assertTrue(answers[2].startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(answers[3], b"")

    def test_invalid_utf8(self):
        self.bad("/models/mlp/score", b'{"data": [[0.5]], "note": "\xff\xfe"}', needle="UTF-8")
        self.bad("/models/mlp/score", b'{"d\xc3\x28ata": [[0.5]]}', needle="UTF-8")
        body = b'{"inputs": [{"name": "in_bytes", "datatype": "BYTES", "shape": [1], "data": ["\xed\xa0\x80"]}]}'
        self.bad("/v2/models/types/infer", body, needle="UTF-8")
        # The binary part may hold anything; only the JSON header is checked.
        body, hdrs = v2_binary_request([("in_bytes", "BYTES", [b"\xff\xfe"])])
        status, _, data = self.srv.request("POST", "/v2/models/types/infer", body, hdrs)
        self.assertEqual(status, 400, data)  # the other inputs are missing, not an encoding error
        self.assertIn("missing", json.loads(data)["error"])
        n = int(hdrs["Inference-Header-Content-Length"])
        broken = body[:n].replace(b'"in_bytes"', b'"in_\xffytes"') + body[n:]
        self.bad("/v2/models/types/infer", broken, headers=hdrs, needle="UTF-8")

    def test_slowloris(self):
        # A header that never ends, sent a byte at a time: closed after the header timeout.
        def drip(parts, pause):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
            t0 = time.monotonic()
            try:
                for p in parts:
                    s.sendall(p)
                    time.sleep(pause)
                s.settimeout(10)
                data = s.recv(65536)
            except (BrokenPipeError, ConnectionResetError):
                data = b""
            finally:
                s.close()
            return data, time.monotonic() - t0

        header = b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 400
        waiters = [in_thread(lambda: drip([header[i:i + 1] for i in range(len(header))], 0.05)) for _ in range(20)]
        # A body that never completes: closed after the body timeout.
        body_waiter = in_thread(lambda: drip(
            [b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", b"{\"data\": [["], 0.1))
        time.sleep(0.2)
        self.assert_alive()  # others are served meanwhile
        for w in waiters:
            data, took = w()
            self.assertEqual(data, b"")
            self.assertLess(took, HEADER_TIMEOUT + 3)
        data, took = body_waiter()
        self.assertEqual(data, b"")
        self.assertGreaterEqual(took, BODY_TIMEOUT * 0.9)
        self.assertLess(took, HEADER_TIMEOUT + BODY_TIMEOUT + 3)

    def test_bad_http(self):
        status, _ = raw_exchange(self.srv.port, b"GARBAGE\r\n\r\n")
        self.assertEqual(status, 400)
        status, _ = raw_exchange(self.srv.port, b"GET /v2/health/live HTTP/1.1\r\nX-Big: " + b"a" * 64000 + b"\r\n\r\n")
        self.assertEqual(status, 431)
        status, _ = raw_exchange(self.srv.port, b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        self.assertEqual(status, 400)
        # Transfer codings other than chunked: the body would reach the
        # handler still encoded (gzip) or has no reliable length (chunked not
        # last): 501, not a body read as if it were plain.
        good = json.dumps({"data": [[0] * 16]}).encode()
        chunked = b"%x\r\n" % len(good) + good + b"\r\n0\r\n\r\n"
        for te in [b"gzip, chunked", b"chunked, gzip", b"gzip", b"deflate"]:
            status, body = raw_exchange(self.srv.port, b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\n"
                                        b"Transfer-Encoding: " + te + b"\r\n\r\n" + chunked)
            self.assertEqual(status, 501, te)
            self.assertIn("Transfer-Encoding", json.loads(body)["error"])
        status, body = raw_exchange(self.srv.port, b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\n"
                                    b"Transfer-Encoding: Chunked\r\nConnection: close\r\n\r\n" + chunked)
        self.assertEqual(status, 200, body)
        # Clients that vanish mid-request.
        for part in [b"POST /models/mlp/score HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"da", b"POST /mod"]:
            s = socket.create_connection(("127.0.0.1", self.srv.port))
            s.sendall(part)
            s.close()
        # Pipelined garbage after a good request on one connection.
        good = json.dumps({"data": [[0] * 16]}).encode()
        req = (b"POST /models/mlp/score HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(good)) + good
        status, body = raw_exchange(self.srv.port, req + b"\x00\x01\x02 nonsense\r\n\r\n")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
