#!/usr/bin/python3
"""A seeded fuzzer for Pier's network-facing layers.

Starts `pier serve` (small models from make_models.py: float, int64 +
float multi-input, every v2 datatype incl. BYTES, an Expand model), a
second `pier serve` that needs an API key, and `pier workspace serve`
(the registry's REST API), then sends random and structured mutations over
raw sockets: broken request lines and headers, conflicting Content-Length /
Transfer-Encoding, bad chunk sizes, pipelining, HTTP/1.0, absurd targets
and escapes, JSON edge cases (deep nesting, huge numbers, NaN, wrong types),
v2 requests whose shape, data, binary_data_size or
Inference-Header-Content-Length disagree, BYTES with bad length prefixes,
multipart uploads with broken boundaries, truncated or non-ONNX models,
malformed Authorization headers, and clients that vanish mid-body.

After each request it checks that the answer is sensible (no 5xx for a
client's mistake, an answer at all unless the protocol allows closing), the
server process is alive, health still answers, RSS stays bounded and the
registry still lists cleanly. Failures are written, with the raw request,
to --out (default: ./fuzz_out).

Usage: fuzz_http.py --pier build/pier [--iterations N] [--seed S] [--out DIR]
Exit status: 0 when no failure was found, 1 otherwise.
"""
import argparse
import collections
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ANSWER_TIMEOUT = 15.0

# ---------------------------------------------------------------- processes


