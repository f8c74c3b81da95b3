"""Shared by the serving tests: start and stop `pier serve`, make requests,
encode and decode the v2 binary tensor format, run `pier run`."""
import http.client
import json
import os
import signal
import struct
import subprocess
import tempfile
import threading

import numpy as np

PIER = os.environ.get("PIER", "build/pier")
HERE = os.path.dirname(os.path.abspath(__file__))

V2_TYPES = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
    "FP32": np.float32, "FP64": np.float64,
}


def make_models(out):
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_models.py"), out], check=True)


class Server:
    """`pier serve ARGS --port 0`; stderr goes to a file (the access log)."""

    def __init__(self, *args, env=None):
        self.errfile = tempfile.NamedTemporaryFile(prefix="pier_serve_err_", suffix=".log", delete=False)
        self.proc = subprocess.Popen([PIER, "serve", "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=self.errfile, text=True, env=env)
        line = self.proc.stdout.readline()
        if "http://" not in line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"serve did not start: {line!r} {self.stderr()}")
        self.banner = line
        self.host = "127.0.0.1"
        self.port = int(line.split("http://")[1].split()[0].rsplit(":", 1)[1])

    def stderr(self):
        with open(self.errfile.name, errors="replace") as f:
            return f.read()

    def conn(self, timeout=30):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, timeout=30):
        c = conn or self.conn(timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, body=None, headers=None, want=200):
        status, hdrs, data = self.request(method, path, body, headers)
        if status != want:
            raise AssertionError(f"{method} {path}: {status} (wanted {want}): {data[:400]!r}")
        return json.loads(data) if data else None

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.proc.stdout.close()
        return rc

    def close(self):
        self.stop()
        self.errfile.close()
        os.unlink(self.errfile.name)


def pier_run(model, arrays, workdir):
    """Runs `pier run --threads 1` on the arrays; returns its outputs in order."""
    os.makedirs(workdir, exist_ok=True)
    args = [PIER, "run", model, "--threads", "1", "-o", workdir]
    for i, a in enumerate(arrays):
        p = os.path.join(workdir, f"in_{i}.npy")
        np.save(p, a)
        args += ["-i", p]
    subprocess.run(args, check=True, capture_output=True)
    outs = []
    k = 0
    while os.path.exists(os.path.join(workdir, f"output_{k}.npy")):
        outs.append(np.load(os.path.join(workdir, f"output_{k}.npy")))
        k += 1
    return outs


def encode_bytes(items):
    return b"".join(struct.pack("<I", len(s)) + s for s in items)


def decode_bytes(buf):
    out, at = [], 0
    while at < len(buf):
        (n,) = struct.unpack_from("<I", buf, at)
        out.append(buf[at + 4:at + 4 + n])
        at += 4 + n
    return out


def v2_binary_request(inputs, outputs=None, binary_output=None, extra=None):
    """inputs: [(name, datatype, array or list of bytes)]; all sent as binary.
    Returns (body, headers)."""
    header = {"inputs": []}
    blobs = []
    for name, dt, value in inputs:
        if dt == "BYTES":
            blob, shape = encode_bytes(value), [len(value)]
        else:
            arr = np.ascontiguousarray(value, dtype=V2_TYPES[dt])
            blob, shape = arr.tobytes(), list(arr.shape)
        header["inputs"].append({"name": name, "datatype": dt, "shape": shape,
                                 "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    if outputs is not None:
        header["outputs"] = outputs
    if binary_output is not None:
        header["parameters"] = {"binary_data_output": binary_output}
    if extra:
        header.update(extra)
    js = json.dumps(header).encode()
    return js + b"".join(blobs), {"Inference-Header-Content-Length": str(len(js)),
                                  "Content-Type": "application/octet-stream"}


def v2_decode(headers, data):
    """The outputs of a v2 response as {name: array or list of bytes}, and its JSON."""
    n = int(headers.get("inference-header-content-length", len(data)))
    js = json.loads(data[:n])
    at = n
    out = {}
    for o in js["outputs"]:
        dt, shape = o["datatype"], o["shape"]
        size = o.get("parameters", {}).get("binary_data_size")
        if size is not None:
            blob = data[at:at + size]
            at += size
            out[o["name"]] = decode_bytes(blob) if dt == "BYTES" else \
                np.frombuffer(blob, dtype=V2_TYPES[dt]).reshape(shape)
        elif dt == "BYTES":
            out[o["name"]] = [s.encode() for s in o["data"]]
        else:
            out[o["name"]] = np.array(o["data"], dtype=V2_TYPES[dt]).reshape(shape)
    assert at == len(data), (at, len(data))
    return out, js


def in_thread(fn):
    """Starts fn in a thread; returns a callable that joins and gives its result."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def join(timeout=60):
        t.join(timeout)
        if "error" in box:
            raise box["error"]
        return box.get("value")
    return join
