#!/usr/bin/python3
"""Pier demo: train a digit classifier, export it to ONNX, and run it with
`pier run` on held-out images, checking Pier against PyTorch."""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as trainer  # noqa: E402


def ascii_digit(pixels):
    shades = " .:-=+*#%@"
    rows = []
    for r in range(8):
        rows.append("".join(shades[min(9, int(v * 10 / 17))] * 2 for v in pixels[r * 8:(r + 1) * 8]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pier", default="build/pier")
    ap.add_argument("--workdir", default=".demo")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    model_path = os.path.join(args.workdir, "digits.onnx")

    print("== training a digit classifier on scikit-learn's digits (8x8 images)")
    model, x_test, y_test = trainer.train()
    trainer.export(model, model_path)
    print(f"   exported {model_path}")

    print("== pier info")
    subprocess.run([args.pier, "info", model_path], check=True)

    np.save(os.path.join(args.workdir, "pixels.npy"), x_test)
    out_dir = os.path.join(args.workdir, "out")
    print(f"== pier run on {len(x_test)} held-out images")
    subprocess.run([args.pier, "run", model_path, "-i", os.path.join(args.workdir, "pixels.npy"), "-o", out_dir],
                   check=True)
    labels = np.load(os.path.join(out_dir, "output_0.npy"))
    probs = np.load(os.path.join(out_dir, "output_1.npy"))
    with torch.no_grad():
        t_labels, t_probs = model(torch.from_numpy(x_test))
    err = np.abs(probs - t_probs.numpy()).max()

    for i in range(3):
        print()
        for line in ascii_digit(x_test[i]):
            print("   " + line)
        print(f"   pier says {labels[i]} ({probs[i][labels[i]]:.1%}); the true digit is {y_test[i]}")
    acc = (labels == y_test).mean()
    print()
    print(f"== accuracy {acc:.3f} on {len(y_test)} images; max |pier - torch| probability difference {err:.2e}")
    if err > 1e-4 or not np.array_equal(labels, t_labels.numpy()):
        print("pier and torch disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
