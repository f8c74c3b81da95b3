#!/usr/bin/python3
"""Structured fuzzing of the Pier engine with malformed and adversarial ONNX models.

Builds small valid models with onnx.helper (one per family of common
operators), applies seeded structured mutations (extreme attributes,
inconsistent initializers, bad dims and dtypes, broken graph structure,
huge shape tensors, odd opsets, byte-level corruption, adversarial input
values) and runs `pier info` and `pier run --threads 1` on each under a time
and memory limit.

A run is fine when it exits 0, or 1/2 with an error message on stderr.
Anything else is a bug: a signal, another exit code, a timeout, a silent
failure, "terminate called" or "Aborted". Each bug's model (and its inputs)
is saved under --out with a line in --out/bugs.txt.

Every iteration is reproducible from (seed, iteration):
    fuzz_models.py --pier build/pier --iterations 1 --seed S --start I --keep
"""
import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import warnings
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64
I32 = TensorProto.INT32

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
EXTREME_INTS = [0, -1, -2, 1, 2, 3, 7, 100, -100, 2**31 - 1, -(2**31), 2**32, 2**40, -(2**40), INT64_MAX, INT64_MIN,
                INT64_MAX - 1, INT64_MIN + 1]
EXTREME_FLOATS = [0.0, -0.0, -1.0, 1e-30, 1e30, -1e30, float("inf"), float("-inf"), float("nan"), 3.5e38]
ALL_DTYPES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 99, -1]


def vi(name, t, dims):
    return helper.make_tensor_value_info(name, t, dims)


def out(name, t=F):
    return helper.make_tensor_value_info(name, t, None)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def i64(v):
    return np.array(v, dtype=np.int64)


def rnd(rng, *shape):
    return np.array([rng.uniform(-1, 1) for _ in range(int(np.prod(shape)))], dtype=np.float32).reshape(shape)


# ---- base models: each returns (nodes, inputs, outputs, initializers, opset) ----

def m_conv(r):
    g = r.choice([1, 3])
    return ([helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              strides=[1, 1], dilations=[1, 1], group=g)],
            [vi("x", F, [1, 3, 8, 8])], [out("y")],
            [init("w", rnd(r, 3, 3 // g, 3, 3)), init("b", rnd(r, 3))], 13)


def m_conv_transpose(r):
    return ([helper.make_node("ConvTranspose", ["x", "w"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], output_padding=[1, 1])],
            [vi("x", F, [1, 2, 4, 4])], [out("y")], [init("w", rnd(r, 2, 3, 3, 3))], 13)


def m_pool(r):
    op = r.choice(["MaxPool", "AveragePool", "LpPool"])
    attrs = dict(kernel_shape=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0])
    if op == "MaxPool":
        attrs["dilations"] = [1, 1]
        attrs["ceil_mode"] = 0
    return ([helper.make_node(op, ["x"], ["y"], **attrs)], [vi("x", F, [1, 2, 6, 6])], [out("y")], [], 13)


def m_global_pool(r):
    op = r.choice(["GlobalAveragePool", "GlobalMaxPool", "LRN", "InstanceNormalization"])
    ins = ["x"]
    inits = []
    attrs = {}
    if op == "LRN":
        attrs = dict(size=3)
    if op == "InstanceNormalization":
        ins += ["s", "b"]
        inits = [init("s", rnd(r, 2)), init("b", rnd(r, 2))]
    return ([helper.make_node(op, ins, ["y"], **attrs)], [vi("x", F, [1, 2, 4, 4])], [out("y")], inits, 13)


def m_gemm(r):
    return ([helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=1.0, beta=1.0, transA=0, transB=0)],
            [vi("a", F, [2, 3])], [out("y")], [init("b", rnd(r, 3, 4)), init("c", rnd(r, 4))], 13)


def m_matmul(r):
    return ([helper.make_node("MatMul", ["a", "b"], ["y"])], [vi("a", F, [2, 3, 4])], [out("y")],
            [init("b", rnd(r, 4, 5))], 13)


def m_reshape(r):
    return ([helper.make_node("Reshape", ["x", "s"], ["y"], allowzero=0)], [vi("x", F, [2, 3, 4])], [out("y")],
            [init("s", i64([4, -1]))], 14)


def m_transpose(r):
    return ([helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 1])], [vi("x", F, [2, 3, 4])], [out("y")], [], 13)


def m_concat(r):
    return ([helper.make_node("Concat", ["x", "c"], ["y"], axis=1)], [vi("x", F, [2, 3])], [out("y")],
            [init("c", rnd(r, 2, 2))], 13)


def m_slice(r):
    return ([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], [vi("x", F, [4, 5])], [out("y")],
            [init("st", i64([0, 1])), init("en", i64([3, 5])), init("ax", i64([0, 1])), init("sp", i64([1, 2]))], 13)


def m_gather(r):
    op = r.choice(["Gather", "GatherElements", "GatherND"])
    if op == "Gather":
        idx = i64([0, 2, -1])
    elif op == "GatherElements":
        idx = i64([[0, 1, 2], [2, 1, 0], [1, 1, 1]])
    else:
        idx = i64([[0, 1], [2, 2]])
    attrs = {} if op == "GatherND" else dict(axis=0)
    return ([helper.make_node(op, ["x", "i"], ["y"], **attrs)], [vi("x", F, [3, 3])], [out("y")], [init("i", idx)], 13)


def m_split(r):
    return ([helper.make_node("Split", ["x", "s"], ["y0", "y1"], axis=1)], [vi("x", F, [2, 6])],
            [out("y0"), out("y1")], [init("s", i64([2, 4]))], 13)


def m_pad(r):
    mode = r.choice(["constant", "reflect", "edge"])
    return ([helper.make_node("Pad", ["x", "p", "v"], ["y"], mode=mode)], [vi("x", F, [1, 2, 4, 4])], [out("y")],
            [init("p", i64([0, 0, 1, 1, 0, 0, 1, 1])), init("v", np.array(0.5, dtype=np.float32))], 13)


def m_resize(r):
    mode = r.choice(["nearest", "linear", "cubic"])
    if r.random() < 0.5:
        return ([helper.make_node("Resize", ["x", "", "sc"], ["y"], mode=mode)], [vi("x", F, [1, 1, 4, 4])],
                [out("y")], [init("sc", np.array([1, 1, 2, 2], dtype=np.float32))], 13)
    return ([helper.make_node("Resize", ["x", "", "", "sz"], ["y"], mode=mode)], [vi("x", F, [1, 1, 4, 4])],
            [out("y")], [init("sz", i64([1, 1, 7, 3]))], 13)


def m_reduce(r):
    op = r.choice(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceLogSumExp",
                   "ArgMax", "ArgMin"])
    if op == "ReduceSum":
        return ([helper.make_node(op, ["x", "a"], ["y"], keepdims=1)], [vi("x", F, [2, 3, 4])], [out("y")],
                [init("a", i64([1]))], 13)
    if op.startswith("Arg"):
        return ([helper.make_node(op, ["x"], ["y"], axis=1, keepdims=1)], [vi("x", F, [2, 3, 4])], [out("y", I64)],
                [], 13)
    return ([helper.make_node(op, ["x"], ["y"], axes=[1, 2], keepdims=0)], [vi("x", F, [2, 3, 4])], [out("y")], [], 13)


def m_softmax(r):
    op = r.choice(["Softmax", "LogSoftmax", "Hardmax", "CumSum", "Flatten"])
    if op == "CumSum":
        return ([helper.make_node(op, ["x", "a"], ["y"])], [vi("x", F, [2, 3])], [out("y")],
                [init("a", np.array(1, dtype=np.int64))], 13)
    return ([helper.make_node(op, ["x"], ["y"], axis=1)], [vi("x", F, [2, 3, 4])], [out("y")], [], 13)


def m_layernorm(r):
    if r.random() < 0.5:
        return ([helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
                [vi("x", F, [2, 3, 4])], [out("y")], [init("g", rnd(r, 4)), init("b", rnd(r, 4))], 17)
    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
        helper.make_node("Sub", ["x", "m"], ["d"]),
        helper.make_node("Pow", ["d", "two"], ["p"]),
        helper.make_node("ReduceMean", ["p"], ["v"], axes=[-1]),
        helper.make_node("Add", ["v", "eps"], ["ve"]),
        helper.make_node("Sqrt", ["ve"], ["s"]),
        helper.make_node("Div", ["d", "s"], ["n"]),
        helper.make_node("Mul", ["n", "g"], ["ng"]),
        helper.make_node("Add", ["ng", "b"], ["y"]),
    ]
    return (nodes, [vi("x", F, [2, 3, 4])], [out("y")],
            [init("two", np.array(2, dtype=np.float32)), init("eps", np.array(1e-5, dtype=np.float32)),
             init("g", rnd(r, 4)), init("b", rnd(r, 4))], 13)


