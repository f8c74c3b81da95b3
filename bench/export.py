#!/usr/bin/python3
"""Exports the benchmark models (batch 1) with torch.onnx at opset 17:
torchvision ResNet-50, MobileNetV2, EfficientNet-B0, DenseNet-121 at
224x224, a BERT-like TransformerEncoder and a 2-layer LSTM. Random weights;
BatchNorm statistics calibrated so activations stay O(1).

Usage: export.py OUTDIR
"""
import os
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from export_models import calibrate_bn  # noqa: E402


class BertLike(torch.nn.Module):
    """BERT-base-shaped encoder, 4 layers: d=768, 12 heads, FFN 3072, seq 128."""

    def __init__(self, vocab=30522, d=768, heads=12, layers=4, seq=128):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.randn(1, seq, d) * 0.02)
        self.norm = torch.nn.LayerNorm(d)
        layer = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, layers)

    def forward(self, ids):
        return self.enc(self.norm(self.tok(ids) + self.pos))


class Lstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(128, 256, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(256, 10)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.head(y[:, -1])


def cnn(ctor):
    m = ctor(weights=None)
    calibrate_bn(m, lambda: torch.randn(4, 3, 224, 224))
    return m, torch.randn(1, 3, 224, 224)


MODELS = {
    "resnet50": lambda: cnn(torchvision.models.resnet50),
    "mobilenet_v2": lambda: cnn(torchvision.models.mobilenet_v2),
    "efficientnet_b0": lambda: cnn(torchvision.models.efficientnet_b0),
    "densenet121": lambda: cnn(torchvision.models.densenet121),
    "bert_like": lambda: (BertLike().eval(), torch.randint(0, 30522, (1, 128))),
    "lstm": lambda: (Lstm().eval(), torch.randn(1, 50, 128)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "bench/models"
    for name, build in MODELS.items():
        d = os.path.join(out, name)
        if os.path.exists(os.path.join(d, "model.onnx")):
            continue
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(0)
        model, x = build()
        with torch.enable_grad():  # the fused attention fast path has no ONNX export
            torch.onnx.export(model, (x,), os.path.join(d, "model.onnx"), opset_version=17,
                              input_names=["input"], do_constant_folding=True)
        np.save(os.path.join(d, "input_0.npy"), x.numpy())
        print(f"exported {name}", flush=True)


if __name__ == "__main__":
    main()