class Proc:
    def __init__(self, args, marker, base_of):
        self.errlog = tempfile.NamedTemporaryFile(prefix="pier_fuzz_err_", suffix=".log", delete=False)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.errlog, text=True)
        line = self.proc.stdout.readline()
        if marker not in line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"{args[1]} did not start: {line!r} {self.stderr()[-2000:]}")
        self.port = base_of(line)

    def stderr(self):
        with open(self.errlog.name, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.errlog.close()
        return self.proc.returncode


def serve_port(line):
    return int(line.split("http://")[1].split()[0].rsplit(":", 1)[1].split("/")[0])


# ---------------------------------------------------------------- raw HTTP


class Answer:
    def __init__(self, status=None, headers=None, body=b"", raw=b"", closed=False, timeout=False, count=0):
        self.status, self.headers, self.body, self.raw = status, headers or {}, body, raw
        self.closed, self.timeout, self.count = closed, timeout, count
        self.head = False


def read_responses(sock, want, deadline, head_only=None):
    """Reads up to `want` responses; returns (list of (status, headers, body)), closed, timeout."""
    buf, out = b"", []
    closed = timed_out = False
    while len(out) < want:
        # Parse what we have.
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            lines = head.split(b"\r\n")
            try:
                status = int(lines[0].split(b" ", 2)[1])
            except (IndexError, ValueError):
                out.append((-1, {}, buf))
                break
            hdrs = {}
            for ln in lines[1:]:
                k, _, v = ln.partition(b":")
                hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
            if status in (100, 102):
                buf = rest
                continue
            n = hdrs.get("content-length")
            if head_only and head_only[0]:
                head_only.pop(0)
                n = "0"
            elif head_only:
                head_only.pop(0)
            if n is not None and len(rest) >= int(n):
                out.append((status, hdrs, rest[:int(n)]))
                buf = rest[int(n):]
                continue
        remaining = deadline - time.time()
        if remaining <= 0:
            timed_out = True
            break
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            timed_out = True
            break
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
    if closed and buf and len(out) < want:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        try:
            out.append((int(head.split(b" ", 2)[1]), {}, rest))
        except (IndexError, ValueError):
            out.append((-1, {}, buf))
    return out, closed, timed_out


def exchange(port, data, want=1, timeout=ANSWER_TIMEOUT, chunks=None, shutdown_after=False, vanish=False):
    """Sends `data` (or the list `chunks`, with pauses) and reads `want` answers."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            if chunks:
                for c in chunks:
                    s.sendall(c)
                    time.sleep(0.01)
            else:
                s.sendall(data)
            if shutdown_after:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if vanish:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return Answer(closed=True)
        # Which of the requests are HEAD (their answers have no body).
        heads = [line.startswith(b"HEAD ") for line in data.split(b"\r\n") if b" HTTP/" in line[:9000]] \
            if data else []
        got, closed, timed_out = read_responses(s, want, time.time() + timeout, heads)
    finally:
        s.close()
    a = Answer(closed=closed, timeout=timed_out, count=len(got))
    if got:
        a.status, a.headers, a.body = got[0]
    a.all = got
    return a


def sequence(port, datas):
    """Sends each request on one kept-alive connection after the previous answer; the last must be 200."""
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
    a = Answer()
    a.all = []
    try:
        for i, d in enumerate(datas):
            try:
                s.sendall(d)
            except (BrokenPipeError, ConnectionResetError):
                a.closed = True
                break
            heads = [d.startswith(b"HEAD ")]
            got, closed, timed_out = read_responses(s, 1, time.time() + ANSWER_TIMEOUT, heads)
            a.all += got
            if timed_out:
                a.timeout = True
                break
            if not got or closed:
                a.closed = True
                break
            st, hd, bd = got[0]
            if hd.get("connection", "").lower() == "close":
                a.closed = True
                break
    finally:
        s.close()
    a.count = len(a.all)
    a.sent = len(datas)
    return a


def endless(port, start, mb, proc):
    s = socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT)
    rss0 = proc.rss_kb()
    fill = (b"0" if start == b"000" else b"a") * (1 << 20)
    peak = rss0
    try:
        s.sendall(b"POST /models/mlp/score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + start)
        for i in range(mb):
            s.sendall(fill)
            peak = max(peak, proc.rss_kb())
    except (BrokenPipeError, ConnectionResetError):
        pass
    got, closed, timed_out = read_responses(s, 1, time.time() + ANSWER_TIMEOUT)
    s.close()
    a = Answer(closed=closed, timeout=timed_out, count=len(got))
    a.all = got
    if got:
        a.status, a.headers, a.body = got[0]
    a.grown_mb = (peak - rss0) / 1024
    return a


def req(method, target, body=b"", headers=None, version="HTTP/1.1", length=True, close=False):
    h = [f"{method} {target} {version}", "Host: 127.0.0.1"]
    for k, v in (headers or {}).items():
        if isinstance(v, list):
            h += [f"{k}: {x}" for x in v]
        else:
            h.append(f"{k}: {v}")
    if length and body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                                for k in (headers or {})):
        h.append(f"Content-Length: {len(body)}")
    if close:
        h.append("Connection: close")
    head = ("\r\n".join(h) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + (body or b"")


# ---------------------------------------------------------------- mutations

MODELS = {"mlp": ("x", "FP32", [["N", 16]]), "multi": None, "types": None, "expand": None}


def rand_bytes(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def weird_number(rng):
    return rng.choice(["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "nan", "1" * 400, "-0",
                       "18446744073709551616", "-9223372036854775809", "9223372036854775807",
                       "1.5", "0x10", "+1", ".5", "1e-400", "true", "null", "\"1\"", "[]", "{}", "1.0e+308"])


def deep(n, open_="[", close="]", leaf="1"):
    return open_ * n + leaf + close * n


def json_mutation(rng, text):
    """Byte-level and token-level mutations of a JSON text."""
    b = bytearray(text.encode())
    k = rng.randrange(9)
    if k == 0 and b:
        del b[rng.randrange(len(b)):]
    elif k == 1 and b:
        i = rng.randrange(len(b))
        b[i] = rng.getrandbits(8)
    elif k == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = rng.choice([b"\x00", b"\xff\xfe", b"\xc3", b"\"", b",", b"]", b"}", b"[", b"{", b"\\u0000",
                             b"\\ud800", weird_number(rng).encode()])
    elif k == 3:
        digits = [i for i, c in enumerate(b) if chr(c).isdigit()]
        if digits:
            i = rng.choice(digits)
            b[i:i + 1] = weird_number(rng).encode()
    elif k == 4:
        b = bytearray(text.replace("\"FP32\"", "\"" + rng.choice(["fp32", "FLOAT", "", "BYTES", "INT64", "\\u0000",
                                                                 "BF16", "FP16", "X" * 1000]) + "\"").encode())
    elif k == 5:
        b = bytearray(text.replace("[", "[" * rng.randint(2, 40), 1).encode())
    elif k == 6:
        b = bytearray((text + rng.choice([" ", "x", "{}", "\x00", ","])).encode())
    elif k == 7:
        b = bytearray(text.replace(":", ":" + rng.choice(["null", "true", "\"s\"", "{}", "[]", "-1", "1e400"]) + ",", 1)
                      .encode())
    else:
        b = bytearray(text.encode("utf-16") if rng.random() < 0.5 else text.encode())
    return bytes(b)


def v2_json(model, rng):
    if model == "mlp":
        n = rng.choice([1, 2])
        return {"inputs": [{"name": "x", "datatype": "FP32", "shape": [n, 16],
                            "data": [rng.random() for _ in range(16 * n)]}]}
    if model == "multi":
        return {"inputs": [{"name": "a", "datatype": "FP32", "shape": [2, 4], "data": [1.0] * 8},
                           {"name": "b", "datatype": "INT64", "shape": [2], "data": [1, 2]}]}
    dt = rng.choice(["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
                     "FP32", "FP64", "BYTES"])
    data = {"BOOL": [True, False], "BYTES": ["a", "\u00e9"]}.get(dt, [1, 2])
    return {"inputs": [{"name": f"in_{dt.lower()}", "datatype": dt, "shape": [2], "data": data}],
            "outputs": [{"name": f"out_{dt.lower()}"}]}


def gen_v2_json_mutated(rng):
    model = rng.choice(["mlp", "multi", "types"])
    body = json_mutation(rng, json.dumps(v2_json(model, rng)))
    return "serve", req("POST", f"/v2/models/{model}/infer", body, {"Content-Type": "application/json"}), "4xx_or_200"


def gen_v2_structured(rng):
    model = rng.choice(["mlp", "multi", "types"])
    doc = v2_json(model, rng)
    inp = doc["inputs"][0]
    k = rng.randrange(16)
    expect = "4xx"
    if k == 0:
        inp["shape"] = [rng.choice([0, 1, 3, 2 ** 31, 2 ** 62, -1, 2 ** 63 - 1]) for _ in range(rng.randint(0, 6))]
        expect = "4xx_or_200"
    elif k == 1:
        inp["data"] = inp["data"][:-1]
    elif k == 2:
        inp["data"] = inp["data"] + inp["data"][:1]
    elif k == 3:
        inp["datatype"] = rng.choice(["FP33", "", "fp32", "STRING", "INT128", "BYTES", "BF16", None, 7, []])
    elif k == 4:
        inp["name"] = rng.choice(["", "../x", "x\u0000", "\u00e9", "nope", None, 1, "x" * 5000])
    elif k == 5:
        doc["outputs"] = [{"name": rng.choice(["nope", "", None, "y", "out_fp32"])},
                          {"name": rng.choice(["y", "y", "sum", "next"])}]
        expect = "4xx_or_200"
    elif k == 6:
        doc["inputs"].append(dict(inp))
    elif k == 7:
        inp["data"] = rng.choice([None, {}, "str", [[1, 2], [3]], [[1], 2], deep(64), [float("nan")] * 2])
        if isinstance(inp["data"], str) and inp["data"].startswith("["):
            inp["data"] = json.loads(inp["data"])
    elif k == 8:
        doc["parameters"] = rng.choice([None, [], "x", {"binary_data_output": "yes"}, {"binary_data_output": 1},
                                        {"binary_data_output": True}])
        expect = "4xx_or_200"
    elif k == 9:
        inp["parameters"] = rng.choice([None, [], {"binary_data_size": -1}, {"binary_data_size": 1.5},
                                        {"binary_data_size": 2 ** 64 - 1}, {"binary_data_size": 8}])
    elif k == 10:
        doc = rng.choice([[], "x", None, 1, {"inputs": {}}, {"inputs": None}, {}, {"inputs": [1]},
                          {"inputs": [], "outputs": []}])
        expect = "4xx_or_200"
    elif k == 11:
        inp["shape"] = rng.choice(["2", [2.5], ["2"], [None], [True], {}, [2 ** 64], [[2]]])
    elif k == 12:
        del inp[rng.choice(list(inp))]
        expect = "4xx_or_200"
    elif k == 13:
        doc["id"] = rng.choice([1, None, "\u0000", "x" * 10000, "\udc80"[:0] + "ok", []])
        expect = "4xx_or_200"
    elif k == 14:
        inp["data"] = [weird_number(rng) for _ in inp["data"]]
        body = json.dumps(doc)
        for w in ("NaN", "Infinity"):
            body = body.replace(f"\"{w}\"", w)
        return "serve", req("POST", f"/v2/models/{model}/infer", body.encode()), "4xx_or_200"
    else:
        doc["outputs"] = rng.choice([None, {}, [None], [{"name": "y", "parameters": {"binary_data": "x"}}],
                                     [{"name": "y", "parameters": {"binary_data": True}}]])
        expect = "4xx_or_200"
    body = json.dumps(doc, allow_nan=True).encode()
    return "serve", req("POST", f"/v2/models/{model}/infer", body), expect


def gen_v2_binary(rng):
    """Binary tensor extension with inconsistent sizes."""
    model = rng.choice(["mlp", "types", "multi"])
    if model == "mlp":
        ins = [("x", "FP32", [1, 16], struct.pack("<16f", *([1.0] * 16)))]
    elif model == "multi":
        ins = [("a", "FP32", [1, 4], struct.pack("<4f", 1, 2, 3, 4)), ("b", "INT64", [1], struct.pack("<q", 3))]
    else:
        dt = rng.choice(["BYTES", "BOOL", "INT8", "FP16", "UINT64", "FP64"])
        if dt == "BYTES":
            items = [b"ab", b"", b"\xff" * 3]
            blob = b"".join(struct.pack("<I", len(x)) + x for x in items)
            shape = [3]
        else:
            size = {"BOOL": 1, "INT8": 1, "FP16": 2, "UINT64": 8, "FP64": 8}[dt]
            blob = bytes([1]) * size * 3
            shape = [3]
        ins = [(f"in_{dt.lower()}", dt, shape, blob)]
    header = {"inputs": []}
    blobs = []
    for name, dt, shape, blob in ins:
        header["inputs"].append({"name": name, "datatype": dt, "shape": shape,
                                 "parameters": {"binary_data_size": len(blob)}})
        blobs.append(blob)
    if rng.random() < 0.3:
        header["parameters"] = {"binary_data_output": True}
    k = rng.randrange(12)
    expect = "4xx"
    hcl_delta = 0
    hcl_text = None
    if k == 0:
        header["inputs"][0]["parameters"]["binary_data_size"] += rng.choice([1, 7, 1000, 2 ** 40, 2 ** 63])
    elif k == 1:
        header["inputs"][0]["parameters"]["binary_data_size"] = max(0, header["inputs"][0]["parameters"]
                                                                   ["binary_data_size"] - rng.choice([1, 3, 4]))
    elif k == 2:
        hcl_delta = rng.choice([1, 100, 10 ** 6, -1, -5])
    elif k == 3:
        hcl_text = rng.choice(["-1", "", " 5", "0x10", "99999999999999999999999", "1e3", "5 ", "NaN", "+3"])
    elif k == 4 and ins[0][1] == "BYTES":
        blobs[0] = struct.pack("<I", rng.choice([2 ** 32 - 1, 1000, 4])) + blobs[0][4:]
    elif k == 5:
        blobs.append(rand_bytes(rng, rng.randint(1, 9)))
    elif k == 6:
        header["inputs"][0]["shape"] = rng.choice([[2 ** 61, 8], [0], [2 ** 31, 2 ** 31], [5], [], [1, 1, 1, 1, 16]])
    elif k == 7:
        header["inputs"][0]["data"] = [1]
    elif k == 8:
        blobs = [rand_bytes(rng, len(b)) for b in blobs]
        expect = "4xx_or_200"
    elif k == 9:
        header["inputs"][0]["datatype"] = rng.choice(["BYTES", "FP64", "BOOL"])
    elif k == 10:
        header["outputs"] = [{"name": rng.choice(["nope", "y", "out_bool"]), "parameters": {"binary_data": True}}]
        expect = "4xx_or_200"
    else:
        expect = "4xx_or_200"
    js = json.dumps(header).encode()
    body = js + b"".join(blobs)
    hcl = hcl_text if hcl_text is not None else str(len(js) + hcl_delta)
    h = {"Inference-Header-Content-Length": hcl, "Content-Type": "application/octet-stream"}
    if rng.random() < 0.1:
        h["Inference-Header-Content-Length"] = [hcl, "3"]
    return "serve", req("POST", f"/v2/models/{model}/infer", body, h), expect


def score_body(rng):
    model = rng.choice(["mlp", "multi", "types", "expand"])
    if model == "mlp":
        doc = {"data": [[0.5] * 16]}
    elif model == "multi":
        doc = {"data": {"a": [[1.0] * 4], "b": [1]}}
    elif model == "expand":
        doc = {"data": {"value": [1.0], "shape": [2, 2]}}
    else:
        vals = {"bool": [True, False], "bytes": ["a", "\u00e9"], "fp32": [1.5, 2.0], "fp64": [1e300, -1.0],
                "fp16": [1.0, 2.0]}
        doc = {"data": {f"in_{t}": vals.get(t, [1, 2]) for t in
                        ("bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "fp16",
                         "fp32", "fp64", "bytes")}}
    return model, doc


def gen_score(rng):
    model, doc = score_body(rng)
    k = rng.randrange(10)
    expect = "4xx"
    if k == 0:
        body = json_mutation(rng, json.dumps(doc))
        expect = "4xx_or_200"
    elif k == 1:
        body = deep(rng.choice([1000, 5000, 100000]), *rng.choice([("[", "]"), ("{\"a\":", "}")])).encode()
        body = b"{\"data\":" + body + b"}"
    elif k == 2:
        d = doc["data"]
        if isinstance(d, dict):
            key = rng.choice(list(d))
            d[key] = rng.choice([None, "s", {}, [[1], [1, 2]], [True], deep(40), [1e308] * 4, [[]], []])
            if isinstance(d[key], str) and d[key].startswith("["):
                d[key] = json.loads(d[key])
        else:
            doc["data"] = rng.choice([None, "s", {}, [[1], [1, 2]], [[0.5] * 15], [[[0.5] * 16]], []])
        body = json.dumps(doc).encode()
        expect = "4xx_or_200"
    elif k == 3:
        doc["data"] = {rng.choice(["nope", "", "\u0000", "x" * 3000, "../../etc/passwd"]): [1]}
        body = json.dumps(doc).encode()
    elif k == 4:
        body = rng.choice([b"", b"null", b"[]", b"1", b"\"data\"", b"{\"data\"}", b"{}", b"{\"data\":1,\"data\":2}",
                           b"\xef\xbb\xbf{\"data\":[[1]]}", b"{\"data\":[NaN]}", b"{\"data\":[Infinity]}"])
    elif k == 5 and model == "expand":
        doc["data"]["shape"] = rng.choice([[2 ** 31, 2 ** 31], [-1, 2], [2 ** 62, 4], [0, 5], [100000, 100000]])
        body = json.dumps(doc).encode()
        expect = "4xx_or_200_or_oom"
    elif k == 6:
        body = json.dumps(doc).encode()
        expect = "200"
    elif k == 7:
        # Huge numbers at every leaf position.
        text = json.dumps(doc)
        body = text.replace("1", rng.choice(["1e400", "-1e400", "99999999999999999999", "1e38", "3.5e38", "NaN"])).encode()
        expect = "4xx_or_200"
    elif k == 8:
        body = rand_bytes(rng, rng.randint(0, 300))
        expect = "4xx_or_200"
    else:
        body = json.dumps(doc).encode() + b" " * rng.randint(0, 10) + rng.choice([b"", b"x", b"{}", b"\x00"])
        expect = "4xx_or_200"
    path = rng.choice([f"/models/{model}/score", f"/models/{model}/versions/1/score"])
    return "serve", req("POST", path, body, {"Content-Type": "application/json"}), expect


def gen_targets(rng):
    """Absurd targets, escapes, traversal, methods."""
    model = rng.choice(["mlp", "types", "..", "%2e%2e", "..%2f..%2fetc", "mlp%00", "%00", "%ff%fe", "%", "%4",
                        "%zz", "m%2Fl", "\u00e9".encode().decode("latin-1"), "x" * 8000, "", "mlp/../mlp",
                        "%252e", "mlp;v=1", "*", "mlp?x"])
    version = rng.choice(["1", "0", "-1", "99999999999999999999999", "1.0", "%31", "", "x", "01", "+1", " 1",
                          "9223372036854775808", "..%2f"])
    path = rng.choice([f"/v2/models/{model}", f"/v2/models/{model}/versions/{version}",
                       f"/v2/models/{model}/ready", f"/v2/models/{model}/versions/{version}/ready",
                       f"/v2/models/{model}/versions/{version}/infer", f"/models/{model}/versions/{version}/score",
                       "/v2", "/v2/", "//v2//health//live", "/metrics?x=%zz", "/swagger.json?" + "a=" * 2000,
                       "*", "http://127.0.0.1/v2/health/live", "/v2/health/live#frag", "/%", "/v2/health/live?%",
                       "/../../../../etc/passwd", "/" + "a/" * 3000])
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE", "CONNECT", "BREW",
                         "get", "G\x00T", "X" * 100])
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    return "serve", req(method, path, body), "not5xx"


def gen_http_framing(rng):
    """Request line, headers, Content-Length and chunked encoding."""
    k = rng.randrange(22)
    good = json.dumps({"data": [[0.5] * 16]}).encode()
    p = "/models/mlp/score"
    if k == 0:
        return "serve", rand_bytes(rng, rng.randint(1, 600)) + b"\r\n\r\n", "close_ok"
    if k == 1:
        return "serve", f"POST {p} HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{{}}xxxxx".encode(), \
            "close_ok"
    if k == 2:
        return "serve", f"POST {p} HTTP/1.1\r\nContent-Length: {len(good)}\r\nTransfer-Encoding: chunked\r\n\r\n" \
            .encode() + f"{len(good):x}\r\n".encode() + good + b"\r\n0\r\n\r\n", "close_ok"
    if k == 3:
        size = rng.choice(["ffffffffffffffffff", "-1", "zz", "1;ext=1", " 5", "7fffffffffffffff", "", "0x10",
                           "10000000"])
        return "serve", f"POST {p} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\n".encode() + good + \
            b"\r\n0\r\n\r\n", "close_ok"
    if k == 4:
        return "serve", f"POST {p} HTTP/1.1\r\nContent-Length: {rng.choice(['-1', '1e3', ' 12', '18446744073709551616', '0x10', '', '+5', '99999999999'])}\r\n\r\n{{}}".encode(), "close_ok"
    if k == 5:
        te = rng.choice(["gzip", "chunked, gzip", "gzip, chunked", "identity", "CHUNKED", "chunked;q=1", "xchunked"])
        return "serve", f"POST {p} HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n".encode() + \
            f"{len(good):x}\r\n".encode() + good + b"\r\n0\r\n\r\n", "close_ok"
    if k == 6:
        n = rng.randint(2, 6)
        one = req("POST", p, good) if rng.random() < 0.5 else req("GET", "/v2/health/live")
        return "serve", one * n, ("pipeline", n)
    if k == 7:
        return "serve", req("GET", "/v2/health/live", None, version="HTTP/1.0"), "200"
    if k == 8:
        return "serve", req("POST", p, good, version=rng.choice(["HTTP/1.0", "HTTP/0.9", "HTTP/2.0", "HTTP/1.2",
                                                                 "HTTP/9.9", "HTTPS/1.1", "http/1.1", ""])), "close_ok"
    if k == 9:
        return "serve", b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * rng.choice([20000, 70000]) + \
            b"\r\n\r\n", "close_ok"
    if k == 10:
        many = "".join(f"X-H{i}: v\r\n" for i in range(rng.choice([100, 1000, 5000])))
        return "serve", f"GET /v2/health/live HTTP/1.1\r\n{many}\r\n".encode(), "close_ok"
    if k == 11:
        return "serve", b"GET /v2/health/live HTTP/1.1\r\nBad Header\r\n\r\n", "close_ok"
    if k == 12:
        return "serve", b"GET /v2/health/live HTTP/1.1\r\nX: a\x00b\r\n\r\n", "close_ok"
    if k == 13:
        return "serve", b"GET /v2/health/live HTTP/1.1\nHost: x\n\n", "close_ok"
    if k == 14:
        # Expect: 100-continue and then a different body length.
        return "serve", f"POST {p} HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: {len(good)}\r\n\r\n".encode() \
            + good, "200"
    if k == 15:
        # Chunked with trailers and chunk extensions.
        body = b"".join(f"{len(c):x};a=b\r\n".encode() + c + b"\r\n" for c in [good[:10], good[10:]])
        return "serve", f"POST {p} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body + \
            b"0\r\nX-Trailer: 1\r\n\r\n", "200"
    if k == 16:
        # Chunked body with a chunk larger than the body limit (64 MiB default).
        return "serve", f"POST {p} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{2 ** 40:x}\r\nabc".encode(), \
            "close_ok"
    if k == 17:
        return "serve", f"POST {p} HTTP/1.1\r\nContent-Length: {2 ** 62}\r\n\r\nabc".encode(), "413"
    if k == 18:
        return "serve", b"\r\n" * rng.randint(1, 50) + req("GET", "/v2/health/live"), "close_ok"
    if k == 19:
        # Header with obs-fold and weird whitespace.
        return "serve", b"GET /v2/health/live HTTP/1.1\r\nX: a\r\n b\r\n\tc\r\nHost : x\r\n\r\n", "close_ok"
    if k == 19 and rng.random() < 0.5:
        # HEAD then GET on one connection: the HEAD answer must have no body.
        return "serve", req("HEAD", rng.choice(["/swagger.json", "/v2/models/mlp", "/metrics", "/nope"]), None) + \
            req("GET", "/v2/health/live"), ("pipeline", 2)
    if k == 20:
        te = "Transfer-Encoding: chunked\r\n" * 2
        return "serve", f"POST {p} HTTP/1.1\r\n{te}\r\n".encode() + f"{len(good):x}\r\n".encode() + good + \
            b"\r\n0\r\n\r\n", "close_ok"
    return "serve", f"POST {p} HTTP/1.1\r\nContent-Length: {len(good) + 10}\r\n\r\n".encode() + good, "slow_ok"


def gen_auth(rng):
    key = "secret-key"
    v = rng.choice(["", "Bearer", "Bearer ", "bearer secret-key", "Bearer  secret-key ", "Basic c2VjcmV0",
                    "Bearer secret-key\x00", "Bearer " + "k" * 10000, "Bearer secret-ke", "Bearer secret-keyX",
                    "Bearer \u00e9", "Token secret-key", "Bearer\tsecret-key", "Bearer secret-key, Bearer x"])
    multi = rng.random() < 0.2
    headers = {"Authorization": [v, f"Bearer {key}"] if multi else v}
    path = rng.choice(["/v2/models/mlp", "/v2", "/swagger.json", "/models/mlp/score", "/v2/health/live", "/metrics"])
    body = json.dumps({"data": [[0.5] * 16]}).encode() if path.endswith("score") else None
    method = "POST" if body else "GET"
    raw = req(method, path, body or b"", headers)
    return "auth", raw.replace(b"\xc3\xa9", b"\xe9") if rng.random() < 0.5 else raw, "not5xx"


# ------------------------------------------------------------------ registry

ONNX_MODELS = {}


def multipart(boundary, parts, closing=True):
    out = b""
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode() + "".join(f"{h}\r\n" for h in headers).encode() + b"\r\n" + data + b"\r\n"
    if closing:
        out += f"--{boundary}--\r\n".encode()
    return out


def gen_registry(rng):
    add = ONNX_MODELS["add"]
    name = rng.choice(["fz", "fz2", "..", ".", "a/b", "a%2Fb", "\u00e9", "x" * 300, "%00", "a b", "-x", "_", "CON",
                       "fz:1", "fz@prod", "fz\u0000", "a%zz", "", "%2e%2e"])
    k = rng.randrange(14)
    expect = "not5xx"
    b = "bnd" + str(rng.randrange(1000))
    cd = "Content-Disposition: form-data"
    if k == 0:
        body = rng.choice([add, add[: rng.randrange(1, len(add))], rand_bytes(rng, 200), b"\x08\x07" * 50,
                           ONNX_MODELS["not_onnx"], b"\x00" * 64, add + rand_bytes(rng, 10)])
        return "ws", req("POST", f"/api/v1/models?name={name}", body), expect
    if k == 1:
        body = add[:]
        body = bytearray(body)
        for _ in range(rng.randint(1, 20)):
            body[rng.randrange(len(body))] = rng.getrandbits(8)
        return "ws", req("POST", f"/api/v1/models/{name}/versions", bytes(body)), expect
    if k == 2:
        parts = [([f'{cd}; name="name"'], b"fzm"), ([f'{cd}; name="file"; filename="m.onnx"'], add)]
        rng.shuffle(parts)
        body = multipart(b, parts, closing=rng.random() < 0.7)
        mut = rng.randrange(8)
        ct = f"multipart/form-data; boundary={b}"
        if mut == 0:
            ct = rng.choice(["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\"",
                             f"multipart/form-data; boundary={'z' * 300}", "multipart/form-data; boundary=\"a\\\"",
                             f"multipart/form-data; boundary={b}; boundary=other", "multipart/form-data;;;="])
        elif mut == 1:
            body = body[: rng.randrange(len(body))]
        elif mut == 2:
            body = body.replace(b"\r\n", b"\n")
        elif mut == 3:
            body = body.replace(f"--{b}".encode(), f"--{b}x".encode(), 1)
        elif mut == 4:
            body = body.replace(b"Content-Disposition: form-data", b"Content-Disposition: attachment", 1)
        elif mut == 5:
            body = b"preamble\r\n" + body
        elif mut == 6:
            body = body.replace(add, add[: len(add) // 2])
        return "ws", req("POST", "/api/v1/models", body, {"Content-Type": ct}), expect
    if k == 3:
        parts = [([f'{cd}; name="name"'], b"fzm"), ([f'{cd}; name="description"'], b"d" * rng.choice([10, 100000])),
                 ([f'{cd}; name="tag"'], rng.choice([b"a=b", b"=", b"", b"a", b"\xff=\xff", b"k" * 5000 + b"=v"])),
                 ([f'{cd}; name="property"'], rng.choice([b"a=b", b"=x", b"a"])),
                 ([f'{cd}; name="file"; filename="m.onnx"'], add)]
        if rng.random() < 0.3:
            parts.append(([f'{cd}; name="file"'], add))
        if rng.random() < 0.3:
            parts.append(([f'{cd}; name="{rng.choice(["bogus", "", "name"])}"'], b"zzz"))
        return "ws", req("POST", "/api/v1/models", multipart(b, parts),
                         {"Content-Type": f"multipart/form-data; boundary={b}"}), expect
    if k == 4:
        h = {rng.choice(["X-Pier-Name", "X-Pier-Tag", "X-Pier-Property", "X-Pier-Description"]):
             rng.choice(["", "=", "a=b", "\xff", "x" * 3000, "fz", "a=b=c"])}
        return "ws", req("POST", "/api/v1/models?name=fz" if rng.random() < 0.5 else "/api/v1/models", add, h), expect
    if k == 5:
        q = rng.choice(["tag=", "tag==", "tag=a=b", "name=", "name=%zz", "tag=%ff", "x=1", "name=a&name=b", "&&&",
                        "tag=" + "a" * 3000, "name=fz"])
        return "ws", req("GET", f"/api/v1/models?{q}", b""), expect
    if k == 6:
        ref = rng.choice(["fz", "fz:1", "fz:0", "fz:-1", "fz:99999999999999999999", "fz@", "fz@x", "fz:", ":1",
                          "@prod", "fz:1:2", "fz@prod@x", name, "fz%3A1", "fz:1.0"])
        method = rng.choice(["GET", "DELETE", "PATCH"])
        path = rng.choice([f"/api/v1/models/{ref}", f"/api/v1/models/{ref}/content", f"/api/v1/models/{ref}/versions",
                           f"/api/v1/models/{ref}/aliases"])
        body = b""
        if method == "PATCH":
            body = rng.choice([b'{"tags":{"a":"b"}}', b'{"tags":{"a":null}}', b'{"tags":{"":"b"}}',
                               b'{"tags":{"a":1}}', b"{", b"[]", deep(100000, "{\"tags\":", "}").encode(),
                               b'{"tags":{"\\u0000":"x"}}', b'{"tags":{}}', b'{"tags":[]}', b"\xff"])
        return "ws", req(method, path, body), expect
    if k == 7:
        body = rng.choice([b'{"alias":"prod","version":1}', b'{"alias":"","version":1}', b'{"alias":"12","version":1}',
                           b'{"alias":"prod","version":-1}', b'{"alias":"prod","version":1e3}',
                           b'{"alias":"prod","version":99999999999999999999}', b'{"alias":1,"version":1}',
                           b'{"alias":"a/b","version":1}', b'{"alias":"prod","version":1,"x":2}', b"[", b"null",
                           b'{"alias":"prod","version":1,"alias":"x"}', deep(5000).encode()])
        return "ws", req("POST", f"/api/v1/models/{rng.choice(['fz', name])}/aliases", body), expect
    if k == 8:
        return "ws", req("DELETE", f"/api/v1/models/fz/aliases/{rng.choice(['prod', '', '%00', '..', 'x' * 500, '%zz'])}",
                         b""), expect
    if k == 9:
        return "ws", req(rng.choice(["GET", "POST"]),
                         rng.choice(["/api/v1/gc", "/api/v1/check", "/api/v1/health", "/api/v1/openapi.yaml",
                                     "/api/v1/models/", "/api/v1//models", "/api/v2/models", "/api/v1/models/%",
                                     "/api/v1/models/" + "%41" * 3000]), b""), "not5xx"
    if k == 10:
        # Truncated upload: a Content-Length larger than what is sent, then the client goes away.
        return "ws", f"POST /api/v1/models?name=trunc HTTP/1.1\r\nContent-Length: {len(add) * 2}\r\n\r\n".encode() \
            + add, "vanish"
    if k == 11:
        body = add
        chunked = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in (body[:100], body[100:])) + b"0\r\n\r\n"
        if rng.random() < 0.5:
            chunked = chunked[: rng.randrange(len(chunked))]
            return "ws", b"POST /api/v1/models?name=chunk HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, \
                "vanish"
        return "ws", b"POST /api/v1/models?name=chunkok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, \
            "not5xx"
    if k == 12:
        return "ws", req("POST", f"/api/v1/models?name=fzbig", b"\x0a" + b"\xff" * 10 + rand_bytes(rng, 5000)), expect
    model = rng.choice(["gradient", "external", "empty", "not_onnx", "add", "mul"])
    return "ws", req("POST", f"/api/v1/models?name=fzm&tag=k%3Dv", ONNX_MODELS[model]), expect


def gen_keepalive(rng):
    """Several mutated requests on one connection, each answered before the next: state left by one
    (an error, a lingering body, a parser buffer) must not spoil the next."""
    seq = []
    for _ in range(rng.randint(2, 5)):
        gen = rng.choice([gen_v2_structured, gen_score, gen_v2_binary, gen_targets, gen_v2_json_mutated])
        _, data, _ = gen(rng)
        seq.append(data)
    seq.append(req("POST", "/models/mlp/score", json.dumps({"data": [[0.5] * 16]}).encode()))
    return "serve", seq, "sequence"


def gen_fragmented(rng):
    """Another generator's request sent in small pieces with pauses (partial reads everywhere)."""
    gen = rng.choice([gen_v2_structured, gen_score, gen_v2_binary, gen_http_framing, gen_registry])
    target, data, expect = gen(rng)
    if not isinstance(data, bytes) or expect in ("vanish", "slow_ok") or len(data) > 200000:
        return target, data, expect
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 12)))) if len(data) > 1 else []
    pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
    return target, pieces, ("fragments", expect)