def m_batchnorm(r):
    return ([helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-5)],
            [vi("x", F, [1, 2, 3, 3])], [out("y")],
            [init("s", rnd(r, 2)), init("b", rnd(r, 2)), init("m", rnd(r, 2)), init("v", np.ones(2, np.float32))], 13)


def m_rnn(r):
    op = r.choice(["LSTM", "GRU", "RNN"])
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
    h, i = 3, 2
    d = r.choice([1, 2])
    direction = "bidirectional" if d == 2 else "forward"
    ins = ["x", "w", "r", "b", "sl"]
    inits = [init("w", rnd(r, d, gates * h, i)), init("r", rnd(r, d, gates * h, h)), init("b", rnd(r, d, 2 * gates * h)),
             init("sl", np.array([4, 3], dtype=np.int32))]
    return ([helper.make_node(op, ins, ["y", "yh"], hidden_size=h, direction=direction)],
            [vi("x", F, [4, 2, i])], [out("y"), out("yh")], inits, 14)


def m_cast(r):
    to = r.choice([1, 6, 7, 9, 10, 11, 2, 3, 8, 16])
    return ([helper.make_node("Cast", ["x"], ["y"], to=to)], [vi("x", F, [2, 3])], [out("y", to)], [], 13)


def m_expand(r):
    return ([helper.make_node("Expand", ["x", "s"], ["y"])], [vi("x", F, [3, 1])], [out("y")],
            [init("s", i64([2, 3, 4]))], 13)


def m_tile(r):
    return ([helper.make_node("Tile", ["x", "rp"], ["y"])], [vi("x", F, [2, 3])], [out("y")],
            [init("rp", i64([2, 2]))], 13)


def m_constant_of_shape(r):
    return ([helper.make_node("ConstantOfShape", ["s"], ["y"],
                              value=helper.make_tensor("v", F, [1], [1.5]))], [], [out("y")],
            [init("s", i64([2, 3]))], 13)


def m_topk(r):
    return ([helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=-1, largest=1, sorted=1)], [vi("x", F, [3, 5])],
            [out("v"), out("i", I64)], [init("k", i64([2]))], 13)


def m_nonzero(r):
    op = r.choice(["NonZero", "Unique", "Compress"])
    if op == "Compress":
        return ([helper.make_node(op, ["x", "c"], ["y"], axis=0)], [vi("x", F, [3, 2])], [out("y")],
                [init("c", np.array([True, False, True]))], 13)
    if op == "Unique":
        return ([helper.make_node(op, ["x"], ["y"], sorted=1)], [vi("x", F, [6])], [out("y")], [], 13)
    return ([helper.make_node(op, ["x"], ["y"])], [vi("x", F, [3, 4])], [out("y", I64)], [], 13)


def m_scatter(r):
    op = r.choice(["ScatterElements", "ScatterND"])
    if op == "ScatterElements":
        return ([helper.make_node(op, ["x", "i", "u"], ["y"], axis=1)], [vi("x", F, [3, 3])], [out("y")],
                [init("i", i64([[1, 0, 2], [0, 2, 1]])), init("u", rnd(r, 2, 3))], 13)
    return ([helper.make_node(op, ["x", "i", "u"], ["y"])], [vi("x", F, [4, 3])], [out("y")],
            [init("i", i64([[1], [3]])), init("u", rnd(r, 2, 3))], 13)


def m_einsum(r):
    eq = r.choice(["ij,jk->ik", "bij,bjk->bik", "ii->i", "ij->ji", "i,i->", "ij,ij->ij"])
    shapes = {"ij,jk->ik": ([2, 3], [3, 4]), "bij,bjk->bik": ([2, 2, 3], [2, 3, 2]), "ii->i": ([3, 3],),
              "ij->ji": ([2, 3],), "i,i->": ([4], [4]), "ij,ij->ij": ([2, 3], [2, 3])}[eq]
    ins = [vi("x%d" % k, F, s) for k, s in enumerate(shapes)]
    return ([helper.make_node("Einsum", [v.name for v in ins], ["y"], equation=eq)], ins, [out("y")], [], 12)


def m_misc_shape(r):
    op = r.choice(["Squeeze", "Unsqueeze", "DepthToSpace", "SpaceToDepth", "OneHot", "Range", "Trilu", "Where",
                   "Clip", "Shape", "Size", "Mod", "Div"])
    if op in ("Squeeze", "Unsqueeze"):
        return ([helper.make_node(op, ["x", "a"], ["y"])], [vi("x", F, [2, 1, 3])], [out("y")],
                [init("a", i64([1]))], 13)
    if op in ("DepthToSpace", "SpaceToDepth"):
        return ([helper.make_node(op, ["x"], ["y"], blocksize=2)], [vi("x", F, [1, 4, 2, 2])], [out("y")], [], 13)
    if op == "OneHot":
        return ([helper.make_node(op, ["i", "d", "v"], ["y"], axis=-1)], [], [out("y")],
                [init("i", i64([0, 2, 1])), init("d", i64([3])), init("v", np.array([0, 1], np.float32))], 13)
    if op == "Range":
        return ([helper.make_node(op, ["a", "b", "c"], ["y"])], [], [out("y", I64)],
                [init("a", np.array(0, np.int64)), init("b", np.array(10, np.int64)),
                 init("c", np.array(3, np.int64))], 13)
    if op == "Trilu":
        return ([helper.make_node(op, ["x", "k"], ["y"], upper=1)], [vi("x", F, [3, 4])], [out("y")],
                [init("k", np.array(1, np.int64))], 14)
    if op == "Where":
        return ([helper.make_node(op, ["c", "x", "z"], ["y"])], [vi("x", F, [2, 3])], [out("y")],
                [init("c", np.array([True, False, True])), init("z", rnd(r, 1))], 13)
    if op == "Clip":
        return ([helper.make_node(op, ["x", "lo", "hi"], ["y"])], [vi("x", F, [2, 3])], [out("y")],
                [init("lo", np.array(-0.5, np.float32)), init("hi", np.array(0.5, np.float32))], 13)
    if op in ("Mod", "Div"):
        return ([helper.make_node(op, ["x", "d"], ["y"])], [vi("x", I64, [3])], [out("y", I64)],
                [init("d", i64([3, -2, 5]))], 13)
    return ([helper.make_node(op, ["x"], ["y"])], [vi("x", F, [2, 3])], [out("y", I64)], [], 13)


def m_chain(r):
    # A small CNN block: Conv -> BN -> Relu -> MaxPool -> Flatten -> Gemm.
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["a"]),
        helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [init("w", rnd(r, 2, 1, 3, 3)), init("s", rnd(r, 2)), init("b", rnd(r, 2)), init("m", rnd(r, 2)),
             init("v", np.ones(2, np.float32)), init("fw", rnd(r, 3, 8)), init("fb", rnd(r, 3))]
    return nodes, [vi("x", F, [1, 1, 4, 4])], [out("y")], inits, 13


