#!/usr/bin/python3
"""Trains a small digit classifier on scikit-learn's 8x8 digits and exports
it to ONNX.

Input  "pixels":        float32 [N, 64], grey levels 0..16 (row-major 8x8).
Output "label":         int64 [N], the predicted digit.
Output "probabilities": float32 [N, 10].
"""
import argparse
import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class DigitNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(),
            torch.nn.Linear(128, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 10))

    def forward(self, pixels):
        logits = self.body(pixels / 16.0)
        probs = torch.softmax(logits, dim=1)
        return torch.argmax(probs, dim=1), probs


def train(seed=0):
    torch.manual_seed(seed)
    digits = load_digits()
    x = digits.data.astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    model = DigitNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    for _ in range(60):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            logits = model.body(xt[idx] / 16.0)
            torch.nn.functional.cross_entropy(logits, yt[idx]).backward()
            opt.step()
    model.eval()
    return model, x_test, y_test


def export(model, path):
    dummy = torch.zeros(1, 64)
    torch.onnx.export(model, (dummy,), path, input_names=["pixels"], output_names=["label", "probabilities"],
                      dynamic_axes={"pixels": {0: "N"}, "label": {0: "N"}, "probabilities": {0: "N"}},
                      opset_version=13)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="digits.onnx")
    args = ap.parse_args()
    model, x_test, y_test = train()
    export(model, args.out)
    with torch.no_grad():
        pred, _ = model(torch.from_numpy(x_test))
    acc = (pred.numpy() == y_test).mean()
    print(f"trained; held-out accuracy {acc:.3f}; wrote {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