def gen_endless_line(rng):
    """A chunk-size line / extension / trailer that never ends: refused at a bounded size."""
    start = rng.choice([b"5;e=", b"0\r\nX-T: ", b"000", b"5\r\nabcde\r\n3;"])
    return rng.choice(["serve", "ws"]), (start, rng.choice([8, 32])), "endless"


GENERATORS = [(gen_v2_json_mutated, 10), (gen_v2_structured, 14), (gen_v2_binary, 12), (gen_score, 14),
              (gen_targets, 8), (gen_http_framing, 12), (gen_auth, 5), (gen_registry, 16), (gen_keepalive, 6),
              (gen_endless_line, 1), (gen_fragmented, 4)]


# ---------------------------------------------------------------- checks


def judge(expect, a, name):
    """None when the answer is acceptable, else why not."""
    if a.timeout:
        return f"no answer within {ANSWER_TIMEOUT}s (hang)"
    if expect == "vanish":
        return None
    if expect == "sequence":
        # The expand model's huge shapes fail to allocate: a 500 by design (test_engine_failure_is_500).
        bad = [st for st, _, bd in a.all if st >= 500 and st != 503 and b"out of memory" not in bd]
        if bad:
            return f"5xx in a kept-alive sequence: {bad}"
        if not a.closed and (a.count != a.sent or a.all[-1][0] != 200):
            return f"kept-alive sequence: {a.count}/{a.sent} answers, last {a.all[-1][0] if a.all else None}"
        return None
    if expect == "endless":
        if getattr(a, "grown_mb", 0) > 64:
            return f"buffered an endless chunk line: RSS grew {a.grown_mb:.0f} MB"
        if a.status != 400:
            return f"endless chunk line: expected 400, got {a.status}"
        return None
    if isinstance(expect, tuple) and expect[0] == "pipeline":
        if a.count != expect[1]:
            return f"pipelined {expect[1]} requests, got {a.count} answers"
        bad = [s for s, _, _ in a.all if s >= 500]
        return f"pipelined answers with 5xx: {bad}" if bad else None
    if a.status is None:
        if expect in ("close_ok", "slow_ok"):
            return None
        return "connection closed without an answer"
    if a.status == -1:
        return "unparseable response"
    s = a.status
    if s == 501 and b"Transfer-Encoding" in a.body:
        return None  # a transfer coding other than chunked (RFC 9112: 501)
    if s >= 500 and s != 503:
        if expect == "4xx_or_200_or_oom" and s == 500 and b"alloc" in a.body.lower() + b"memory":
            return None
        return f"server error {s}: {a.body[:300]!r}"
    if s >= 400 and not a.head:
        try:
            err = json.loads(a.body)
            if not isinstance(err, dict) or "error" not in err:
                return f"4xx without {{\"error\"}}: {a.body[:200]!r}"
        except ValueError:
            return f"4xx body is not JSON: {a.body[:200]!r}"
    if expect == "4xx" and not (400 <= s < 500):
        return f"expected 4xx, got {s}: {a.body[:200]!r}"
    if expect == "200" and s != 200:
        return f"expected 200, got {s}: {a.body[:200]!r}"
    if expect == "413" and s != 413:
        return f"expected 413, got {s}"
    return None


