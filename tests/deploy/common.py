"""Shared helpers of the deployment tests: tiny ONNX models, running pier,
free ports and HTTP requests."""
import http.client
import json
import os
import socket
import subprocess
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PIER = os.path.abspath(os.environ.get("PIER") or os.path.join(os.path.dirname(__file__), "..", "..", "build", "pier"))
X = [[0.1, 0.2, 0.3, 0.4]]


def make_mlp(path, seed):
    """A 4 -> 8 -> 2 MLP with weights from `seed`; returns its output for X."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((4, 8)).astype(np.float32)
    b1 = rng.standard_normal(8).astype(np.float32)
    w2 = rng.standard_normal((8, 2)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Add", ["h", "b1"], ["h2"]),
         helper.make_node("Relu", ["h2"], ["h3"]), helper.make_node("MatMul", ["h3", "w2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"), numpy_helper.from_array(w2, "w2")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)
    x = np.array(X, np.float32)
    return (np.maximum(x @ w1 + b1, 0) @ w2).tolist()


def pier(*args, cwd=None, check=True, env=None, timeout=300):
    p = subprocess.run([PIER, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"pier {' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port, host="127.0.0.1"):
    """Nothing listens on the port and a new server could listen there (with
    SO_REUSEADDR, as every server sets it: closed connections may linger in
    TIME_WAIT)."""
    with socket.socket() as c:
        c.settimeout(2)
        if c.connect_ex((host, port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen()
            return True
        except OSError:
            return False


def score(port, data=None, key=None, timeout=30, path="/score"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Content-Type": "application/json"}
    if key:
        hdrs["Authorization"] = "Bearer " + key
    c.request("POST", path, json.dumps({"data": data or X}), hdrs)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, json.loads(body) if body else None


def close(a, b, tol=1e-4):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


class Workspace:
    """A temporary folder with a workspace and two versions of a model."""

    def __init__(self, name="mlp"):
        self.tmp = tempfile.TemporaryDirectory(prefix="pier-deploy-")
        self.dir = self.tmp.name
        pier("workspace", "init", cwd=self.dir)
        self.expected = {}
        for v, seed in ((1, 1), (2, 2)):
            path = os.path.join(self.dir, f"model{v}.onnx")
            self.expected[v] = make_mlp(path, seed)
            pier("model", "register", path, "--name", name, cwd=self.dir)
        self.name = name

    def run(self, *args, **kw):
        return pier(*args, cwd=self.dir, **kw)

    def cleanup(self):
        self.tmp.cleanup()
