#!/usr/bin/python3
"""Integration tests of `pier serve` with models exported by torch: every
endpoint (/score, the v2 protocol with JSON and binary tensors, health,
metadata, metrics, OpenAPI), API keys, every error code, the access log,
keep-alive, concurrency between models, and a graceful SIGTERM. Outputs are
compared with `pier run` on the same inputs.

Environment: PIER (the binary).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import (PIER, V2_TYPES, Server, in_thread, make_models, pier_run,  # noqa: E402
                        v2_binary_request, v2_decode)

KEY1, KEY2 = "primary-key-123", "secondary-key-456"
AUTH = {"Authorization": f"Bearer {KEY1}"}


def f32(x):
    return np.asarray(x, dtype=np.float32)


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pier_serve_")
        cls.models = os.path.join(cls.tmp, "models")
        make_models(cls.models)
        cls.ws = os.path.join(cls.tmp, "ws")
        subprocess.run([PIER, "workspace", "init", cls.ws, "--no-config"], check=True, capture_output=True)
        for name, file in [("mlp", "mlp.onnx"), ("mlp", "mlp_b.onnx"), ("cnn", "cnn.onnx"), ("multi", "multi.onnx"),
                           ("types", "types.onnx"), ("slow", "slow.onnx"), ("expand", "expand.onnx")]:
            subprocess.run([PIER, "model", "register", os.path.join(cls.models, file), "--name", name,
                            "--workspace", cls.ws], check=True, capture_output=True)
        subprocess.run([PIER, "model", "alias", "mlp", "production", "1", "--workspace", cls.ws], check=True,
                       capture_output=True)
        cls.access_log = os.path.join(cls.tmp, "access.log")
        cls.srv = Server("--workspace", cls.ws, "--workers", "2", "--threads", "1", "--api-key", KEY1,
                         "--api-key", KEY2, "--access-log", cls.access_log)

    @classmethod
    def tearDownClass(cls):
        cls.srv.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def model(self, name):
        return os.path.join(self.models, name)

    def error(self, method, path, want, needle, body=None, headers=None, srv=None):
        status, hdrs, data = (srv or self.srv).request(method, path, body, {**AUTH, **(headers or {})})
        self.assertEqual(status, want, f"{method} {path}: {data[:300]!r}")
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)
        err = json.loads(data)
        self.assertEqual(list(err), ["error"])
        self.assertIn(needle, err["error"])
        return err["error"]

    # ---- health, metadata, keys ------------------------------------------

    def test_health_needs_no_key(self):
        for path in ["/v2/health/live", "/v2/health/ready", "/v2/models/mlp/ready", "/v2/models/mlp/versions/2/ready"]:
            status, _, _ = self.srv.request("GET", path)
            self.assertEqual(status, 200, path)
        self.error("GET", "/v2/models/nope/ready", 404, "no model named")
        self.error("GET", "/v2/models/mlp/versions/1/ready", 404, "served versions: 2")
        status, _, _ = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)

    def test_api_keys(self):
        body = {"data": np.zeros((1, 16)).tolist()}
        for method, path, b in [("GET", "/v2", None), ("GET", "/v2/models/mlp", None), ("GET", "/swagger.json", None),
                                ("POST", "/models/mlp/score", body), ("POST", "/v2/models/mlp/infer", {"inputs": []})]:
            status, hdrs, data = self.srv.request(method, path, b)
            self.assertEqual(status, 401, path)
            self.assertIn("API key", json.loads(data)["error"])
            self.assertTrue(hdrs["www-authenticate"].startswith("Bearer"))
            status, _, data = self.srv.request(method, path, b, {"Authorization": "Bearer wrong"})
            self.assertEqual(status, 401, path)
            self.assertIn("not valid", json.loads(data)["error"])
            status, _, _ = self.srv.request(method, path, b, {"Authorization": f"Basic {KEY1}"})
            self.assertEqual(status, 401, path)
            for key in (KEY1, KEY2):
                status, _, data = self.srv.request(method, path, b, {"Authorization": f"Bearer {key}"})
                self.assertNotEqual(status, 401, f"{path} with a valid key: {data[:200]!r}")

    def test_keyless_inference_is_refused_before_its_body(self):
        # A client without a key announces 60 MB and sends none of it: the
        # 401 comes at once, instead of after the server took the body in.
        for path in ["/score", "/models/mlp/score", "/v2/models/mlp/infer"]:
            with socket.create_connection((self.srv.host, self.srv.port), timeout=10) as s:
                s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {60 << 20}\r\n\r\n").encode())
                t0 = time.monotonic()
                reply = s.recv(65536).decode("latin-1")
                self.assertTrue(reply.startswith("HTTP/1.1 401"), f"{path}: {reply[:200]!r}")
                self.assertLess(time.monotonic() - t0, 5)
                self.assertIn("API key", reply)

    def test_api_keys_env_without_a_key_is_refused(self):
        # "$A,$B" with both unset: serving with no keys at all would be silent.
        model = os.path.join(self.models, "mlp.onnx")
        for value in [",", ",,,"]:
            env = dict(os.environ, PIER_API_KEYS=value)
            r = subprocess.run([PIER, "serve", "--model-file", model, "--port", "0"], env=env, capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, value)
            self.assertIn("PIER_API_KEYS is set but holds no key", r.stderr)
        # An extra comma next to a key is fine, and the key is required.
        srv = Server("--model-file", model, "--no-access-log", env=dict(os.environ, PIER_API_KEYS=f"{KEY1},"))
        try:
            self.assertEqual(srv.request("GET", "/v2/models/mlp")[0], 401)
            self.assertEqual(srv.request("GET", "/v2/models/mlp", headers={"Authorization": f"Bearer {KEY1}"})[0], 200)
        finally:
            srv.close()

    def test_log_reader_gone_is_not_fatal(self):
        # The access log is on stderr: when its reader goes away, the next line
        # must not kill the server with SIGPIPE; nor may a --ready-fd whose
        # reader has gone.
        model = os.path.join(self.models, "mlp.onnx")
        r, w = os.pipe()
        os.close(r)
        p = subprocess.Popen([PIER, "serve", "--model-file", model, "--port", "0", "--ready-fd", str(w)],
                             pass_fds=[w], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(w)
        try:
            line = p.stdout.readline()
            port = int(line.split("http://")[1].split()[0].rsplit(":", 1)[1])
            p.stderr.close()
            for _ in range(5):
                c = socket.create_connection(("127.0.0.1", port), timeout=10)
                c.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertTrue(c.recv(100).startswith(b"HTTP/1.1 200"))
                c.close()
                time.sleep(0.05)
            time.sleep(0.3)
            self.assertIsNone(p.poll(), "the server died once its stderr reader went away")
        finally:
            p.terminate()
            p.wait(timeout=30)
            p.stdout.close()
        self.assertEqual(p.returncode, 0)

    def test_stalled_log_reader_bounds_memory_and_stop(self):
        # stderr (the access log) is a pipe nobody reads: the lines that cannot
        # be written are dropped past a cap instead of piling up in memory, and
        # SIGTERM still ends the process.
        p = subprocess.Popen([PIER, "serve", "--model-file", os.path.join(self.models, "mlp.onnx"), "--port", "0",
                              "--io-threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            port = int(p.stdout.readline().decode().split("http://")[1].split()[0].rsplit(":", 1)[1])
            with open(f"/proc/{p.pid}/status") as f:
                rss0 = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            c = socket.create_connection(("127.0.0.1", port), timeout=30)
            req = b"GET /v2/health/live/" + b"x" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
            for _ in range(1000):  # 50000 log lines of 3 KB: 150 MB
                c.sendall(req * 50)
                got = b""
                while got.count(b"HTTP/1.1") < 50:
                    got += c.recv(1 << 20)
            c.close()
            with open(f"/proc/{p.pid}/status") as f:
                rss1 = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            self.assertLess((rss1 - rss0) / 1024, 64, "the unwritten access log piled up in memory")
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=20), 0)
            self.assertLess(time.monotonic() - t0, 15)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()

    def test_server_metadata(self):
        meta = self.srv.json("GET", "/v2", headers=AUTH)
        self.assertEqual(meta["name"], "pier")
        self.assertIn("binary_tensor_data", meta["extensions"])

    def test_model_metadata(self):
        meta = self.srv.json("GET", "/v2/models/multi", headers=AUTH)
        self.assertEqual(meta["name"], "multi")
        self.assertEqual(meta["versions"], ["1"])
        self.assertEqual(meta["inputs"], [{"name": "a", "datatype": "FP32", "shape": [-1, 4]},
                                          {"name": "b", "datatype": "INT64", "shape": [-1]}])
        self.assertEqual(meta["outputs"], [{"name": "sum", "datatype": "FP32", "shape": [-1, 4]},
                                           {"name": "next", "datatype": "INT64", "shape": [-1]}])
        self.assertEqual(self.srv.json("GET", "/v2/models/mlp/versions/2", headers=AUTH)["versions"], ["2"])
        self.error("GET", "/v2/models/mlp/versions/1", 404, "no served version")
        self.error("GET", "/v2/models/ghost", 404, "no model named \"ghost\"")

    def test_swagger(self):
        doc = self.srv.json("GET", "/swagger.json", headers=AUTH)
        self.assertEqual(doc["openapi"], "3.0.1")
        self.assertNotIn("/score", doc["paths"])  # several models are served
        post = doc["paths"]["/models/multi/versions/1/score"]["post"]
        data = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]
        self.assertEqual(sorted(data["required"]), ["a", "b"])
        a = data["properties"]["a"]
        self.assertEqual(a["type"], "array")
        self.assertEqual(a["items"]["minItems"], 4)
        self.assertEqual(a["items"]["items"]["type"], "number")
        self.assertEqual(data["properties"]["b"]["items"]["type"], "integer")
        self.assertIn("/models/mlp/score", doc["paths"])
        self.assertIn("bearer", doc["components"]["securitySchemes"])
        # Every v2 route is described, and each {param} of a templated path
        # is declared as a required path parameter, as OpenAPI requires.
        for p in ["/v2", "/v2/models/{model}", "/v2/models/{model}/versions/{version}", "/v2/models/{model}/infer",
                  "/v2/models/{model}/versions/{version}/infer", "/v2/health/live", "/v2/health/ready",
                  "/v2/models/{model}/ready", "/v2/models/{model}/versions/{version}/ready", "/metrics"]:
            self.assertIn(p, doc["paths"])
        for path, item in doc["paths"].items():
            want = sorted(re.findall(r"\{(\w+)\}", path))
            got = sorted(q["name"] for q in item.get("parameters", []) if q["in"] == "path" and q["required"])
            self.assertEqual(got, want, path)

    # ---- /score ------------------------------------------------------------

    def test_score_matches_pier_run(self):
        rng = np.random.default_rng(1)
        x = rng.standard_normal((3, 16)).astype(np.float32)
        res = self.srv.json("POST", "/models/mlp/score", {"data": x.tolist()}, AUTH)
        want = pier_run(self.model("mlp_b.onnx"), [x], os.path.join(self.tmp, "run_mlp"))
        np.testing.assert_array_equal(f32(res["result"]), want[0])

        img = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
        res = self.srv.json("POST", "/models/cnn/versions/1/score", {"data": img.tolist()}, AUTH)
        want = pier_run(self.model("cnn.onnx"), [img], os.path.join(self.tmp, "run_cnn"))
        np.testing.assert_array_equal(f32(res["result"]), want[0])
        self.assertEqual(f32(res["result"]).shape, (2, 10))

        a = rng.standard_normal((5, 4)).astype(np.float32)
        b = np.arange(5, dtype=np.int64) * 1000
        res = self.srv.json("POST", "/models/multi/score", {"data": {"a": a.tolist(), "b": b.tolist()}}, AUTH)
        want = pier_run(self.model("multi.onnx"), [a, b], os.path.join(self.tmp, "run_multi"))
        self.assertEqual(sorted(res["result"]), ["next", "sum"])
        np.testing.assert_array_equal(f32(res["result"]["sum"]), want[0])
        np.testing.assert_array_equal(np.array(res["result"]["next"], dtype=np.int64), want[1])

    def test_score_casts_numbers(self):
        # Integers for a float input, floats that are integers for an int64 one.
        res = self.srv.json("POST", "/models/multi/score", {"data": {"a": [[1, 2, 3, 4]], "b": [2.0]}}, AUTH)
        self.assertEqual(res["result"], {"sum": [[4, 6, 8, 10]], "next": [3]})

    def test_score_errors(self):
        good = np.zeros((1, 16)).tolist()
        self.error("POST", "/models/mlp/score", 400, "not valid JSON", b'{"data": [[1, 2')
        self.error("POST", "/models/mlp/score", 400, "JSON object", b'[1, 2]')
        self.error("POST", "/models/mlp/score", 400, "no \"data\"", {"inputs": good})
        self.error("POST", "/models/mlp/score", 400, "expected rank 2", {"data": [0] * 16})
        self.error("POST", "/models/mlp/score", 400, "expected shape [N,16], got [1,15]", {"data": [[0] * 15]})
        self.error("POST", "/models/mlp/score", 400, "element [0,3] is a string", {"data": [[0, 0, 0, "x"] + [0] * 12]})
        self.error("POST", "/models/mlp/score", 400, "ragged", {"data": [[0] * 16, [0] * 15]})
        self.error("POST", "/models/multi/score", 400, "input \"b\" is missing", {"data": {"a": [[1, 2, 3, 4]]}})
        self.error("POST", "/models/multi/score", 400, "no input \"c\"", {"data": {"a": [[1, 2, 3, 4]], "b": [1], "c": 1}})
        self.error("POST", "/models/multi/score", 400, "takes 2 inputs", {"data": [[1, 2, 3, 4]]})
        self.error("POST", "/models/multi/score", 400, "not an integer", {"data": {"a": [[1, 2, 3, 4]], "b": [1.5]}})
        self.error("POST", "/models/multi/score", 400, "\"N\"", {"data": {"a": [[1, 2, 3, 4]], "b": [1, 2]}})
        self.error("POST", "/models/ghost/score", 404, "no model named \"ghost\"", {"data": good})
        self.error("POST", "/models/mlp/versions/7/score", 404, "no served version \"7\"", {"data": good})
        self.error("POST", "/score", 404, "exactly one served model", {"data": good})
        self.error("GET", "/models/mlp/score", 405, "not allowed")
        self.error("GET", "/nowhere", 404, "no such endpoint")

    def test_engine_failure_is_500(self):
        with open("/proc/sys/vm/overcommit_memory") as f:
            overcommit = f.read().strip()
        if overcommit == "1":
            self.skipTest("with vm.overcommit_memory=1 a huge allocation would succeed")
        msg = self.error("POST", "/models/expand/score", 500, "out of memory",
                         {"data": {"value": [1.0], "shape": [500000, 500000]}})
        self.assertIn("Expand", msg)
        res = self.srv.json("POST", "/models/expand/score", {"data": {"value": [1.5], "shape": [2, 3]}}, AUTH)
        self.assertEqual(res["result"], [[1.5] * 3] * 2)

    # ---- v2 inference --------------------------------------------------------

    def test_v2_json_matches_pier_run(self):
        rng = np.random.default_rng(2)
        a = rng.standard_normal((3, 4)).astype(np.float32)
        b = np.array([5, -7, 1 << 40], dtype=np.int64)
        want = pier_run(self.model("multi.onnx"), [a, b], os.path.join(self.tmp, "run_v2"))
        req = {"id": "req-1", "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [3, 4], "data": a.tolist()},          # nested
            {"name": "b", "datatype": "INT64", "shape": [3], "data": b.tolist()}]}
        res = self.srv.json("POST", "/v2/models/multi/infer", req, AUTH)
        self.assertEqual(res["model_name"], "multi")
        self.assertEqual(res["model_version"], "1")
        self.assertEqual(res["id"], "req-1")
        out = {o["name"]: o for o in res["outputs"]}
        self.assertEqual(out["sum"]["shape"], [3, 4])
        self.assertEqual(out["sum"]["datatype"], "FP32")
        np.testing.assert_array_equal(f32(out["sum"]["data"]).reshape(3, 4), want[0])
        np.testing.assert_array_equal(np.array(out["next"]["data"], dtype=np.int64), want[1])
        # Flat data, one requested output, a versioned path.
        req["inputs"][0]["data"] = a.reshape(-1).tolist()
        req["outputs"] = [{"name": "next"}]
        res = self.srv.json("POST", "/v2/models/multi/versions/1/infer", req, AUTH)
        self.assertEqual([o["name"] for o in res["outputs"]], ["next"])
        np.testing.assert_array_equal(np.array(res["outputs"][0]["data"], dtype=np.int64), want[1])

    def test_v2_binary_both_ways(self):
        rng = np.random.default_rng(3)
        img = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
        want = pier_run(self.model("cnn.onnx"), [img], os.path.join(self.tmp, "run_bin"))[0]
        body, hdrs = v2_binary_request([("image", "FP32", img)], binary_output=True)
        status, rh, data = self.srv.request("POST", "/v2/models/cnn/infer", body, {**AUTH, **hdrs})
        self.assertEqual(status, 200, data[:300])
        self.assertEqual(rh["content-type"], "application/octet-stream")
        out, js = v2_decode(rh, data)
        self.assertEqual(js["outputs"][0]["parameters"]["binary_data_size"], want.nbytes)
        np.testing.assert_array_equal(out["logits"], want)
        # Binary in, JSON out.
        body, hdrs = v2_binary_request([("image", "FP32", img)])
        status, rh, data = self.srv.request("POST", "/v2/models/cnn/infer", body, {**AUTH, **hdrs})
        self.assertEqual(rh["content-type"], "application/json")
        np.testing.assert_array_equal(v2_decode(rh, data)[0]["logits"], want)
        # JSON in, binary out for one output only (per-output binary_data).
        a = rng.standard_normal((2, 4)).astype(np.float32)
        b = np.array([3, 4], dtype=np.int64)
        want = pier_run(self.model("multi.onnx"), [a, b], os.path.join(self.tmp, "run_bin2"))
        req = {"inputs": [{"name": "a", "datatype": "FP32", "shape": [2, 4], "data": a.reshape(-1).tolist()},
                          {"name": "b", "datatype": "INT64", "shape": [2], "data": b.tolist()}],
               "outputs": [{"name": "sum", "parameters": {"binary_data": True}}, {"name": "next"}]}
        status, rh, data = self.srv.request("POST", "/v2/models/multi/infer", json.dumps(req), AUTH)
        self.assertEqual(status, 200, data[:300])
        out, js = v2_decode(rh, data)
        self.assertIn("data", js["outputs"][1])
        np.testing.assert_array_equal(out["sum"], want[0])
        np.testing.assert_array_equal(out["next"], want[1])
        # Mixed inputs: one binary, one JSON, and an unaligned binary offset.
        body, hdrs = v2_binary_request([("a", "FP32", a)], binary_output=True,
                                       extra={"id": "x" * 3})
        header = json.loads(body[:int(hdrs["Inference-Header-Content-Length"])])
        header["inputs"].append({"name": "b", "datatype": "INT64", "shape": [2], "data": b.tolist()})
        js = json.dumps(header).encode() + b" "  # odd length: the binary data starts unaligned
        body = js + a.tobytes()
        status, rh, data = self.srv.request("POST", "/v2/models/multi/infer", body,
                                            {**AUTH, "Inference-Header-Content-Length": str(len(js))})
        self.assertEqual(status, 200, data[:300])
        out, _ = v2_decode(rh, data)
        np.testing.assert_array_equal(out["sum"], want[0])

    def test_v2_every_datatype(self):
        rng = np.random.default_rng(4)
        values = {}
        for dt, np_t in V2_TYPES.items():
            if dt == "BOOL":
                values[dt] = np.array([True, False, True])
            elif dt.startswith("FP"):
                values[dt] = np.array([1.5, -0.25, 1024], dtype=np_t)
            else:
                info = np.iinfo(np_t)
                values[dt] = np.array([info.min, info.max, rng.integers(0, 100)], dtype=np_t)
        strings = ["héllo".encode(), b"", b"\x00\xffbinary"]
        # JSON, nested for even-numbered types, flat otherwise (1-D: the same).
        req = {"inputs": [{"name": f"in_{dt.lower()}", "datatype": dt, "shape": [3], "data": v.tolist()}
                          for dt, v in values.items()]}
        req["inputs"].append({"name": "in_bytes", "datatype": "BYTES", "shape": [3],
                              "data": ["héllo", "", "plain"]})
        res = self.srv.json("POST", "/v2/models/types/infer", req, AUTH)
        out = {o["name"]: o for o in res["outputs"]}
        for dt, v in values.items():
            o = out[f"out_{dt.lower()}"]
            self.assertEqual(o["datatype"], dt)
            np.testing.assert_array_equal(np.array(o["data"], dtype=V2_TYPES[dt]), v, err_msg=dt)
        self.assertEqual(out["out_bytes"]["data"], ["héllo", "", "plain"])
        # Binary both ways, BYTES with arbitrary bytes included.
        body, hdrs = v2_binary_request([(f"in_{dt.lower()}", dt, v) for dt, v in values.items()] +
                                       [("in_bytes", "BYTES", strings)], binary_output=True)
        status, rh, data = self.srv.request("POST", "/v2/models/types/infer", body, {**AUTH, **hdrs})
        self.assertEqual(status, 200, data[:300])
        got, _ = v2_decode(rh, data)
        for dt, v in values.items():
            np.testing.assert_array_equal(got[f"out_{dt.lower()}"], v, err_msg=dt)
        self.assertEqual(got["out_bytes"], strings)

    def test_v2_errors(self):
        a = {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}
        b = {"name": "b", "datatype": "INT64", "shape": [1], "data": [1]}
        url = "/v2/models/multi/infer"
        self.error("POST", url, 400, "not valid JSON", b'{"inputs": [')
        self.error("POST", url, 400, "no \"inputs\"", {"outputs": []})
        self.error("POST", url, 400, "input \"b\" is missing", {"inputs": [a]})
        self.error("POST", url, 400, "expected datatype INT64, got FP32", {"inputs": [a, {**b, "datatype": "FP32"}]})
        self.error("POST", url, 400, "unknown datatype \"FLOAT\"", {"inputs": [{**a, "datatype": "FLOAT"}, b]})
        self.error("POST", url, 400, "expected shape [N,4], got [1,3]",
                   {"inputs": [{**a, "shape": [1, 3], "data": [1, 2, 3]}, b]})
        self.error("POST", url, 400, "\"data\" holds", {"inputs": [{**a, "data": [1, 2, 3]}, b]})
        self.error("POST", url, 400, "no input \"c\"", {"inputs": [a, b, {**b, "name": "c"}]})
        self.error("POST", url, 400, "given twice", {"inputs": [a, b, b]})
        self.error("POST", url, 400, "no output \"z\"", {"inputs": [a, b], "outputs": [{"name": "z"}]})
        self.error("POST", url, 400, "out of range for int64", {"inputs": [a, {**b, "data": [2 ** 64 - 1]}]})
        self.error("POST", "/v2/models/types/infer", 400, "out of range for uint8",
                   {"inputs": [{"name": "in_uint8", "datatype": "UINT8", "shape": [1], "data": [256]}]})
        body, hdrs = v2_binary_request([("a", "FP32", np.zeros((1, 4), np.float32))])
        self.error("POST", url, 400, "bytes of binary data are left",
                   body[:-4], {"Inference-Header-Content-Length": hdrs["Inference-Header-Content-Length"]})
        self.error("POST", url, 400, "Inference-Header-Content-Length is 99999",
                   body, {"Inference-Header-Content-Length": "99999"})
        a_bin = {k: v for k, v in a.items() if k != "data"}
        js = json.dumps({"inputs": [{**a_bin, "parameters": {"binary_data_size": 12}}, b]})
        self.error("POST", url, 400, "takes 16 bytes, but binary_data_size is 12",
                   js.encode() + b"\0" * 12, {"Inference-Header-Content-Length": str(len(js))})
        self.error("POST", "/v2/models/ghost/infer", 404, "no model named", {"inputs": []})
        self.error("POST", "/v2/models/multi/versions/2/infer", 404, "no served version", {"inputs": []})

    # ---- metrics, access log ----------------------------------------------

    def test_metrics(self):
        x = np.zeros((1, 16)).tolist()
        self.srv.json("POST", "/models/mlp/score", {"data": x}, AUTH)
        self.srv.request("POST", "/models/mlp/score", {"data": [1]}, AUTH)
        status, hdrs, data = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain; version=0.0.4"))
        text = data.decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        lab = 'model="mlp",version="2"'
        self.assertGreaterEqual(samples[f'pier_requests_total{{{lab},status="200"}}'], 1)
        self.assertGreaterEqual(samples[f'pier_requests_total{{{lab},status="400"}}'], 1)
        self.assertGreaterEqual(samples[f'pier_inferences_total{{{lab}}}'], 1)
        n = samples[f'pier_request_duration_seconds_count{{{lab}}}']
        self.assertEqual(samples[f'pier_request_duration_seconds_bucket{{{lab},le="+Inf"}}'], n)
        self.assertGreaterEqual(n, 2)
        self.assertGreaterEqual(samples[f'pier_queue_duration_seconds_count{{{lab}}}'], 2)
        self.assertIn(f'pier_requests_in_flight{{{lab}}}', samples)
        self.assertGreater(samples["process_resident_memory_bytes"], 1e6)
        self.assertGreater(samples["process_cpu_seconds_total"], 0)
        self.assertGreater(samples["process_uptime_seconds"], 0)
        for name in ["pier_requests_total", "pier_inferences_total", "pier_request_duration_seconds",
                     "pier_queue_duration_seconds", "pier_requests_in_flight", "process_resident_memory_bytes",
                     "process_cpu_seconds_total", "process_uptime_seconds"]:
            self.assertIn(f"# TYPE {name} ", text)

    def test_access_log(self):
        self.srv.json("POST", "/models/mlp/versions/2/score", {"data": np.zeros((1, 16)).tolist()}, AUTH)
        self.srv.request("GET", "/v2/health/live")
        self.srv.request("GET", "/v2/models/multi", headers=AUTH)
        self.srv.request("GET", "/v2/models/mlp/versions/2/ready")
        time.sleep(0.4)  # the log is written every 100 ms
        with open(self.access_log) as f:
            lines = [json.loads(line) for line in f]
        score = [r for r in lines if r["path"] == "/models/mlp/versions/2/score"]
        self.assertTrue(score)
        r = score[-1]
        for key in ["time", "model", "version", "status", "latency_ms", "bytes_in", "bytes_out", "method", "remote"]:
            self.assertIn(key, r)
        self.assertEqual((r["model"], r["version"], r["status"]), ("mlp", "2", 200))
        self.assertGreater(r["bytes_in"], 0)
        self.assertGreater(r["bytes_out"], 0)
        self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        live = [r for r in lines if r["path"] == "/v2/health/live"][-1]
        self.assertIsNone(live["model"])
        # Metadata and readiness of a model name it too.
        meta = [r for r in lines if r["path"] == "/v2/models/multi"][-1]
        self.assertEqual((meta["model"], meta["version"], meta["status"]), ("multi", "1", 200))
        ready = [r for r in lines if r["path"] == "/v2/models/mlp/versions/2/ready"][-1]
        self.assertEqual((ready["model"], ready["version"]), ("mlp", "2"))

    # ---- connections and threads -------------------------------------------

    def test_keep_alive(self):
        c = self.srv.conn()
        socks = set()
        for _ in range(5):
            status, hdrs, _ = self.srv.request("POST", "/models/mlp/score", {"data": np.zeros((1, 16)).tolist()},
                                               AUTH, conn=c)
            self.assertEqual(status, 200)
            socks.add(id(c.sock))
            self.assertNotEqual(hdrs.get("connection", "").lower(), "close")
        self.assertEqual(len(socks), 1)
        c.close()

    def test_large_bodies_on_one_connection(self):
        # Multi-megabyte bodies are read in large chunks and the connection's
        # buffer shrinks afterwards: alternate large and small requests on
        # one connection, JSON and binary, and check every answer.
        rng = np.random.default_rng(8)
        img = rng.standard_normal((48, 3, 16, 16)).astype(np.float32)  # ~0.7 MB of JSON, 144 KiB binary
        want = pier_run(self.model("cnn.onnx"), [img], os.path.join(self.tmp, "run_large"))[0]
        small = rng.standard_normal((1, 16)).astype(np.float32)
        want_small = pier_run(self.model("mlp_b.onnx"), [small], os.path.join(self.tmp, "run_small"))[0]
        c = self.srv.conn()
        socks = set()
        for _ in range(2):
            status, _, data = self.srv.request("POST", "/models/cnn/score", {"data": img.tolist()}, AUTH, conn=c)
            self.assertEqual(status, 200, data[:300])
            np.testing.assert_array_equal(f32(json.loads(data)["result"]), want)
            status, _, data = self.srv.request("POST", "/models/mlp/score", {"data": small.tolist()}, AUTH, conn=c)
            self.assertEqual(status, 200, data[:300])
            np.testing.assert_array_equal(f32(json.loads(data)["result"]), want_small)
            body, hdrs = v2_binary_request([("image", "FP32", img)], binary_output=True)
            status, rh, data = self.srv.request("POST", "/v2/models/cnn/infer", body, {**AUTH, **hdrs}, conn=c)
            self.assertEqual(status, 200, data[:300])
            np.testing.assert_array_equal(v2_decode(rh, data)[0]["logits"], want)
            socks.add(id(c.sock))
        self.assertEqual(len(socks), 1)
        c.close()

    def slow_request(self, n):
        x = np.random.default_rng(5).random((n, 64), dtype=np.float32) * 1e-3
        body, hdrs = v2_binary_request([("x", "FP32", x)], binary_output=True)
        t0 = time.monotonic()
        status, _, data = self.srv.request("POST", "/v2/models/slow/infer", body, {**AUTH, **hdrs}, timeout=120)
        return status, time.monotonic() - t0

    def calibrated_slow_n(self, seconds):
        n = 400
        status, t = self.slow_request(n)
        self.assertEqual(status, 200)
        while t < seconds / 4 and n < 16000:
            n *= 2
            _, t = self.slow_request(n)
        return int(n * min(4.0, (seconds / max(t, 1e-3)) ** 0.5))

    def test_slow_model_blocks_nothing(self):
        n = self.calibrated_slow_n(1.5)
        join = in_thread(lambda: self.slow_request(n))
        time.sleep(0.3)
        t0 = time.monotonic()
        for path in ["/v2/health/live", "/v2/health/ready", "/metrics"]:
            self.assertEqual(self.srv.request("GET", path)[0], 200)
        # Another model gets a free worker while the slow one runs.
        self.srv.json("POST", "/models/mlp/score", {"data": np.zeros((1, 16)).tolist()}, AUTH)
        fast = time.monotonic() - t0
        status, slow = join()
        self.assertEqual(status, 200)
        self.assertLess(fast, slow / 2, f"fast requests took {fast:.3f}s beside a {slow:.3f}s one")


class SingleModelTest(unittest.TestCase):
    """--model-file without a workspace: POST /score, the body limit, /score
    on a second server with versions and aliases, and SIGTERM draining."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pier_serve1_")
        cls.models = os.path.join(cls.tmp, "models")
        make_models(cls.models)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_score_default_model_and_body_limit(self):
        srv = Server("--model-file", os.path.join(self.models, "mlp.onnx"), "--max-body-mb", "1", "--no-access-log")
        try:
            x = np.random.default_rng(6).standard_normal((4, 16)).astype(np.float32)
            res = srv.json("POST", "/score", {"data": x.tolist()})
            want = pier_run(os.path.join(self.models, "mlp.onnx"), [x], os.path.join(self.tmp, "run"))
            np.testing.assert_array_equal(f32(res["result"]), want[0])
            self.assertEqual(srv.json("GET", "/v2/models/mlp")["versions"], ["1"])
            doc = srv.json("GET", "/swagger.json")
            self.assertIn("/score", doc["paths"])
            status, _, data = srv.request("POST", "/score", b"[" + b"0," * (600 * 1024) + b"0]")
            self.assertEqual(status, 413)
            self.assertIn("larger than the limit", json.loads(data)["error"])
            self.assertEqual(srv.request("GET", "/v2/health/live")[0], 200)
        finally:
            srv.close()

    def test_endless_loop_is_stopped_at_the_run_timeout(self):
        # y = x; while x > 0 (never changes): y += 1. With x <= 0 it returns x.
        import onnx
        from onnx import TensorProto, helper
        body = helper.make_graph(
            [helper.make_node("Identity", ["c_in"], ["c_out"]),
             helper.make_node("Add", ["y_in", "one"], ["y_out"])], "body",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
             helper.make_tensor_value_info("y_in", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("y_out", TensorProto.FLOAT, [1])],
            [helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])
        g = helper.make_graph(
            [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
             helper.make_node("Greater", ["m", "zero"], ["cond"]),
             helper.make_node("Loop", ["", "cond", "x"], ["y"], body=body)], "loop",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])])
        path = os.path.join(self.tmp, "loop.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
        srv = Server("--model-file", path, "--run-timeout", "0.3", "--workers", "1", "--no-access-log")
        try:
            t0 = time.monotonic()
            status, _, data = srv.request("POST", "/score", {"data": [1.0]})
            self.assertEqual(status, 504, data)
            self.assertIn("time limit of 300 ms", json.loads(data)["error"])
            self.assertLess(time.monotonic() - t0, 10)
            # The worker is free again: a request that does not loop is answered.
            self.assertEqual(srv.json("POST", "/score", {"data": [-2.0]})["result"], [-2.0])
            self.assertIn("time limit of 300 ms", srv.stderr())
        finally:
            srv.close()

    def test_versions_and_aliases_from_workspace(self):
        ws = os.path.join(self.tmp, "ws")
        subprocess.run([PIER, "workspace", "init", ws, "--no-config"], check=True, capture_output=True)
        for f in ["mlp.onnx", "mlp_b.onnx"]:
            subprocess.run([PIER, "model", "register", os.path.join(self.models, f), "--name", "m",
                            "--workspace", ws], check=True, capture_output=True)
        subprocess.run([PIER, "model", "alias", "m", "stable", "1", "--workspace", ws], check=True, capture_output=True)
        srv = Server("--model", "m@stable", "--model", "m:2", "--no-access-log", env={**os.environ, "PIER_WORKSPACE": ws})
        try:
            x = np.ones((1, 16), np.float32)
            v1 = pier_run(os.path.join(self.models, "mlp.onnx"), [x], os.path.join(self.tmp, "r1"))[0]
            v2 = pier_run(os.path.join(self.models, "mlp_b.onnx"), [x], os.path.join(self.tmp, "r2"))[0]
            np.testing.assert_array_equal(f32(srv.json("POST", "/models/m/versions/1/score", {"data": x.tolist()})["result"]), v1)
            np.testing.assert_array_equal(f32(srv.json("POST", "/models/m/versions/2/score", {"data": x.tolist()})["result"]), v2)
            np.testing.assert_array_equal(f32(srv.json("POST", "/models/m/score", {"data": x.tolist()})["result"]), v2)
            self.assertEqual(srv.json("GET", "/v2/models/m")["versions"], ["1", "2"])
            status, _, _ = srv.request("POST", "/score", {"data": x.tolist()})
            self.assertEqual(status, 404)  # two versions are served
        finally:
            srv.close()

    def test_full_queue_is_503(self):
        srv = Server("--model-file", os.path.join(self.models, "slow.onnx"), "--no-access-log", "--workers", "1",
                     "--threads", "1", "--max-queue", "1")
        try:
            def slow(n):
                body, hdrs = v2_binary_request([("x", "FP32", np.full((n, 64), 1e-3, np.float32))])
                t0 = time.monotonic()
                status, _, data = srv.request("POST", "/v2/models/slow/infer", body, hdrs, timeout=120)
                return status, time.monotonic() - t0, data
            n, t = 400, slow(400)[1]
            while t < 0.2 and n < 16000:
                n *= 2
                t = slow(n)[1]
            n = int(n * min(4.0, (0.8 / max(t, 1e-3)) ** 0.5))
            running = in_thread(lambda: slow(n))
            time.sleep(0.2)
            queued = in_thread(lambda: slow(8))  # waits for the only worker
            time.sleep(0.1)
            status, _, data = slow(8)  # the queue (1) is full
            self.assertEqual(status, 503, data[:200])
            self.assertIn("too many requests waiting", json.loads(data)["error"])
            self.assertEqual(running()[0], 200)
            self.assertEqual(queued()[0], 200)
            status, _, data = srv.request("GET", "/metrics")
            self.assertIn('pier_requests_total{model="slow",version="1",status="503"} 1', data.decode())
        finally:
            srv.close()

    def test_sigterm_drains(self):
        srv = Server("--model-file", os.path.join(self.models, "slow.onnx"), "--no-access-log", "--workers", "1",
                     "--threads", "1")
        try:
            def slow(n):
                x = np.full((n, 64), 1e-3, np.float32)
                body, hdrs = v2_binary_request([("x", "FP32", x)], binary_output=True)
                t0 = time.monotonic()
                status, _, data = srv.request("POST", "/v2/models/slow/infer", body, hdrs, timeout=120)
                return status, time.monotonic() - t0, data
            n, t = 400, slow(400)[1]
            while t < 0.3 and n < 16000:
                n *= 2
                t = slow(n)[1]
            n = int(n * min(4.0, (1.2 / max(t, 1e-3)) ** 0.5))
            join = in_thread(lambda: slow(n))
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            with self.assertRaises(OSError):  # no longer accepting
                socket.create_connection((srv.host, srv.port), timeout=2).close()
            status, took, data = join()
            self.assertEqual(status, 200, data[:200])
            self.assertEqual(srv.proc.wait(timeout=30), 0)
        finally:
            srv.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
