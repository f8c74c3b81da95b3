#!/usr/bin/python3
"""Pier demo: train a digit classifier on scikit-learn's digits, export it to
ONNX, check `pier run` against PyTorch, register it in a workspace, serve it
with `pier serve`, and score held-out images over HTTP.

By default the server keeps running (Ctrl-C stops it); --once stops it after
the sample requests.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as trainer  # noqa: E402


def ascii_digit(pixels):
    shades = " .:-=+*#%@"
    return ["".join(shades[min(9, int(v * 10 / 17))] * 2 for v in pixels[r * 8:(r + 1) * 8]) for r in range(8)]


def pick_port(preferred=8080):
    """8080 when it is free, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_ready(url, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("pier serve exited early")
        try:
            with urllib.request.urlopen(url + "/v2/health/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pier serve did not become ready")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pier", default="build/pier")
    ap.add_argument("--workdir", default=".demo")
    ap.add_argument("--port", type=int, default=0, help="port for pier serve (default: 8080, or a free one)")
    ap.add_argument("--once", action="store_true", help="stop the server after the sample requests")
    args = ap.parse_args()
    pier = os.path.abspath(args.pier)
    work = os.path.abspath(args.workdir)
    os.makedirs(work, exist_ok=True)
    model_path = os.path.join(work, "digits.onnx")

    print("== 1. training a digit classifier on scikit-learn's digits (8x8 grey images)")
    model, x_test, y_test = trainer.train()
    trainer.export(model, model_path)
    print(f"   exported {model_path}")

    print("== 2. pier run on the held-out images, against PyTorch")
    np.save(os.path.join(work, "pixels.npy"), x_test)
    out_dir = os.path.join(work, "out")
    subprocess.run([pier, "run", model_path, "-i", os.path.join(work, "pixels.npy"), "-o", out_dir], check=True,
                   stderr=subprocess.DEVNULL)
    labels = np.load(os.path.join(out_dir, "output_0.npy"))
    probs = np.load(os.path.join(out_dir, "output_1.npy"))
    with torch.no_grad():
        t_labels, t_probs = model(torch.from_numpy(x_test))
    err = float(np.abs(probs - t_probs.numpy()).max())
    print(f"   accuracy {(labels == y_test).mean():.3f} on {len(y_test)} images; "
          f"max |pier - torch| probability difference {err:.1e}")
    if err > 1e-4 or not np.array_equal(labels, t_labels.numpy()):
        print("pier and torch disagree", file=sys.stderr)
        return 1

    print("== 3. registering it in a workspace")
    ws = os.path.join(work, "workspace")
    env = dict(os.environ, PIER_WORKSPACE=ws)
    if not os.path.exists(os.path.join(ws, "workspace.json")):
        subprocess.run([pier, "workspace", "init", ws, "--no-config"], check=True, env=env, cwd=work)
    subprocess.run([pier, "model", "register", model_path, "--name", "digits", "--tag", "demo",
                    "--description", "MLP on scikit-learn's 8x8 digits: pixels [N,64] in 0..16 -> label, "
                    "probabilities"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([pier, "model", "show", "digits"], check=True, env=env)

    port = args.port or pick_port()
    url = f"http://127.0.0.1:{port}"
    print(f"== 4. pier serve --model digits on {url}")
    server = subprocess.Popen([pier, "serve", "--model", "digits", "--port", str(port), "--no-access-log"], env=env)
    try:
        wait_ready(url, server)
        sample = x_test[:3]
        result = post(url + "/score", {"data": sample.tolist()})["result"]
        for i in range(len(sample)):
            print()
            for line in ascii_digit(sample[i]):
                print("   " + line)
            label = result["label"][i]
            print(f"   POST /score says {label} ({result['probabilities'][i][label]:.1%}); "
                  f"the true digit is {y_test[i]}")
        print()
        example = json.dumps({"data": [x_test[0].astype(int).tolist()]})
        print(f"   try it:  curl -s {url}/score -d '{example}'")
        print(f"            curl -s {url}/v2/models/digits ; curl -s {url}/metrics")
        if args.once:
            return 0
        print("   serving until Ctrl-C")
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