def health(port, path):
    a = exchange(port, req("GET", path, None, close=True), timeout=10)
    return a.status == 200


def registry_list(pier, ws):
    r = subprocess.run([pier, "model", "list", "--workspace", ws], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def registry_check(pier, ws):
    r = subprocess.run([pier, "workspace", "check", "--workspace", ws], capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pier", default=os.environ.get("PIER", "build/pier"))
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="fuzz_out")
    ap.add_argument("--only", default="", help="comma-separated generator names")
    ap.add_argument("--rss-limit-mb", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1, help="clients sending at once (each with its own seed)")
    args = ap.parse_args()
    pier = os.path.abspath(args.pier)
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="pier_fuzz_")
    procs = {}
    failures = collections.Counter()
    stats = collections.Counter()
    statuses = collections.Counter()
    try:
        mdir = os.path.join(tmp, "models")
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_models.py"), mdir], check=True)
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "workspace", "make_models.py"),
                        os.path.join(tmp, "wsmodels")], check=True, capture_output=True)
        for n in ("add", "mul", "gradient", "external", "not_onnx", "empty"):
            with open(os.path.join(tmp, "wsmodels", f"{n}.onnx"), "rb") as f:
                ONNX_MODELS[n] = f.read()
        files = []
        for n in ("mlp", "multi", "types", "expand"):
            files += ["--model-file", os.path.join(mdir, f"{n}.onnx")]
        common = ["--port", "0", "--workers", "2", "--threads", "1", "--io-threads", "2", "--no-access-log",
                  "--max-body-mb", "4", "--header-timeout", "3", "--body-timeout", "3", "--spin-us", "0"]
        procs["serve"] = Proc([pier, "serve", *files, *common], "http://", serve_port)
        procs["auth"] = Proc([pier, "serve", "--model-file", os.path.join(mdir, "mlp.onnx"), "--api-key", "secret-key",
                              *common], "http://", serve_port)
        ws = os.path.join(tmp, "ws")
        subprocess.run([pier, "workspace", "init", ws, "--no-config"], check=True, capture_output=True)
        procs["ws"] = Proc([pier, "workspace", "serve", "--workspace", ws, "--port", "0", "--max-body-mb", "4",
                            "--workers", "2"], "http://", serve_port)
        health_path = {"serve": "/v2/health/live", "auth": "/v2/health/live", "ws": "/api/v1/health"}
        rss0 = {k: p.rss_kb() for k, p in procs.items()}
        fds0 = {k: p.fds() for k, p in procs.items()}
        only = set(filter(None, args.only.split(",")))
        gens = [(g, w) for g, w in GENERATORS if not only or g.__name__ in only]
        population = [g for g, _ in gens]
        weights = [w for _, w in gens]
        t0 = time.time()
        died = []

        def one(it, rng):
            gen = rng.choices(population, weights)[0]
            target, data, expect = gen(rng)
            stats[gen.__name__] += 1
            p = procs[target]
            chunks = None
            if isinstance(expect, tuple) and expect[0] == "fragments":
                chunks, expect = data, expect[1]
                data = b"".join(chunks)
            want = expect[1] if isinstance(expect, tuple) else 1
            try:
                if chunks:
                    a = exchange(p.port, data, want=want, chunks=chunks)
                elif expect == "sequence":
                    a = sequence(p.port, data)
                elif expect == "endless":
                    a = endless(p.port, *data, p)
                elif expect == "vanish":
                    a = exchange(p.port, data, vanish=True)
                    time.sleep(0.05)
                elif expect == "slow_ok":
                    a = exchange(p.port, data, timeout=ANSWER_TIMEOUT)
                else:
                    a = exchange(p.port, data, want=want)
            except OSError as e:
                a = Answer()
                a.all = []
                why = f"cannot connect: {e}"
            else:
                a.head = isinstance(data, bytes) and data.startswith(b"HEAD ")
                why = judge(expect, a, gen.__name__)
            if a.status is not None:
                statuses[a.status] += 1
            if why is None and not p.alive():
                why = f"the {target} process died (rc {p.proc.returncode})"
            if why is None and it % 5 == 0 and not health(p.port, health_path[target]):
                why = "health check failed after the request"
            if why:
                key = f"{gen.__name__}: {why.split(':')[0][:60]}"
                failures[key] += 1
                if failures[key] <= 3:
                    fn = os.path.join(args.out, f"fail_{it:06d}_{gen.__name__}")
                    with open(fn + ".bin", "wb") as f:
                        if isinstance(data, list):  # a kept-alive sequence: one request after another
                            data = b"".join(data)
                        elif isinstance(data, tuple):  # an endless chunk line: its start and size
                            data = data[0] + b" x %d MiB" % data[1]
                        f.write(data)
                    with open(fn + ".txt", "w") as f:
                        f.write(f"target={target}\nexpect={expect}\nwhy={why}\nstatus={a.status}\n"
                                f"body={a.body[:2000]!r}\n")
                    print(f"[{it}] FAIL {target} {gen.__name__}: {why[:300]}", flush=True)
                if not p.alive():
                    print(f"{target} died; stderr tail:\n{p.stderr()[-3000:]}", flush=True)
                    died.append(target)
                    return
            if it % 200 == 0:
                rss = {k: pr.rss_kb() // 1024 for k, pr in procs.items()}
                print(f"[{it}] {time.time() - t0:.0f}s rss MB {rss}", flush=True)
                for k, r in rss.items():
                    if r > args.rss_limit_mb:
                        failures[f"rss: {k} grew to {r} MB"] += 1
            if it % 250 == 249:
                rc, out, err = registry_list(pier, ws)
                if rc != 0:
                    failures[f"model list failed: {err[:100]}"] += 1
                    print(f"[{it}] FAIL model list: {err}", flush=True)

        def worker(k):
            wrng = random.Random(args.seed * 1000 + k) if args.threads > 1 else rng
            for it in range(k, args.iterations, args.threads):
                if died:
                    return
                one(it, wrng)

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if died:
            return 1
        # The registry after everything: lists, checks, no leftovers.
        rc, out, err = registry_list(pier, ws)
        if rc != 0:
            failures["final model list"] += 1
        rc, out = registry_check(pier, ws)
        if rc != 0:
            failures[f"workspace check: {out[:200]}"] += 1
            print("workspace check:", out, flush=True)
        names_out = subprocess.run([pier, "model", "list", "--workspace", ws], capture_output=True, text=True).stdout
        for bad_name in ("trunc", "chunk"):
            if any(line.split()[:1] == [bad_name] for line in names_out.splitlines()):
                failures[f"aborted upload left model {bad_name}"] += 1
        # No upload is in flight now: nothing may be left in the staging folder.
        stage = [os.path.join(d, f) for d, ds, fs in os.walk(os.path.join(ws, "tmp")) for f in fs + ds]
        if stage:
            failures[f"leftover staging files: {stage[:3]}"] += 1
        rss1 = {k: pr.rss_kb() // 1024 for k, pr in procs.items()}
        time.sleep(1)  # lingering connections close
        fds1 = {k: p.fds() for k, p in procs.items()}
        print(f"open descriptors start {fds0} end {fds1}")
        for k in procs:
            if fds1[k] > fds0[k] + 8:
                failures[f"{k}: descriptors grew from {fds0[k]} to {fds1[k]}"] += 1
        print(f"\n{args.iterations} requests in {time.time() - t0:.0f}s; per generator: {dict(stats)}")
        print(f"statuses: {dict(sorted(statuses.items()))}")
        print(f"rss MB start {({k: v // 1024 for k, v in rss0.items()})} end {rss1}")
        for k, p in procs.items():
            if not p.alive():
                failures[f"{k} not alive at the end"] += 1
    finally:
        rcs = {k: p.stop() for k, p in procs.items()}
        shutil.rmtree(tmp, ignore_errors=True)
    for k, rc in rcs.items():
        if rc != 0:
            failures[f"{k} exited {rc} on SIGTERM"] += 1
    if failures:
        print("\nFAILURES:")
        for k, n in failures.most_common():
            print(f"  {n:5d}  {k}")
        return 1
    print("no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
