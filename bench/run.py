#!/usr/bin/python3
"""Pier vs ONNX Runtime on real models, on this machine.

For each model and thread count, Pier (`pier run --repeat --json`) and ONNX
Runtime (onnxruntime-node via ort_run.js, graph optimizations on, same
thread count) run alternately for several rounds, so both see the same
machine noise. Reports median latency, the Pier/ORT ratio, session creation
time and peak RSS, and writes the table to docs/performance.md.

Usage: bench/run.py [--pier build/pier] [--threads 1,2] [--rounds 3] [--models a,b]
Needs: `npm install --ignore-scripts` in bench/ and `bench/export.py bench/models`.
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def measure(cmd):
    """Runs cmd and returns (parsed JSON of its last stdout line, peak RSS MiB)."""
    r_fd, w_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r_fd)
        os.dup2(w_fd, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    os.close(w_fd)
    with os.fdopen(r_fd) as f:
        out = f.read()
    _, status, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with status {status}")
    return json.loads(out.strip().splitlines()[-1]), ru.ru_maxrss / 1024.0


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def geomean(xs):
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pier", default=os.path.join(ROOT, "build", "pier"))
    ap.add_argument("--models-dir", default=os.path.join(HERE, "models"))
    ap.add_argument("--models", default="resnet50,mobilenet_v2,efficientnet_b0,densenet121,bert_like,lstm")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--write", default=os.path.join(ROOT, "docs", "performance.md"))
    a = ap.parse_args()

    rows = []
    for threads in [int(t) for t in a.threads.split(",")]:
        for name in a.models.split(","):
            d = os.path.join(a.models_dir, name)
            model = os.path.join(d, "model.onnx")
            inputs = sorted(f for f in os.listdir(d) if f.startswith("input_"))
            in_args = [x for f in inputs for x in ("-i", os.path.join(d, f))]
            common = ["--threads", str(threads), "--repeat", str(a.repeat), "--warmup", str(a.warmup)]
            pier_cmd = [a.pier, "run", model, *in_args, *common, "--json"]
            ort_cmd = ["node", os.path.join(HERE, "ort_run.js"), model, *in_args, *common]
            res = {"pier": [], "ort": []}
            for _ in range(a.rounds):
                for who, cmd in (("pier", pier_cmd), ("ort", ort_cmd)):
                    res[who].append(measure(cmd))
            row = {"model": name, "threads": threads}
            for who in ("pier", "ort"):
                row[who + "_ms"] = median([r[0]["median_ms"] for r in res[who]])
                row[who + "_load_ms"] = median([r[0]["load_ms"] for r in res[who]])
                row[who + "_rss"] = max(r[1] for r in res[who])
            row["ratio"] = row["pier_ms"] / row["ort_ms"]
            rows.append(row)
            print(f"{name:16s} t={threads} pier {row['pier_ms']:8.2f} ms  ort {row['ort_ms']:8.2f} ms  "
                  f"ratio {row['ratio']:.3f}  load {row['pier_load_ms']:.0f}/{row['ort_load_ms']:.0f} ms  "
                  f"rss {row['pier_rss']:.0f}/{row['ort_rss']:.0f} MiB", flush=True)

    lines = ["| model | threads | Pier ms | ORT ms | Pier/ORT | Pier load ms | ORT load ms | Pier RSS MiB | ORT RSS MiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['threads']} | {r['pier_ms']:.2f} | {r['ort_ms']:.2f} | {r['ratio']:.3f} | "
                     f"{r['pier_load_ms']:.0f} | {r['ort_load_ms']:.0f} | {r['pier_rss']:.0f} | {r['ort_rss']:.0f} |")
    summary = []
    for t in sorted({r["threads"] for r in rows}):
        g = geomean([r["ratio"] for r in rows if r["threads"] == t])
        summary.append(f"- geometric mean Pier/ORT at {t} thread{'s' if t > 1 else ''}: **{g:.3f}**")
    table = "\n".join(lines + [""] + summary)
    print(table)
    if a.write:
        write_doc(a.write, table)
    return 0


def write_doc(path, table):
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = (f"{start}\nMeasured {datetime.date.today()} on {cpu}, {os.cpu_count()} cores "
             f"({platform.machine()}), ONNX Runtime 1.30 (onnxruntime-node).\n\n{table}\n{end}")
    text = open(path).read() if os.path.exists(path) else ""
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