def m_dynamic_shape(r):
    # Shape values computed at run time from an input: Reshape/Expand/Tile/ConstantOfShape/Range/Slice.
    op = r.choice(["Reshape", "Expand", "Tile", "ConstantOfShape", "Slice", "Resize", "TopK", "OneHot", "Pad", "Range"])
    if op == "ConstantOfShape":
        return [helper.make_node(op, ["s"], ["y"])], [vi("s", I64, [2])], [out("y")], [], 13
    if op == "Slice":
        return ([helper.make_node(op, ["x", "s", "e"], ["y"])], [vi("x", F, [4, 5]), vi("s", I64, [2]),
                                                                vi("e", I64, [2])], [out("y")], [], 13)
    if op == "Resize":
        return ([helper.make_node(op, ["x", "", "", "s"], ["y"])], [vi("x", F, [1, 1, 2, 2]), vi("s", I64, [4])],
                [out("y")], [], 13)
    if op == "TopK":
        return ([helper.make_node(op, ["x", "s"], ["v", "i"])], [vi("x", F, [3, 5]), vi("s", I64, [1])],
                [out("v"), out("i", I64)], [], 13)
    if op == "OneHot":
        return ([helper.make_node(op, ["x", "s", "v"], ["y"])], [vi("x", I64, [3]), vi("s", I64, [1])], [out("y")],
                [init("v", np.array([0, 1], np.float32))], 13)
    if op == "Pad":
        return ([helper.make_node(op, ["x", "s"], ["y"])], [vi("x", F, [2, 2]), vi("s", I64, [4])], [out("y")], [], 13)
    if op == "Range":
        return ([helper.make_node(op, ["a", "b", "c"], ["y"])], [vi("a", F, []), vi("b", F, []), vi("c", F, [])],
                [out("y")], [], 13)
    n = 3 if op == "Expand" else 2
    return ([helper.make_node(op, ["x", "s"], ["y"])], [vi("x", F, [2, 3]), vi("s", I64, [n])], [out("y")], [], 13)


def m_gather_dynamic(r):
    op = r.choice(["Gather", "GatherElements", "GatherND", "ScatterElements", "ScatterND", "OneHot", "Embedding"])
    if op == "GatherND":
        return ([helper.make_node(op, ["x", "i"], ["y"])], [vi("x", F, [3, 3]), vi("i", I64, [2, 2])], [out("y")],
                [], 13)
    if op == "ScatterElements":
        return ([helper.make_node(op, ["x", "i", "u"], ["y"], axis=0)],
                [vi("x", F, [3, 3]), vi("i", I64, [1, 3]), vi("u", F, [1, 3])], [out("y")], [], 13)
    if op == "ScatterND":
        return ([helper.make_node(op, ["x", "i", "u"], ["y"])],
                [vi("x", F, [3, 3]), vi("i", I64, [1, 1]), vi("u", F, [1, 3])], [out("y")], [], 13)
    if op == "GatherElements":
        return ([helper.make_node(op, ["x", "i"], ["y"], axis=1)], [vi("x", F, [3, 3]), vi("i", I64, [3, 2])],
                [out("y")], [], 13)
    return ([helper.make_node("Gather", ["x", "i"], ["y"], axis=0)], [vi("x", F, [3, 3]), vi("i", I64, [4])],
            [out("y")], [], 13)


BASES = [m_conv, m_conv_transpose, m_pool, m_global_pool, m_gemm, m_matmul, m_reshape, m_transpose, m_concat, m_slice,
         m_gather, m_split, m_pad, m_resize, m_reduce, m_softmax, m_layernorm, m_batchnorm, m_rnn, m_cast, m_expand,
         m_tile, m_constant_of_shape, m_topk, m_nonzero, m_scatter, m_einsum, m_misc_shape, m_chain, m_dynamic_shape,
         m_gather_dynamic]


