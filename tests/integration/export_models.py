#!/usr/bin/python3
"""Exports real models with torch.onnx, with random weights, for Pier's
integration test. For each model it writes DIR/<name>/model.onnx,
input_K.npy and expected_K.npy (torch's outputs).

BatchNorm running statistics are set from a few train-mode passes on random
batches, so activations stay O(1) instead of vanishing or exploding.

Usage: export_models.py OUTDIR [--only NAME,...] [--list]
"""
import argparse
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import torch
import torchvision

warnings.filterwarnings("ignore")
torch.set_num_threads(max(1, os.cpu_count() or 1))


def calibrate_bn(module, make_batch, passes=3):
    """Runs train-mode forward passes so BatchNorm layers learn real statistics."""
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:  # cumulative averages: the statistics of exactly these passes
        bn.reset_running_stats()
        bn.momentum = None
    module.train()
    with torch.no_grad():
        for _ in range(passes):
            module(make_batch())
    module.eval()
    for bn in bns:
        bn.momentum = 0.1


def classifier(ctor, size=224, **kw):
    def build():
        m = ctor(weights=None, **kw)
        calibrate_bn(m, lambda: torch.randn(4, 3, size, size))
        return m, (torch.randn(1, 3, size, size),)
    return build


def vit():
    m = torchvision.models.vit_b_16(weights=None)
    # torchvision starts ViT with a zero head; give it weights so the output means something.
    torch.nn.init.normal_(m.heads.head.weight, std=0.02)
    m.eval()
    return m, (torch.randn(1, 3, 224, 224),)


class SegWrapper(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


def segmentation(ctor, size=160):
    def build():
        m = ctor(weights=None, weights_backbone=None, aux_loss=False)
        calibrate_bn(m, lambda: torch.randn(2, 3, size, size))
        return SegWrapper(m).eval(), (torch.randn(1, 3, size, size),)
    return build


def video():
    m = torchvision.models.video.r3d_18(weights=None)
    calibrate_bn(m, lambda: torch.randn(2, 3, 8, 64, 64))
    return m, (torch.randn(1, 3, 8, 64, 64),)


def detection(ctor, size, **kw):
    def build():
        m = ctor(weights=None, weights_backbone=None, **kw)
        calibrate_bn(m.backbone, lambda: torch.randn(2, 3, size, size))
        m.eval()
        return m, ([torch.rand(3, size, size)],)
    return build


class Encoder(torch.nn.Module):
    """BERT-like: token embedding + TransformerEncoder + pooled head."""

    def __init__(self, vocab=1000, d=128, heads=4, layers=2):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, d)
        layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=4 * d, batch_first=True, dropout=0.0)
        self.enc = torch.nn.TransformerEncoder(layer, layers)
        self.head = torch.nn.Linear(d, 2)

    def forward(self, ids):
        h = self.enc(self.emb(ids))
        return self.head(h[:, 0]), h


def transformer():
    m = Encoder().eval()
    return m, (torch.randint(0, 1000, (2, 16)),)


class EmbedBag(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(500, 32)
        self.proj = torch.nn.Linear(32, 8)

    def forward(self, ids):
        return self.proj(self.emb(ids).mean(dim=1))


def embedding():
    return EmbedBag().eval(), (torch.randint(0, 500, (4, 12)),)


class RNNModel(torch.nn.Module):
    def __init__(self, kind):
        super().__init__()
        if kind == "lstm":
            self.rnn = torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True, batch_first=True)
        else:
            self.rnn = torch.nn.GRU(16, 32, num_layers=2, bidirectional=False, batch_first=False)
        self.kind = kind

    def forward(self, x):
        out, h = self.rnn(x)
        if self.kind == "lstm":
            return out, h[0], h[1]
        return out, h


def lstm():
    return RNNModel("lstm").eval(), (torch.randn(3, 10, 16),)


def gru():
    return RNNModel("gru").eval(), (torch.randn(10, 3, 16),)


