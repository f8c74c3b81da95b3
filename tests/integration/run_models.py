#!/usr/bin/python3
"""Pier integration test: exports real models with torch (export_models.py,
cached), runs each with `pier run`, and compares with torch's outputs.

Dense models: for each output, max|pier - torch| / max|torch| <= 1e-3.
Detection models: every output must exist with torch's rank and trailing
dims (the number of boxes can differ when scores tie at thresholds).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def compare(kind, got, want):
    if kind == "detection":
        if got.ndim != want.ndim or got.shape[1:] != want.shape[1:]:
            return False, f"shape {got.shape} vs torch {want.shape}"
        note = "" if got.shape == want.shape else f" (count {got.shape[0]} vs torch {want.shape[0]})"
        if got.shape == want.shape and got.dtype.kind == "f" and want.size:
            rel = np.abs(got - want).max() / max(np.abs(want).max(), 1e-12)
            note += f" rel {rel:.1e}"
        return True, f"shape {got.shape}{note}"
    if got.shape != want.shape:
        return False, f"shape {got.shape} vs torch {want.shape}"
    if want.dtype.kind in "iub":
        ok = np.array_equal(got, want)
        return ok, "exact" if ok else "integer outputs differ"
    scale = max(float(np.abs(want).max()), 1e-12)
    rel = float(np.abs(got.astype(np.float64) - want).max()) / scale
    return rel <= 1e-3, f"rel {rel:.2e} (max|torch| {scale:.3g})"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pier", required=True)
    ap.add_argument("--models", required=True, help="directory of exported models")
    ap.add_argument("--only", default="")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--export", action="store_true", help="export (or refresh) the models first")
    a = ap.parse_args()

    if a.export:
        cmd = [sys.executable, os.path.join(HERE, "export_models.py"), a.models]
        if a.only:
            cmd += ["--only", a.only]
        subprocess.run(cmd, check=True)

    names = [n for n in a.only.split(",") if n] or sorted(
        d for d in os.listdir(a.models) if os.path.exists(os.path.join(a.models, d, "done.json")))
    failures = []
    for name in names:
        d = os.path.join(a.models, name)
        meta = json.load(open(os.path.join(d, "done.json")))
        out = os.path.join(d, "pier_out")
        cmd = [a.pier, "run", os.path.join(d, "model.onnx"), "-o", out, "--threads", str(a.threads)]
        for k in range(meta["inputs"]):
            cmd += ["-i", os.path.join(d, f"input_{k}.npy")]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.time() - t0
        if r.returncode != 0:
            failures.append(name)
            print(f"FAIL {name}: pier exited {r.returncode}: {r.stderr.strip()[-400:]}", flush=True)
            continue
        notes, ok = [], True
        for k in range(meta["outputs"]):
            want = np.load(os.path.join(d, f"expected_{k}.npy"))
            path = os.path.join(out, f"output_{k}.npy")
            if not os.path.exists(path):
                ok = False
                notes.append(f"output {k} missing")
                continue
            good, note = compare(meta["kind"], np.load(path), want)
            ok &= good
            notes.append(f"out{k} {note}")
        if not ok:
            failures.append(name)
        print(f"{'ok  ' if ok else 'FAIL'} {name} [opset {meta['opset']}, {secs:.1f} s]: {'; '.join(notes)}", flush=True)
    print(f"integration: {len(names) - len(failures)}/{len(names)} models match torch")
    if failures:
        print("failed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