# ---- more operators, their inputs as graph inputs so that adversarial values reach the kernels ----
# (op, [(name, dtype, shape) or (name, ndarray)], attrs, opset, [(output, dtype)])
B = TensorProto.BOOL
U8 = TensorProto.UINT8
I8 = TensorProto.INT8
OP_TABLE = [
    ("GridSample", [("x", F, [1, 1, 4, 4]), ("g", F, [1, 3, 3, 2])], dict(mode="bilinear"), 16, [("y", F)]),
    ("RoiAlign", [("x", F, [1, 2, 6, 6]), ("r", F, [2, 4]), ("b", I64, [2])],
     dict(output_height=2, output_width=2, sampling_ratio=2, spatial_scale=1.0), 16, [("y", F)]),
    ("NonMaxSuppression", [("b", F, [1, 4, 4]), ("s", F, [1, 1, 4]), ("m", I64, [1]), ("iou", F, [1]),
                           ("th", F, [1])], {}, 13, [("y", I64)]),
    ("MaxUnpool", [("x", F, [1, 1, 2, 2]), ("i", I64, [1, 1, 2, 2])], dict(kernel_shape=[2, 2], strides=[2, 2]), 11,
     [("y", F)]),
    ("ReverseSequence", [("x", F, [4, 2]), ("l", I64, [2])], dict(batch_axis=1, time_axis=0), 13, [("y", F)]),
    ("Det", [("x", F, [2, 3, 3])], {}, 13, [("y", F)]),
    ("DFT", [("x", F, [1, 8, 1]), ("n", I64, [])], dict(axis=1, onesided=0), 17, [("y", F)]),
    ("STFT", [("x", F, [1, 16, 1]), ("st", I64, []), ("w", F, [4])], dict(onesided=1), 17, [("y", F)]),
    ("HannWindow", [("n", I64, [])], {}, 17, [("y", F)]),
    ("MelWeightMatrix", [("a", I64, []), ("b", I64, []), ("c", I64, []), ("d", F, []), ("e", F, [])], {}, 17,
     [("y", F)]),
    ("QuantizeLinear", [("x", F, [2, 3]), ("s", F, [3]), ("z", U8, [3])], dict(axis=1), 13, [("y", U8)]),
    ("DequantizeLinear", [("x", U8, [2, 3]), ("s", F, [3]), ("z", U8, [3])], dict(axis=1), 13, [("y", F)]),
    ("MatMulInteger", [("a", U8, [2, 3]), ("b", U8, [3, 2]), ("za", U8, []), ("zb", U8, [])], {}, 10, [("y", I32)]),
    ("ConvInteger", [("x", U8, [1, 1, 4, 4]), ("w", U8, [1, 1, 2, 2])], {}, 10, [("y", I32)]),
    ("QLinearMatMul", [("a", U8, [2, 3]), ("as", F, []), ("az", U8, []), ("b", U8, [3, 2]), ("bs", F, []),
                       ("bz", U8, []), ("ys", F, []), ("yz", U8, [])], {}, 10, [("y", U8)]),
    ("LpNormalization", [("x", F, [2, 3])], dict(axis=1, p=2), 13, [("y", F)]),
    ("MeanVarianceNormalization", [("x", F, [1, 2, 3, 3])], dict(axes=[0, 2, 3]), 13, [("y", F)]),
    ("EyeLike", [("x", F, [3, 4])], dict(k=1), 13, [("y", F)]),
    ("Upsample", [("x", F, [1, 1, 2, 2]), ("s", F, [4])], dict(mode="nearest"), 9, [("y", F)]),
    ("Scatter", [("x", F, [3, 3]), ("i", I64, [1, 3]), ("u", F, [1, 3])], dict(axis=0), 10, [("y", F)]),
    ("Unique", [("x", F, [2, 3])], dict(axis=1, sorted=1), 13, [("y", F)]),
    ("CumSum", [("x", F, [2, 3]), ("a", I64, [])], dict(exclusive=1, reverse=1), 14, [("y", F)]),
    ("Trilu", [("x", F, [3, 4]), ("k", I64, [])], dict(upper=0), 14, [("y", F)]),
    ("OneHot", [("i", I64, [3]), ("d", I64, []), ("v", F, [2])], dict(axis=0), 11, [("y", F)]),
    ("Range", [("a", I64, []), ("b", I64, []), ("c", I64, [])], {}, 11, [("y", I64)]),
    ("Tile", [("x", F, [2, 3]), ("r", I64, [2])], {}, 13, [("y", F)]),
    ("Expand", [("x", F, [1, 3]), ("s", I64, [2])], {}, 13, [("y", F)]),
    ("Reshape", [("x", F, [2, 3]), ("s", I64, [3])], dict(allowzero=1), 14, [("y", F)]),
    ("Slice", [("x", F, [4, 5]), ("s", I64, [2]), ("e", I64, [2]), ("a", I64, [2]), ("st", I64, [2])], {}, 13,
     [("y", F)]),
    ("Split", [("x", F, [6, 2]), ("s", I64, [2])], dict(axis=0), 13, [("y0", F), ("y1", F)]),
    ("Pad", [("x", F, [2, 3]), ("p", I64, [4]), ("v", F, [])], dict(mode="reflect"), 13, [("y", F)]),
    ("Pad", [("x", F, [2, 3]), ("p", I64, [4])], dict(mode="edge"), 13, [("y", F)]),
    ("Resize", [("x", F, [1, 1, 3, 3]), ("roi", F, [8]), ("sc", F, [4])],
     dict(mode="linear", coordinate_transformation_mode="tf_crop_and_resize"), 13, [("y", F)]),
    ("Resize", [("x", F, [1, 1, 3, 3]), ("", None, None), ("sc", F, [4])], dict(mode="cubic"), 13, [("y", F)]),
    ("ScatterND", [("x", F, [4, 3]), ("i", I64, [2, 1]), ("u", F, [2, 3])], dict(reduction="add"), 16, [("y", F)]),
    ("ScatterElements", [("x", F, [3, 3]), ("i", I64, [2, 3]), ("u", F, [2, 3])], dict(axis=0, reduction="mul"), 16,
     [("y", F)]),
    ("GatherElements", [("x", F, [3, 3]), ("i", I64, [2, 3])], dict(axis=-1), 13, [("y", F)]),
    ("GatherND", [("x", F, [2, 3, 4]), ("i", I64, [2, 1])], dict(batch_dims=1), 13, [("y", F)]),
    ("Gather", [("x", F, [3, 4]), ("i", I32, [2, 2])], dict(axis=1), 13, [("y", F)]),
    ("Compress", [("x", F, [3, 2]), ("c", B, [4])], dict(axis=0), 11, [("y", F)]),
    ("TopK", [("x", F, [3, 5]), ("k", I64, [1])], dict(axis=0, largest=0), 11, [("v", F), ("i", I64)]),
    ("ConstantOfShape", [("s", I64, [3])], {}, 9, [("y", F)]),
    ("Squeeze", [("x", F, [1, 3, 1]), ("a", I64, [1])], {}, 13, [("y", F)]),
    ("Unsqueeze", [("x", F, [3]), ("a", I64, [2])], {}, 13, [("y", F)]),
    ("ReduceSum", [("x", F, [2, 3, 4]), ("a", I64, [2])], dict(noop_with_empty_axes=1), 13, [("y", F)]),
    ("Einsum", [("a", F, [2, 3]), ("b", F, [3, 2])], dict(equation="ij,jk->ik"), 12, [("y", F)]),
    ("Einsum", [("a", F, [2, 2, 3])], dict(equation="...ii->...i"), 12, [("y", F)]),
    ("Mod", [("a", I32, [4]), ("b", I32, [4])], dict(fmod=0), 13, [("y", I32)]),
    ("Div", [("a", I64, [4]), ("b", I64, [4])], {}, 13, [("y", I64)]),
    ("Pow", [("a", I64, [4]), ("b", I64, [4])], {}, 15, [("y", I64)]),
    ("BitShift", [("a", TensorProto.UINT32, [3]), ("b", TensorProto.UINT32, [3])], dict(direction="LEFT"), 11,
     [("y", TensorProto.UINT32)]),
    ("Cast", [("x", F, [4])], dict(to=I8), 13, [("y", I8)]),
    ("Cast", [("x", TensorProto.STRING, [2])], dict(to=F), 13, [("y", F)]),
    ("Clip", [("x", I64, [4]), ("lo", I64, []), ("hi", I64, [])], {}, 13, [("y", I64)]),
    ("Softmax", [("x", F, [2, 0, 3])], dict(axis=1), 13, [("y", F)]),
    ("ArgMax", [("x", F, [2, 3])], dict(axis=1, select_last_index=1), 13, [("y", I64)]),
    ("SplitToSequence", [("x", F, [6, 2]), ("s", I64, [])], dict(axis=0), 11, [("y", None)]),
    ("Bernoulli", [("x", F, [4])], dict(seed=1.0), 15, [("y", F)]),
    ("RandomUniformLike", [("x", F, [2, 2])], {}, 13, [("y", F)]),
    ("Multinomial", [("x", F, [2, 3])], dict(sample_size=3), 13, [("y", I32)]),
    ("Shrink", [("x", F, [4])], dict(lambd=0.5), 13, [("y", F)]),
    ("PRelu", [("x", F, [2, 3]), ("s", F, [3])], {}, 16, [("y", F)]),
    ("InstanceNormalization", [("x", F, [1, 2, 0]), ("s", F, [2]), ("b", F, [2])], {}, 13, [("y", F)]),
    ("LayerNormalization", [("x", F, [2, 3]), ("s", F, [3]), ("b", F, [3])], dict(axis=0), 17, [("y", F)]),
    ("BatchNormalization", [("x", F, [2, 3]), ("s", F, [3]), ("b", F, [3]), ("m", F, [3]), ("v", F, [3])], {}, 15,
     [("y", F)]),
    ("MaxPool", [("x", F, [1, 1, 5, 5])], dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2], dilations=[2, 2],
                                               ceil_mode=1), 12, [("y", F), ("i", I64)]),
    ("AveragePool", [("x", F, [1, 1, 5])], dict(kernel_shape=[3], auto_pad="SAME_UPPER", count_include_pad=1), 11,
     [("y", F)]),
    ("Conv", [("x", F, [1, 2, 5, 5]), ("w", F, [2, 1, 3, 3])], dict(group=2, auto_pad="SAME_LOWER"), 11, [("y", F)]),
    ("ConvTranspose", [("x", F, [1, 2, 3, 3]), ("w", F, [2, 1, 3, 3])],
     dict(group=2, output_shape=[7, 7], strides=[2, 2]), 11, [("y", F)]),
    ("Col2Im", [("x", F, [1, 4, 9]), ("is", I64, [2]), ("bs", I64, [2])], {}, 18, [("y", F)]),
    ("StringNormalizer", [("x", TensorProto.STRING, [3])], dict(case_change_action="UPPER"), 10,
     [("y", TensorProto.STRING)]),
    ("GRU", [("x", F, [3, 1, 2]), ("w", F, [1, 9, 2]), ("r", F, [1, 9, 3]), ("b", F, [1, 18]), ("sl", I32, [1]),
             ("h0", F, [1, 1, 3])], dict(hidden_size=3, linear_before_reset=1), 14, [("y", F)]),
    ("LSTM", [("x", F, [3, 1, 2]), ("w", F, [1, 12, 2]), ("r", F, [1, 12, 3]), ("b", F, [1, 24]), ("sl", I32, [1])],
     dict(hidden_size=3, layout=0, input_forget=1), 14, [("y", F)]),
    ("Gemm", [("a", F, [3, 2]), ("b", F, [3, 4]), ("c", F, [1, 4])], dict(transA=1), 13, [("y", F)]),
    ("MatMul", [("a", F, [2, 1, 3]), ("b", F, [3])], {}, 13, [("y", F)]),
    ("DepthToSpace", [("x", F, [1, 8, 2, 2])], dict(blocksize=2, mode="CRD"), 13, [("y", F)]),
    ("SpaceToDepth", [("x", F, [1, 1, 4, 4])], dict(blocksize=2), 13, [("y", F)]),
    ("Hardmax", [("x", F, [2, 3])], dict(axis=-1), 13, [("y", F)]),
    ("Where", [("c", B, [2, 1]), ("x", F, [1, 3]), ("y0", F, [2, 3])], {}, 16, [("y", F)]),
    ("Concat", [("a", F, [2, 3]), ("b", F, [2, 0])], dict(axis=-1), 13, [("y", F)]),
    ("Transpose", [("x", F, [2, 3, 4])], dict(perm=[1, 2, 0]), 13, [("y", F)]),
    ("Flatten", [("x", F, [2, 3, 4])], dict(axis=3), 13, [("y", F)]),
    ("Sum", [("a", F, [2, 3]), ("b", F, [3]), ("c", F, [1])], {}, 13, [("y", F)]),
    ("Mean", [("a", F, [2, 3]), ("b", F, [3])], {}, 13, [("y", F)]),
    ("SoftmaxCrossEntropyLoss", [("x", F, [2, 3]), ("l", I64, [2])], dict(ignore_index=1), 13, [("y", F)]),
    ("NegativeLogLikelihoodLoss", [("x", F, [2, 3]), ("l", I64, [2])], dict(reduction="mean"), 13, [("y", F)]),
    ("TfIdfVectorizer", [("x", I64, [4])], dict(mode="TF", min_gram_length=1, max_gram_length=2, max_skip_count=1,
                                                ngram_counts=[0, 2], ngram_indexes=[0, 1, 2],
                                                pool_int64s=[1, 2, 1, 2]), 9, [("y", F)]),
]


