#!/usr/bin/python3
"""The CLI flow through the REST API of `pier workspace serve`: register
twice (raw body with query metadata, and multipart/form-data), list, show,
tag, alias, download and compare, delete; then the errors (JSON
{"error"} with 4xx, nothing stored), the body limit (413), the OpenAPI file
against the real routes, and a graceful stop on SIGTERM that finishes a
request in flight and exits 0.

Environment: PIER (the binary).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

PIER = os.environ.get("PIER", "build/pier")
HERE = os.path.dirname(os.path.abspath(__file__))


def medium_model(path, n=100_000):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [n])
    w = numpy_helper.from_array(np.ones(n, np.float32), "w")
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["z"])], "g", [x], [z], initializer=[w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


class Server:
    def __init__(self, workspace, *extra):
        self.proc = subprocess.Popen([PIER, "workspace", "serve", "--workspace", workspace, "--port", "0", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "http://" not in line:
            raise RuntimeError(f"serve did not start: {line} {self.proc.stderr.read()}")
        self.base = line.split(" on ")[1].strip().rstrip("/")  # http://127.0.0.1:PORT/api/v1
        self.port = int(self.base.split(":")[2].split("/")[0])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait()

    def wait(self):
        rc = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def multipart(fields, files):
    boundary = uuid.uuid4().hex
    out = b""
    for k, v in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    for k, (filename, data) in files.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class RestFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pier_ws_rest_")
        cls.models = os.path.join(cls.tmp, "models")
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_models.py"), cls.models], check=True)
        medium_model(os.path.join(cls.models, "medium.onnx"))
        cls.ws = os.path.join(cls.tmp, "ws")
        subprocess.run([PIER, "workspace", "init", cls.ws, "--no-config"], check=True, capture_output=True)
        cls.server = Server(cls.ws, "--max-body-mb", "1")
        cls.base = cls.server.base

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def read(self, name):
        with open(os.path.join(self.models, name), "rb") as f:
            return f.read()

    def api(self, method, path, body=None, headers=None, want=200):
        status, hdrs, data = call(method, self.base + path, body, headers)
        self.assertEqual(status, want, f"{method} {path}: {status} {data[:300]!r}")
        ctype = hdrs.get("Content-Type", "")
        return json.loads(data) if ctype.startswith("application/json") else data

    def error(self, method, path, want, needle, body=None, headers=None):
        before = self.snapshot()
        status, hdrs, data = call(method, self.base + path, body, headers)
        self.assertEqual(status, want, f"{method} {path}: {status} {data[:300]!r}")
        self.assertTrue(hdrs.get("Content-Type", "").startswith("application/json"), hdrs)
        err = json.loads(data)
        self.assertEqual(list(err), ["error"])
        self.assertIn(needle, err["error"])
        self.assertEqual(self.snapshot(), before, f"{method} {path} changed the workspace")
        return err["error"]

    def snapshot(self):
        files = sorted(os.path.relpath(os.path.join(d, f), self.ws)
                       for d, _, fs in os.walk(os.path.join(self.ws, "blobs")) for f in fs)
        return json.dumps(self.api("GET", "/models")), files

    def test_1_full_flow(self):
        add, mul = self.read("add.onnx"), self.read("mul.onnx")
        # Register twice: raw body with metadata in the query, then multipart.
        q = urllib.parse.urlencode([("name", "adder"), ("tag", "stage=dev"), ("tag", "candidate"),
                                    ("property", "framework=onnx"), ("description", "adds a constant")])
        r1 = self.api("POST", "/models?" + q, add, {"Content-Type": "application/octet-stream"}, want=201)
        self.assertEqual((r1["name"], r1["version"]), ("adder", 1))
        self.assertEqual(r1["tags"], {"stage": "dev", "candidate": ""})
        self.assertEqual(r1["properties"], {"framework": "onnx"})
        body, hdrs = multipart([("name", "adder"), ("tag", "owner=ml")], {"file": ("mul.onnx", mul)})
        r2 = self.api("POST", "/models", body, hdrs, want=201)
        self.assertEqual(r2["version"], 2)
        self.assertEqual(r2["tags"], {"owner": "ml"})
        for key in ("name", "version", "sha256", "size", "tags", "properties", "description", "inputs", "outputs",
                    "opsets", "created"):
            self.assertIn(key, r2)
        self.assertEqual(r2["size"], len(mul))
        self.assertEqual(r2["inputs"][0]["shape"], ["N", 3])
        # Name in the path and metadata in headers work too.
        r3 = self.api("POST", "/models/adder/versions", add,
                      {"X-Pier-Tag": "via=headers", "X-Pier-Description": "third"}, want=201)
        self.assertEqual((r3["version"], r3["tags"], r3["description"]), (3, {"via": "headers"}, "third"))

        # List and filter.
        self.assertEqual([m["version"] for m in self.api("GET", "/models")["models"]], [1, 2, 3])
        self.assertEqual([m["version"] for m in self.api("GET", "/models?tag=stage%3Ddev")["models"]], [1])
        self.assertEqual([m["version"] for m in self.api("GET", "/models?name=adder&tag=owner")["models"]], [2])
        self.assertEqual(len(self.api("GET", "/models/adder/versions")["models"]), 3)

        # Show: latest, by version.
        self.assertEqual(self.api("GET", "/models/adder")["version"], 3)
        self.assertEqual(self.api("GET", "/models/adder:1")["description"], "adds a constant")

        # Tag.
        t = self.api("PATCH", "/models/adder:1", json.dumps({"tags": {"stage": "prod", "candidate": None}}).encode(),
                     {"Content-Type": "application/json"})
        self.assertEqual(t["tags"], {"stage": "prod"})

        # Alias.
        a = self.api("POST", "/models/adder/aliases", json.dumps({"alias": "production", "version": 1}).encode(),
                     {"Content-Type": "application/json"})
        self.assertEqual((a["alias"], a["version"], a["previous"]), ("production", 1, None))
        self.assertEqual(self.api("GET", "/models/adder/aliases")["aliases"], {"production": 1})
        self.assertEqual(self.api("GET", "/models/adder@production")["version"], 1)

        # Download and compare.
        status, hdrs, data = call("GET", self.base + "/models/adder@production/content")
        self.assertEqual(status, 200)
        self.assertEqual(data, add)
        self.assertEqual(hdrs["X-Pier-Sha256"], r1["sha256"])
        self.assertEqual(call("GET", self.base + "/models/adder:2/content")[2], mul)

        # Delete.
        d = self.api("DELETE", "/models/adder:2")
        self.assertEqual(d["deleted_versions"], [2])
        self.assertEqual(len(d["blobs_removed"]), 1)  # nothing else stored mul.onnx
        self.error("GET", "/models/adder:2", 404, "has no version 2")
        self.api("DELETE", "/models/adder/aliases/production")
        self.error("GET", "/models/adder@production", 404, "no alias")
        d = self.api("DELETE", "/models/adder")
        self.assertEqual(d["deleted_versions"], [1, 3])
        self.assertEqual(self.api("GET", "/models")["models"], [])
        self.assertEqual(self.snapshot()[1], [])

        check = self.api("GET", "/workspace/check")
        self.assertTrue(check["ok"], check)

    def test_2_errors_are_json_4xx_and_store_nothing(self):
        add = self.read("add.onnx")
        self.api("POST", "/models?name=keep", add, want=201)
        self.error("POST", "/models?name=bad%2Fname", 400, "invalid model name", add)
        self.error("POST", "/models/bad%2Fname/versions", 400, "invalid model name", add)
        self.error("POST", "/models?name=..", 400, "reserved", add)
        self.error("POST", "/models", 400, "name is missing", add)
        self.error("POST", "/models?name=x", 400, "no model in the request", b"")
        self.error("POST", "/models?name=x", 422, "cannot parse as an ONNX model", self.read("not_onnx.onnx"))
        self.error("POST", "/models?name=x", 422, "external data", self.read("external.onnx"))
        self.error("POST", "/models?name=x&name=y", 400, "conflicting names", add)
        self.error("POST", "/models?name=x&colour=red", 400, "unknown query parameter", add)
        body, hdrs = multipart([("name", "x")], {})
        self.error("POST", "/models", 400, "no \"file\" part", body, hdrs)
        self.error("POST", "/models", 400, "malformed multipart", b"garbage",
                   {"Content-Type": "multipart/form-data; boundary=zzz"})
        self.error("GET", "/models/nope", 404, "no model named")
        self.error("GET", "/models/keep:7", 404, "has no version 7")
        self.error("GET", "/models/keep:x", 400, "invalid version")
        self.error("PATCH", "/models/keep", 400, "name one version", b'{"tags": {"a": "b"}}')
        self.error("PATCH", "/models/keep:1", 400, "not JSON", b"{nope")
        self.error("PATCH", "/models/keep:1", 400, "unknown field", b'{"name": "x"}')
        self.error("PATCH", "/models/keep:1", 400, "must be a string", b'{"tags": {"a": 1}}')
        self.error("POST", "/models/keep/aliases", 404, "has no version 9", b'{"alias": "prod", "version": 9}')
        self.error("POST", "/models/keep/aliases", 400, "not be all digits", b'{"alias": "12", "version": 1}')
        self.error("POST", "/models/keep/aliases", 400, "\"version\"", b'{"alias": "prod"}')
        self.error("DELETE", "/models/keep/aliases/prod", 404, "no alias")
        self.error("DELETE", "/models/nope", 404, "no model named")
        self.error("PUT", "/models", 405, "not allowed")
        self.error("GET", "/nothing/here", 404, "no such endpoint")
        # The body limit (--max-body-mb 1): 413, and the server goes on.
        self.error("POST", "/models?name=big", 413, "limit", self.read("big.onnx"))
        self.api("GET", "/health")

    def test_3_openapi_matches_the_routes(self):
        spec = yaml.safe_load(self.api("GET", "/openapi.yaml"))
        with open(os.path.join(HERE, "..", "..", "docs", "openapi", "workspace.yaml")) as f:
            self.assertEqual(spec, yaml.safe_load(f), "the served spec is not the file in the repo")
        self.assertTrue(spec["openapi"].startswith("3."))
        prefix = spec["servers"][0]["url"]
        self.assertEqual(prefix, "/api/v1")
        documented = 0
        for path, ops in spec["paths"].items():
            for method in ops:
                if method not in ("get", "post", "patch", "delete", "put"):
                    continue
                documented += 1
                url = self.base + path.replace("{name}", "zz").replace("{ref}", "zz").replace("{alias}", "zz")
                status, _, data = call(method.upper(), url, b"" if method != "get" else None)
                # Anything but the router's own 404/405 shows the route exists.
                text = data.decode(errors="replace")
                self.assertNotIn("no such endpoint", text, f"{method} {path} is documented but not served")
                self.assertNotIn("is not allowed", text, f"{method} {path} is documented but not served")
        self.assertGreaterEqual(documented, 12)

    def test_4_sigterm_finishes_the_request_in_flight_and_exits_0(self):
        server = Server(self.ws)
        model = self.read("medium.onnx")
        idle = socket.create_connection(("127.0.0.1", server.port))
        s = socket.create_connection(("127.0.0.1", server.port))
        head = (f"POST /api/v1/models?name=inflight HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(model)}\r\n\r\n").encode()
        s.sendall(head + model[: len(model) // 2])
        time.sleep(0.3)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        s.sendall(model[len(model) // 2:])
        s.settimeout(20)
        resp = b""
        while b"\r\n\r\n" not in resp or len(resp) < resp.index(b"\r\n\r\n") + 4 + int(
                [l for l in resp.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1]):
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
        self.assertTrue(resp.startswith(b"HTTP/1.1 201"), resp[:300])
        self.assertIn(b"Connection: close", resp)
        idle.settimeout(5)
        self.assertEqual(idle.recv(10), b"", "the idle connection was not closed")
        self.assertEqual(server.wait(), 0)
        s.close()
        idle.close()
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2)
        names = [m["name"] for m in self.api("GET", "/models")["models"]]
        self.assertIn("inflight", names)

    def test_5_large_json_bodies_get_413_before_parsing(self):
        # Parsing JSON takes many times its size in memory (a 200 MB tag change
        # took 2.8 GB): JSON bodies of tag changes and aliases stop at 1 MiB,
        # whatever --max-body-mb allows for uploads.
        server = Server(self.ws)
        try:
            self.api("POST", "/models?name=jsonbig", self.read("add.onnx"), want=201)
            before = self.snapshot()
            big = b'{"tags": {"a": "' + b"x" * (2 << 20) + b'"}}'
            for method, path, body in [("PATCH", "/models/jsonbig:1", big),
                                       ("POST", "/models/jsonbig/aliases", b"[" + b"1," * (1 << 20) + b"1]")]:
                status, hdrs, data = call(method, server.base + path, body)
                self.assertEqual(status, 413, f"{method} {path}: {data[:200]!r}")
                self.assertIn("the JSON body is", json.loads(data)["error"])
            self.assertEqual(self.snapshot(), before)
            status, _, _ = call("PATCH", server.base + "/models/jsonbig:1", b'{"tags": {"a": "b"}}')
            self.assertEqual(status, 200)
        finally:
            self.assertEqual(server.stop(), 0)

    def test_8_api_keys(self):
        key = "k-" + uuid.uuid4().hex
        server = Server(self.ws, "--api-key", key)
        try:
            auth = {"Authorization": f"Bearer {key}"}
            for method, path in [("GET", "/models"), ("GET", "/openapi.yaml"), ("GET", "/workspace/check"),
                                 ("DELETE", "/models/nope"), ("GET", "/no/such/path")]:
                for headers, why in [({}, "needs an API key"), ({"Authorization": "Bearer wrong"}, "not valid")]:
                    status, hdrs, data = call(method, server.base + path, None, headers)
                    self.assertEqual(status, 401, f"{method} {path}")
                    self.assertIn(why, json.loads(data)["error"])
                    self.assertTrue(hdrs["WWW-Authenticate"].startswith("Bearer"))
            self.assertEqual(call("GET", server.base + "/health")[0], 200)  # probes need no key
            self.assertEqual(call("GET", server.base + "/models", None, auth)[0], 200)
            # An upload without a key is refused from its header: its body is
            # never read, and nothing is stored.
            before = self.snapshot()
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as c:
                c.sendall((f"POST /api/v1/models?name=keyless HTTP/1.1\r\nHost: x\r\n"
                           f"Content-Length: {500 << 20}\r\n\r\n").encode())
                reply = c.recv(65536).decode("latin-1")
            self.assertTrue(reply.startswith("HTTP/1.1 401"), reply[:200])
            self.assertEqual(self.snapshot(), before)
            status, _, _ = call("POST", server.base + "/models?name=keyed", self.read("add.onnx"), auth)
            self.assertEqual(status, 201)
        finally:
            self.assertEqual(server.stop(), 0)
        # "$PIER_API_KEYS" holding only commas is refused, not served open.
        r = subprocess.run([PIER, "workspace", "serve", "--workspace", self.ws, "--port", "0"], capture_output=True,
                           text=True, timeout=30, env=dict(os.environ, PIER_API_KEYS=","))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("holds no key", r.stderr)

    def test_6_log_reader_gone_is_not_fatal(self):
        # --access-log writes to stderr: a reader that goes away must not kill
        # the server with SIGPIPE.
        server = Server(self.ws, "--access-log")
        server.proc.stderr.close()
        for _ in range(5):
            self.assertEqual(call("GET", server.base + "/health")[0], 200)
            time.sleep(0.05)
        time.sleep(0.3)
        self.assertIsNone(server.proc.poll(), "the server died once its stderr reader went away")
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=30), 0)
        server.proc.stdout.close()

    def test_7_stalled_log_reader_does_not_freeze_the_server(self):
        # --access-log lines go to stderr from the I/O threads: with a reader
        # that never reads, the server must keep answering (dropping lines),
        # and stop on SIGTERM.
        server = Server(self.ws, "--access-log", "--io-threads", "1")
        try:
            path = "/health?" + "x" * 3000  # 3 KB lines: the 64 KB pipe fills after ~20
            for i in range(200):
                status, _, _ = call("GET", server.base + path)
                self.assertEqual(status, 200, i)
        finally:
            server.proc.send_signal(signal.SIGTERM)
            try:
                rc = server.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                rc = server.proc.wait()
            server.proc.stdout.close()
            server.proc.stderr.close()
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