tv = torchvision.models
# name -> (builder, opset, kind). kind "detection": only shapes are compared.
MODELS = {
    "resnet50": (classifier(tv.resnet50), 13, "dense"),
    "mobilenet_v2": (classifier(tv.mobilenet_v2), 11, "dense"),
    "mobilenet_v3_large": (classifier(tv.mobilenet_v3_large), 14, "dense"),
    "efficientnet_b0": (classifier(tv.efficientnet_b0), 12, "dense"),
    "regnet_y_400mf": (classifier(tv.regnet_y_400mf), 15, "dense"),
    "densenet121": (classifier(tv.densenet121, size=128), 16, "dense"),
    "inception_v3": (classifier(tv.inception_v3, size=160, aux_logits=False, init_weights=True), 17, "dense"),
    "googlenet": (classifier(tv.googlenet, size=128, aux_logits=False, init_weights=True), 13, "dense"),
    "shufflenet_v2": (classifier(tv.shufflenet_v2_x1_0), 11, "dense"),
    "squeezenet": (classifier(tv.squeezenet1_1), 12, "dense"),
    "mnasnet": (classifier(tv.mnasnet1_0), 13, "dense"),
    "vgg11": (classifier(tv.vgg11_bn), 14, "dense"),
    "alexnet": (classifier(tv.alexnet), 15, "dense"),
    "convnext_tiny": (classifier(tv.convnext_tiny, size=128), 16, "dense"),
    "swin_t": (classifier(tv.swin_t), 17, "dense"),
    "vit_b_16": (vit, 14, "dense"),
    "fcn_resnet50": (segmentation(tv.segmentation.fcn_resnet50), 11, "dense"),
    "deeplabv3_mobilenet": (segmentation(tv.segmentation.deeplabv3_mobilenet_v3_large), 16, "dense"),
    "r3d_18": (video, 13, "dense"),
    "ssdlite320": (detection(tv.detection.ssdlite320_mobilenet_v3_large, 320), 11, "detection"),
    "fasterrcnn_mobilenet": (detection(tv.detection.fasterrcnn_mobilenet_v3_large_320_fpn, 320, box_score_thresh=0.0),
                             11, "detection"),
    "transformer_encoder": (transformer, 14, "dense"),
    "embedding": (embedding, 13, "dense"),
    "lstm_bidirectional": (lstm, 12, "dense"),
    "gru": (gru, 17, "dense"),
}


def flatten(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in flatten(v)]
    return [t for o in out for t in flatten(o)]


def export(name, outdir):
    builder, opset, kind = MODELS[name]
    d = os.path.join(outdir, name)
    stamp = os.path.join(d, "done.json")
    src_hash = hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16]
    if os.path.exists(stamp) and json.load(open(stamp)).get("script") == src_hash:
        return "cached"
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(0)
    model, args = builder()
    model.eval()
    path = os.path.join(d, "model.onnx")
    # The fused attention fast path (taken under no_grad in eval mode) has
    # no ONNX export, so export with grad enabled.
    with torch.enable_grad():
        outputs = flatten(model(*args))
        torch.onnx.export(model, args, path, opset_version=opset, do_constant_folding=True)
    flat_inputs = flatten(args)
    for k, t in enumerate(flat_inputs):
        np.save(os.path.join(d, f"input_{k}.npy"), t.detach().numpy())
    for k, t in enumerate(outputs):
        np.save(os.path.join(d, f"expected_{k}.npy"), t.detach().numpy())
    json.dump({"script": src_hash, "kind": kind, "opset": opset, "inputs": len(flat_inputs),
               "outputs": len(outputs)}, open(stamp, "w"))
    return "exported"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        print("\n".join(MODELS))
        return 0
    names = [n for n in a.only.split(",") if n] or list(MODELS)
    for n in names:
        if n not in MODELS:
            print(f"unknown model {n}", file=sys.stderr)
            return 2
        t0 = time.time()
        status = export(n, a.outdir)
        print(f"{n}: {status} ({time.time() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