def m_table(r):
    op, specs, attrs, opset, outs = r.choice(OP_TABLE)
    inputs, names = [], []
    for name, t, shape in specs:
        names.append(name)
        if t is not None:
            inputs.append(vi(name, t, shape))
    outputs = []
    for name, t in outs:
        if t is None:
            outputs.append(helper.make_tensor_sequence_value_info(name, F, None))
        else:
            outputs.append(out(name, t))
    node = helper.make_node(op, names, [o for o, _ in outs], **attrs)
    return [node], inputs, outputs, [], opset


BASES += [m_table] * 12


# ---- control flow, local functions and the patterns the optimization passes rewrite ----

def m_if(r):
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", F, [2, 3])])
    els = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", F, [2, 3])])
    return ([helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=els)],
            [vi("c", B, []), vi("x", F, [2, 3])], [out("y")], [], 13)


def m_loop(r):
    body = helper.make_graph(
        [helper.make_node("Less", ["i", "lim"], ["c_out"]), helper.make_node("Add", ["v_in", "one"], ["v_out"]),
         helper.make_node("Identity", ["v_in"], ["scan"])], "body",
        [vi("i", I64, []), vi("c_in", B, []), vi("v_in", F, [2])],
        [vi("c_out", B, []), vi("v_out", F, [2]), vi("scan", F, [2])],
        [init("one", np.ones(2, np.float32)), init("lim", np.array(r.choice([3, 5]), np.int64))])
    return ([helper.make_node("Loop", ["n", "c", "v"], ["y", "ys"], body=body)],
            [vi("c", B, []), vi("v", F, [2])], [out("y"), out("ys")],
            [init("n", np.array(r.choice([2, 4, 10]), np.int64))], 13)


def m_scan(r):
    body = helper.make_graph([helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["o_t"])], "body",
                             [vi("s_in", F, [2]), vi("x_t", F, [2])], [vi("s_out", F, [2]), vi("o_t", F, [2])])
    return ([helper.make_node("Scan", ["s0", "xs"], ["s", "os"], body=body, num_scan_inputs=1,
                              scan_input_axes=[0], scan_output_axes=[0])],
            [vi("s0", F, [2]), vi("xs", F, [3, 2])], [out("s"), out("os")], [], 13)


def m_function(r):
    # A model-local function; the mutation may make it call itself.
    body = [helper.make_node("Mul", ["a", "a"], ["t"]), helper.make_node("Add", ["t", "a"], ["b"])]
    if r.random() < 0.2:
        body.append(helper.make_node("Fn", ["b"], ["c"], domain="local"))
        outs = ["c"]
    else:
        outs = ["b"]
    f = helper.make_function("local", "Fn", ["a"], outs, body,
                             [helper.make_opsetid("", 13), helper.make_opsetid("local", 1)])
    nodes = [helper.make_node("Fn", ["x"], ["y"], domain="local")]
    # The output's shape is given: onnx's inference (in fill_output_shapes) must not see a recursive function.
    return nodes, [vi("x", F, [2, 3])], [vi("y", F, ["y0", "y1"])], [], 13, [f]


def m_patterns(r):
    kind = r.choice(["conv_pad", "conv_bn", "transposes", "matmul_add", "gelu", "attention", "conv_relu"])
    if kind == "conv_pad":
        return ([helper.make_node("Pad", ["x", "p"], ["xp"], mode="constant"),
                 helper.make_node("Conv", ["xp", "w"], ["y"], kernel_shape=[3, 3])], [vi("x", F, [1, 2, 5, 5])],
                [out("y")], [init("p", i64([0, 0, 1, 1, 0, 0, 1, 1])), init("w", rnd(r, 2, 2, 3, 3))], 13)
    if kind == "conv_bn":
        return ([helper.make_node("Conv", ["x", "w", "cb"], ["c"], kernel_shape=[1, 1]),
                 helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"])], [vi("x", F, [1, 2, 3, 3])],
                [out("y")], [init("w", rnd(r, 3, 2, 1, 1)), init("cb", rnd(r, 3)), init("s", rnd(r, 3)),
                             init("b", rnd(r, 3)), init("m", rnd(r, 3)), init("v", np.ones(3, np.float32))], 13)
    if kind == "transposes":
        return ([helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
                 helper.make_node("Relu", ["t"], ["u"]),
                 helper.make_node("Transpose", ["u"], ["y"], perm=[0, 3, 1, 2])], [vi("x", F, [1, 2, 3, 4])],
                [out("y")], [], 13)
    if kind == "matmul_add":
        return ([helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
                [vi("x", F, [2, 3])], [out("y")], [init("w", rnd(r, 3, 4)), init("b", rnd(r, 4))], 13)
    if kind == "gelu":
        return ([helper.make_node("Div", ["x", "sq2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                 helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["x", "a"], ["m"]),
                 helper.make_node("Mul", ["m", "half"], ["y"])], [vi("x", F, [2, 3])], [out("y")],
                [init("sq2", np.array(1.4142135, np.float32)), init("one", np.array(1, np.float32)),
                 init("half", np.array(0.5, np.float32))], 13)
    if kind == "attention":
        return ([helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Div", ["s", "sc"], ["sd"]),
                 helper.make_node("Softmax", ["sd"], ["p"], axis=-1), helper.make_node("MatMul", ["p", "v"], ["y"])],
                [vi("q", F, [1, 2, 4, 8]), vi("kt", F, [1, 2, 8, 4]), vi("v", F, [1, 2, 4, 8])], [out("y")],
                [init("sc", np.array(2.8284, np.float32))], 13)
    return ([helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["c", "lo", "hi"], ["y"])], [vi("x", F, [1, 16, 8, 8])], [out("y")],
            [init("w", rnd(r, 16, 16, 3, 3)), init("lo", np.array(0, np.float32)),
             init("hi", np.array(6, np.float32))], 13)


BASES += [m_if, m_loop, m_scan, m_function, m_patterns, m_patterns]


# ---- mutations: each takes (rng, model) and changes it in place; may return extra info ----

def _nodes(m):
    """The main graph's nodes, and those of subgraphs and local functions."""
    found = []

    def walk(nodes):
        for n in nodes:
            found.append(n)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g.node)
    walk(m.graph.node)
    for f in m.functions:
        walk(f.node)
    return found


def schema_attrs(m, n, kind):
    """Names of the attributes of kind `kind` that n's schema declares (so the checker lets them through)."""
    try:
        opset = m.opset_import[0].version if m.opset_import else 13
        sch = onnx.defs.get_schema(n.op_type, max(1, min(int(opset), 17)), n.domain)
        return [k for k, a in sch.attributes.items() if a.type == kind]
    except Exception:
        return []


def set_or_add(r, m, n, kind, fallback_names, setter):
    have = [a for a in n.attribute if a.type == kind]
    names = schema_attrs(m, n, kind)
    missing = [k for k in names if k not in {a.name for a in n.attribute}]
    if have and (r.random() < 0.7 or not missing):
        setter(r.choice(have))
    elif not missing and r.random() < 0.85:
        return  # an attribute the schema does not know only meets the checker
    else:
        name = r.choice(missing) if missing and r.random() < 0.9 else r.choice(fallback_names)
        a = n.attribute.add()
        a.name = name
        a.type = kind
        setter(a)


def mut_attr_int(r, m):
    n = r.choice(_nodes(m))
    v = r.choice(EXTREME_INTS)

    def setter(a):
        a.i = v
    set_or_add(r, m, n, onnx.AttributeProto.INT, ["axis", "group", "hidden_size", "to", "blocksize", "k"], setter)


def mut_attr_ints(r, m):
    n = r.choice(_nodes(m))
    lists = [a for a in n.attribute if a.type == onnx.AttributeProto.INTS]
    kind = r.randrange(4)
    if kind == 0:
        vals = []
    elif kind == 1:
        vals = [r.choice(EXTREME_INTS) for _ in range(r.randint(1, 6))]
    elif kind == 2:
        vals = [r.choice([0, -1, 2**31, 2**40, 10**6]) for _ in range(r.choice([1, 2, 4, 8]))]
    else:
        vals = [r.randint(-3, 5) for _ in range(r.randint(0, 8))]
    del lists

    def setter(a):
        del a.ints[:]
        a.ints.extend(vals)
    set_or_add(r, m, n, onnx.AttributeProto.INTS, ["pads", "strides", "dilations", "kernel_shape", "perm", "axes"],
               setter)


def mut_attr_float(r, m):
    n = r.choice(_nodes(m))
    v = r.choice(EXTREME_FLOATS)

    def setter(a):
        a.f = v
    set_or_add(r, m, n, onnx.AttributeProto.FLOAT, ["alpha", "beta", "epsilon", "clip"], setter)


def mut_attr_type(r, m):
    # An attribute of the wrong kind, or a string attribute with junk.
    n = r.choice(_nodes(m))
    if not n.attribute:
        return
    a = r.choice(list(n.attribute))
    name = a.name
    n.attribute.remove(a)
    choice = r.randrange(5)
    if choice == 0:
        n.attribute.append(helper.make_attribute(name, "junk\x00\xff"))
    elif choice == 1:
        n.attribute.append(helper.make_attribute(name, 1.5))
    elif choice == 2:
        n.attribute.append(helper.make_attribute(name, [1.0, 2.0]))
    elif choice == 3:
        at = onnx.AttributeProto()
        at.name = name
        at.type = r.choice([0, 99, onnx.AttributeProto.TENSOR, onnx.AttributeProto.GRAPH])
        n.attribute.append(at)
    # choice 4: attribute removed


def mut_attr_string(r, m):
    n = r.choice(_nodes(m))
    v = r.choice([b"", b"bogus", b"ij,jk", b"->", b"...,...->...", b"ij,jk,kl->il", b"a" * 300, b"i->ii",
                  b"ij,jk->ikz", b"\xff\xfe", b"abc,cd->abdd", b"SAME_UPPER", b"VALID", b"SAME_LOWER",
                  b"half_pixel", b"tf_crop_and_resize", b"asymmetric", b"align_corners", b"reverse",
                  b"bidirectional", b"floor", b"round_prefer_ceil", b"reflect", b"wrap", b"...ii->...i", b"i...->"])

    def setter(a):
        a.s = v
    set_or_add(r, m, n, onnx.AttributeProto.STRING, ["mode", "direction", "auto_pad", "equation"], setter)


def mut_dup_attr(r, m):
    n = r.choice(_nodes(m))
    if n.attribute:
        a = onnx.AttributeProto()
        a.CopyFrom(r.choice(list(n.attribute)))
        n.attribute.append(a)


def _pick_init(r, m):
    inits = list(m.graph.initializer)
    return r.choice(inits) if inits else None


def _pick_numeric_init(r, m):
    """An initializer and its values, or (None, None) when there is none or it holds strings."""
    t = _pick_init(r, m)
    if t is None:
        return None, None
    arr = numpy_helper.to_array(t)
    return (None, None) if arr.dtype == object else (t, arr)


def mut_init_values(r, m):
    t = _pick_init(r, m)
    if t is None:
        return
    arr = numpy_helper.to_array(t).copy()
    if arr.size == 0:
        return
    flat = arr.reshape(-1)
    for _ in range(r.randint(1, max(1, flat.size))):
        k = r.randrange(flat.size)
        if arr.dtype.kind in "iu":
            v = r.choice(EXTREME_INTS)
            info = np.iinfo(arr.dtype)
            flat[k] = min(max(v, info.min), info.max)
        elif arr.dtype.kind == "f":
            flat[k] = r.choice(EXTREME_FLOATS)
        elif arr.dtype.kind == "b":
            flat[k] = not flat[k]
    t.CopyFrom(numpy_helper.from_array(arr, t.name))


def mut_init_huge_shape(r, m):
    # Shape-like int64 initializers that ask for 2^40 or more elements.
    cands = [t for t in m.graph.initializer if t.data_type == I64]
    if not cands:
        return
    t = r.choice(cands)
    arr = numpy_helper.to_array(t).copy().reshape(-1)
    if arr.size == 0:
        return
    big = r.choice([2**20, 2**31, 2**40, 2**62, INT64_MAX, 10**9])
    for k in range(arr.size):
        if r.random() < 0.6:
            arr[k] = big
    t.CopyFrom(numpy_helper.from_array(arr.reshape(numpy_helper.to_array(t).shape), t.name))


def mut_init_dims(r, m):
    t = _pick_init(r, m)
    if t is None:
        return
    kind = r.randrange(5)
    if kind == 0 and len(t.dims):
        t.dims[r.randrange(len(t.dims))] = r.choice([0, -1, 2**40, INT64_MAX, 1000])
    elif kind == 1:
        t.dims.append(r.choice([2, 0, 7]))
    elif kind == 2:
        del t.dims[:]
    elif kind == 3 and len(t.dims):
        t.dims[r.randrange(len(t.dims))] += 1
    else:
        del t.dims[:]
        t.dims.extend([2**31] * 3)


def mut_raw_truncate(r, m):
    t, arr = _pick_numeric_init(r, m)
    if t is None:
        return
    raw = arr.tobytes()
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.ClearField("int32_data")
    t.ClearField("double_data")
    t.raw_data = raw[:r.randrange(max(1, len(raw)))] if r.random() < 0.8 else raw + b"\x01\x02\x03"


def mut_init_dtype(r, m):
    t = _pick_init(r, m)
    if t is None:
        return
    t.data_type = r.choice(ALL_DTYPES)


def mut_init_external(r, m):
    t = _pick_init(r, m)
    if t is None:
        return
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key = "location"
    e.value = r.choice(["/etc/passwd", "../../nope.bin", "", "x.bin"])
    if r.random() < 0.5:
        e2 = t.external_data.add()
        e2.key = r.choice(["offset", "length"])
        e2.value = r.choice(["-1", "99999999999", "abc", "0"])


def mut_input_dims(r, m):
    ins = list(m.graph.input)
    if not ins:
        return
    v = r.choice(ins)
    dims = v.type.tensor_type.shape.dim
    if len(dims) and r.random() < 0.8:
        d = dims[r.randrange(len(dims))]
        choice = r.randrange(4)
        if choice == 0:
            d.dim_value = r.choice([0, -1, -5, 2**40, INT64_MAX, 100000])
        elif choice == 1:
            d.dim_param = r.choice(["N", "", "batch"])
        elif choice == 2:
            d.dim_value = r.choice([1, 2, 5, 17])
        else:
            d.Clear()
    else:
        v.type.tensor_type.shape.dim.add().dim_value = r.choice([1, 3, 0])


def mut_input_rank(r, m):
    ins = list(m.graph.input)
    if not ins:
        return
    v = r.choice(ins)
    if r.random() < 0.5:
        v.type.tensor_type.ClearField("shape")
    else:
        shape = v.type.tensor_type.shape
        del shape.dim[:]
        for _ in range(r.choice([0, 1, 5, 8])):
            shape.dim.add().dim_value = r.choice([1, 2])


def mut_io_dtype(r, m):
    vals = list(m.graph.input) + list(m.graph.output)
    if not vals:
        return
    v = r.choice(vals)
    v.type.tensor_type.elem_type = r.choice(ALL_DTYPES)


def mut_drop_input(r, m):
    n = r.choice(_nodes(m))
    if n.input:
        del n.input[r.randrange(len(n.input))]


def mut_extra_input(r, m):
    n = r.choice(_nodes(m))
    names = [v.name for v in m.graph.input] + [t.name for t in m.graph.initializer]
    n.input.append(r.choice(names + ["", "nonexistent"]) if names else "")


def mut_empty_name(r, m):
    n = r.choice(_nodes(m))
    if r.random() < 0.5 and n.input:
        n.input[r.randrange(len(n.input))] = ""
    elif n.output:
        n.output[r.randrange(len(n.output))] = ""


def mut_duplicate_name(r, m):
    kind = r.randrange(4)
    nodes = _nodes(m)
    if kind == 0 and len(m.graph.initializer) and len(m.graph.input):
        m.graph.initializer[0].name = m.graph.input[0].name
    elif kind == 1:
        n = r.choice(nodes)
        if n.output and m.graph.input:
            n.output[0] = m.graph.input[0].name
    elif kind == 2:
        m.graph.node.append(nodes[-1])  # a second producer of the same outputs
    else:
        if len(m.graph.initializer) >= 2:
            m.graph.initializer[1].name = m.graph.initializer[0].name


def mut_cycle(r, m):
    nodes = _nodes(m)
    first = m.graph.node[0]
    last = nodes[-1]
    if first.input and last.output:
        first.input[0] = last.output[0]
    elif last.output:
        first.input.append(last.output[0])


def mut_self_loop(r, m):
    n = m.graph.node[r.randrange(len(m.graph.node))]
    if n.output:
        n.input.append(n.output[0])


def mut_output_missing(r, m):
    if m.graph.output:
        m.graph.output[r.randrange(len(m.graph.output))].name = r.choice(["ghost", "", m.graph.output[0].name])
    if r.random() < 0.3:
        m.graph.output.add().CopyFrom(m.graph.output[0])


def mut_output_is_input(r, m):
    if m.graph.input:
        m.graph.output.add().CopyFrom(m.graph.input[0])
    if m.graph.initializer and r.random() < 0.5:
        o = m.graph.output.add()
        o.name = m.graph.initializer[0].name


def mut_no_outputs(r, m):
    del m.graph.output[:]


def mut_opset(r, m):
    m.opset_import[0].version = r.choice([-1, 0, 1, 5, 6, 7, 8, 11, 16, 17, 18, 19, 21, 100, INT64_MAX])
    if r.random() < 0.2:
        m.opset_import[0].domain = r.choice(["ai.onnx", "bogus", "com.microsoft"])
    if r.random() < 0.2:
        m.opset_import.add().CopyFrom(m.opset_import[0])
    if r.random() < 0.1:
        del m.opset_import[:]


def mut_ir_version(r, m):
    m.ir_version = r.choice([0, 1, 2, 3, 12, 100, INT64_MAX])


def mut_op_swap(r, m):
    n = r.choice(_nodes(m))
    n.op_type = r.choice(["Conv", "Gemm", "Reshape", "Slice", "Split", "Pad", "Resize", "TopK", "Expand", "Tile",
                          "Gather", "ScatterND", "Einsum", "LSTM", "GRU", "Concat", "MaxPool", "ReduceSum", "NonZero",
                          "Loop", "If", "Scan", "Identity", "Sum", "Mean", "Max", "BatchNormalization", "Unknown",
                          "ConvTranspose", "RoiAlign", "GridSample", "NonMaxSuppression", "Col2Im", "STFT", "DFT",
                          "CenterCropPad", "Bernoulli", "RandomNormal", "MatMulInteger", "QLinearConv",
                          "Compress", "ReverseSequence", "SequenceAt", "SplitToSequence", "Unique", "Det",
                          "MaxRoiPool", "MaxUnpool", "DeformConv", "LpNormalization", "GroupNormalization"])


def mut_domain(r, m):
    n = r.choice(_nodes(m))
    n.domain = r.choice(["bogus", "ai.onnx.ml", "com.microsoft", "ai.onnx"])


def mut_subgraph_attr(r, m):
    # A graph attribute with a malformed body on a node (If/Loop/Scan style).
    n = r.choice(_nodes(m))
    g = helper.make_graph([helper.make_node("Identity", ["zz"], ["ww"])], "sub", [], [out("ww")])
    n.attribute.append(helper.make_attribute(r.choice(["then_branch", "else_branch", "body"]), g))
    if r.random() < 0.5:
        n.op_type = r.choice(["If", "Loop", "Scan"])


def mut_string_tensor(r, m):
    t = _pick_init(r, m)
    if t is None:
        return
    t.data_type = TensorProto.STRING
    t.ClearField("raw_data")
    t.ClearField("float_data")
    t.ClearField("int64_data")
    t.string_data.extend([b"abc"] * r.choice([0, 1, 3]))


def mut_input_to_initializer(r, m):
    # A graph input becomes a constant: constant folding then runs the kernel at load time.
    inits = {t.name for t in m.graph.initializer}
    cands = [v for v in m.graph.input if v.name not in inits and v.type.tensor_type.HasField("shape")]
    if not cands:
        return
    v = r.choice(cands)
    dims = small_dims([d.dim_value if d.HasField("dim_value") and 0 <= d.dim_value <= 16 else 1
                       for d in v.type.tensor_type.shape.dim])
    npt = np_type(v.type.tensor_type.elem_type)
    n = int(np.prod(dims))
    if np.dtype(npt).kind in "iu":
        info = np.iinfo(npt)
        arr = np.array([min(max(r.choice([0, 1, 2, -1, 3, 2**31, -(2**40), INT64_MAX, INT64_MIN]), info.min),
                            info.max) for _ in range(n)], dtype=npt)
    elif np.dtype(npt).kind == "f":
        arr = np.array([r.choice(EXTREME_FLOATS + [0.5, 2.0]) for _ in range(n)], dtype=npt)
    elif np.dtype(npt).kind == "b":
        arr = np.array([r.random() < 0.5 for _ in range(n)], dtype=bool)
    else:
        return
    m.graph.initializer.append(numpy_helper.from_array(arr.reshape(dims), v.name))
    if r.random() < 0.5:
        m.graph.input.remove(v)


def mut_init_resize(r, m):
    # A well-formed initializer of another shape (or rank): BatchNormalization params of the wrong length,
    # LSTM weights for another hidden size, a bias that does not broadcast.
    t, arr = _pick_numeric_init(r, m)
    if t is None:
        return
    shape = list(arr.shape)
    kind = r.randrange(4)
    if kind == 0 and shape:
        k = r.randrange(len(shape))
        shape[k] = r.choice([0, 1, shape[k] + 1, max(0, shape[k] - 1), 2 * shape[k]])
    elif kind == 1:
        shape = shape[1:] if shape else [1]
    elif kind == 2:
        shape = [1] + shape
    else:
        shape = [r.choice([0, 1, 2, 3])]
    shape = small_dims(shape)
    vals = np.resize(arr.reshape(-1) if arr.size else np.zeros(1, arr.dtype), int(np.prod(shape))).reshape(shape)
    t.CopyFrom(numpy_helper.from_array(vals.astype(arr.dtype), t.name))


def mut_recursive_function(r, m):
    if not m.functions:
        return
    f = m.functions[0]
    f.node[r.randrange(len(f.node))].CopyFrom(helper.make_node(f.name, list(f.input), list(f.output), domain=f.domain))


MUTATIONS = [mut_attr_int, mut_attr_ints, mut_attr_float, mut_attr_type, mut_attr_string, mut_dup_attr,
             mut_init_values, mut_init_huge_shape, mut_init_dims, mut_raw_truncate, mut_init_dtype,
             mut_init_external, mut_input_dims, mut_input_rank, mut_io_dtype, mut_drop_input, mut_extra_input,
             mut_empty_name, mut_duplicate_name, mut_cycle, mut_self_loop, mut_output_missing, mut_output_is_input,
             mut_no_outputs, mut_opset, mut_ir_version, mut_op_swap, mut_domain, mut_subgraph_attr,
             mut_string_tensor, mut_input_to_initializer, mut_recursive_function, mut_init_resize]
# Weights: the semantic mutations that reach kernels come up more often.
WEIGHTS = [6, 6, 2, 2, 2, 1, 6, 4, 3, 2, 1, 1, 4, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 5, 1, 5]
assert len(WEIGHTS) == len(MUTATIONS)


def byte_corrupt(r, data):
    b = bytearray(data)
    kind = r.randrange(3)
    if kind == 0 and b:
        for _ in range(r.randint(1, 8)):
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
    elif kind == 1 and b:
        del b[r.randrange(len(b)):]
    elif b:
        k = r.randrange(len(b))
        b[k:k] = bytes(r.randrange(256) for _ in range(r.randint(1, 16)))
    return bytes(b)


# ---- adversarial inputs (.npy) for a model's graph inputs ----

def np_type(elem):
    try:
        return onnx.helper.tensor_dtype_to_np_dtype(elem)  # onnx >= 1.13
    except AttributeError:
        from onnx import mapping
        return mapping.TENSOR_TYPE_TO_NP_TYPE.get(elem, np.dtype(np.float32))
    except Exception:
        return np.dtype(np.float32)


def small_dims(dims, limit=4096):
    """dims, with the largest ones cut to 1 until they hold at most `limit` elements (the fuzzer's own memory)."""
    dims = list(dims)
    while int(np.prod(dims, dtype=np.float64)) > limit:
        dims[int(np.argmax(dims))] = 1
    return dims


def corrupt_npy(r, path):
    """An input file with a lying header (huge or odd shape, odd dtype) or damaged bytes."""
    with open(path, "rb") as f:
        data = f.read()
    kind = r.randrange(3)
    if kind == 0:
        data = byte_corrupt(r, data)
    else:
        hlen = int.from_bytes(data[8:10], "little")
        body = data[10 + hlen:]
        shape = r.choice(["(268435456,)", "(4294967296, 4294967296)", "()", "(0, 1099511627776)", "(-1,)",
                          "(99999999999999999999,)", "(1," * 40 + ")", "(3, 3)", "(2,"])
        descr = r.choice(["<f4", "<i8", "|S0", "<U1073741824", "|b1", ">f8", "<c8", "|O", "<f2", "<u4"])
        order = r.choice(["False", "True"])
        header = ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, order, shape)).encode()
        header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
        data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + body[:r.choice([0, 4, len(body)])]
    with open(path, "wb") as f:
        f.write(data)


def make_inputs(r, model, d):
    """Writes one .npy per non-initializer graph input; returns the paths or None to let pier generate them."""
    inits = {t.name for t in model.graph.initializer}
    files = []
    for k, v in enumerate(x for x in model.graph.input if x.name not in inits):
        tt = v.type.tensor_type
        elem = tt.elem_type
        dims = [dd.dim_value if dd.HasField("dim_value") and 0 <= dd.dim_value <= 64 else 1 for dd in tt.shape.dim]
        if r.random() < 0.15:
            dims = [r.choice([0, 1, 2, 3, 5]) for _ in range(r.choice([0, 1, 2, 3, 4]))]
        dims = small_dims(dims)
        npt = np_type(elem)
        if npt == object:
            arr = np.array(["a"] * int(np.prod(dims)), dtype=object).reshape(dims)
            files.append(None)
            continue
        n = int(np.prod(dims))
        if np.dtype(npt).kind in "iu":
            info = np.iinfo(npt)
            pool = [0, 1, 2, 3, -1, -3, 5, 7, 100, 2**20, 2**31 - 1, 2**40, INT64_MAX, INT64_MIN, -(2**40)]
            vals = [min(max(r.choice(pool), info.min), info.max) for _ in range(n)]
            arr = np.array(vals, dtype=npt).reshape(dims)
        elif np.dtype(npt).kind == "b":
            arr = np.array([r.random() < 0.5 for _ in range(n)], dtype=bool).reshape(dims)
        else:
            pool = EXTREME_FLOATS + [0.5, 1.0, 2.0, -3.0, 1e9]
            arr = np.array([r.choice(pool) if r.random() < 0.3 else r.uniform(-2, 2) for _ in range(n)],
                           dtype=npt).reshape(dims)
        path = os.path.join(d, "in%d.npy" % k)
        np.save(path, arr)
        if r.random() < 0.05:
            corrupt_npy(r, path)
        files.append(path)
    if any(f is None for f in files):
        return None
    return files


def fill_output_shapes(model):
    """Pier (like onnx's checker) wants a shape on each graph output: take it from onnx's inference."""
    if all(o.type.tensor_type.HasField("shape") for o in model.graph.output if o.type.HasField("tensor_type")):
        return
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
        known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    except Exception:
        known = {}
    for o in model.graph.output:
        if not o.type.HasField("tensor_type") or o.type.tensor_type.HasField("shape"):
            continue
        o.type.tensor_type.shape.SetInParent()
        k = known.get(o.name)
        rank = len(k.type.tensor_type.shape.dim) if k is not None and k.type.tensor_type.HasField("shape") else 1
        # Symbolic dims: a mutation that changes the output's size does not trip a declared-shape mismatch.
        for d in range(rank):
            o.type.tensor_type.shape.dim.add().dim_param = "%s_d%d" % (o.name, d)


def build_case(seed, it):
    """The model bytes and input arrays for one iteration, all from (seed, it)."""
    r = random.Random(seed * 1000003 + it)
    base = r.choice(BASES)
    made = base(r)
    nodes, inputs, outputs, inits, opset = made[:5]
    functions = made[5] if len(made) > 5 else []
    graph = helper.make_graph(nodes, "fuzz", inputs, outputs, inits)
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("local", 1)] if functions else [])
    model = helper.make_model(graph, opset_imports=imports, producer_name="pier-fuzz", functions=functions)
    model.ir_version = 8
    fill_output_shapes(model)
    names = []
    nmut = r.choice([0, 1, 1, 1, 2, 2, 3])
    for _ in range(nmut):
        mut = r.choices(MUTATIONS, weights=WEIGHTS)[0]
        try:
            mut(r, model)
            names.append(mut.__name__)
        except Exception as e:  # a mutation that does not apply to this model
            names.append(mut.__name__ + "(skipped: %s)" % type(e).__name__)
    data = model.SerializeToString()
    if r.random() < 0.04:
        data = byte_corrupt(r, data)
        names.append("byte_corrupt")
    adversarial_inputs = r.random() < 0.5
    return base.__name__, names, data, model, adversarial_inputs, r


def limit_resources(mem_bytes):
    def f():
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return f


def run_pier(pier, args, timeout, mem):
    try:
        p = subprocess.run([pier] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           preexec_fn=limit_resources(mem))
        return p.returncode, p.stderr.decode("utf-8", "replace"), False
    except subprocess.TimeoutExpired as e:
        return None, (e.stderr or b"").decode("utf-8", "replace"), True


def classify(rc, err, timed_out):
    """None when fine, else a short reason."""
    if timed_out:
        return "timeout"
    if rc < 0:
        return "signal %d" % -rc
    for bad in ("terminate called", "Aborted", "AddressSanitizer", "Segmentation fault", "core dumped"):
        if bad in err:
            return bad
    if rc == 0:
        return None
    if rc in (1, 2):
        return None if err.strip() else "exit %d with no message" % rc
    return "exit %d" % rc


def main():
    warnings.simplefilter("ignore")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pier", required=True)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first iteration number")
    ap.add_argument("--out", default="fuzz-out")
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--mem", type=int, default=4_000_000_000, help="address-space limit in bytes")
    ap.add_argument("--keep", action="store_true", help="save every case, not just bugs")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--log", help="append every run's outcome to this file (to see what the mutations reach)")
    a = ap.parse_args()

    # The fuzzer's own memory is bounded too (pier's runs get --mem each).
    resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
    os.makedirs(a.out, exist_ok=True)
    bugs = 0
    stats = {"ok": 0, "error": 0}
    work = tempfile.mkdtemp(prefix="pier-fuzz-")
    try:
        for it in range(a.start, a.start + a.iterations):
            base, muts, data, model, adversarial, r = build_case(a.seed, it)
            d = os.path.join(work, str(it))
            os.makedirs(d)
            path = os.path.join(d, "model.onnx")
            with open(path, "wb") as f:
                f.write(data)
            inputs = make_inputs(r, model, d) if adversarial else None
            run_args = ["run", path, "--threads", "1", "-o", os.path.join(d, "outs")]
            for p in inputs or []:
                run_args += ["-i", p]
            problems = []
            for args in (["info", path], run_args):
                rc, err, to = run_pier(a.pier, args, a.timeout, a.mem)
                why = classify(rc, err, to)
                if a.log:
                    with open(a.log, "a") as f:
                        last = (err.strip().splitlines() or [""])[-1][:160]
                        f.write("%d %s %s rc=%s %s\n" % (it, base, args[0], rc, last))
                if why:
                    problems.append((args[0], why, err.strip().splitlines()[-3:]))
                elif rc == 0:
                    stats["ok"] += 1
                else:
                    stats["error"] += 1
            tag = "seed=%d it=%d base=%s muts=%s inputs=%s" % (a.seed, it, base, ",".join(muts) or "-",
                                                                 "adversarial" if inputs else "generated")
            if problems or a.keep:
                dest = os.path.join(a.out, "s%d_i%d" % (a.seed, it))
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(d, dest, ignore=shutil.ignore_patterns("outs"))
            if problems:
                bugs += 1
                line = tag + " :: " + " | ".join("%s: %s %s" % (c, w, e) for c, w, e in problems)
                print("BUG " + line, flush=True)
                with open(os.path.join(a.out, "bugs.txt"), "a") as f:
                    f.write(line + "\n")
            elif not a.quiet and it % 50 == 0:
                print("... it=%d %s" % (it, stats), flush=True)
            shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("done: %d iterations (seed %d, from %d), %d bugs, %s" % (a.iterations, a.seed, a.start, bugs, stats))
    return 1 if bugs else 0


if __name__ == "__main__":
    sys.exit(main())
