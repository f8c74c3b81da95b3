#!/usr/bin/python3
"""Models for the serving tests, written to DIR:

- mlp.onnx    torch MLP, x float[N,16] -> y float[N,4]
- mlp_b.onnx  the same MLP with other weights
- cnn.onnx    torch CNN, image float[N,3,16,16] -> logits float[N,10]
- multi.onnx  torch, two inputs and two outputs:
              a float[N,4], b int64[N] -> sum float[N,4], next int64[N]
- types.onnx  Identity for every v2 datatype (BOOL ... FP64, BYTES), built with
              onnx.helper: in_<type> -> out_<type>, shape [?]
- slow.onnx   x float[N,64] -> 16 rounds of x = (x @ x^T) @ x: time grows with N^2
- expand.onnx Expand(value float[1], shape int64[2]): a huge shape makes the
              engine fail to allocate (a 500)

Usage: make_models.py DIR
"""
import os
import sys

import onnx
import torch
from onnx import TensorProto, helper


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


class CNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.pool = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(8 * 8 * 8, 10)

    def forward(self, image):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(image))), 1))


class Multi(torch.nn.Module):
    def forward(self, a, b):
        return a * 2.0 + b.unsqueeze(1).to(torch.float32), b + 1


def export(module, args, path, inputs, outputs, dynamic):
    torch.onnx.export(module.eval(), args, path, input_names=inputs, output_names=outputs,
                      dynamic_axes=dynamic, opset_version=13)


TYPES = {
    "BOOL": TensorProto.BOOL, "UINT8": TensorProto.UINT8, "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32, "UINT64": TensorProto.UINT64, "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16, "INT32": TensorProto.INT32, "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16, "FP32": TensorProto.FLOAT, "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def types_model(path):
    nodes, ins, outs = [], [], []
    for name, t in TYPES.items():
        i, o = f"in_{name.lower()}", f"out_{name.lower()}"
        ins.append(helper.make_tensor_value_info(i, t, ["n"]))
        outs.append(helper.make_tensor_value_info(o, t, ["n"]))
        nodes.append(helper.make_node("Identity", [i], [o]))
    g = helper.make_graph(nodes, "types", ins, outs)
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def slow_model(path, width=64, rounds=16):
    nodes = []
    for i in range(rounds):
        src, dst = ("x" if i == 0 else f"y{i}"), ("y" if i == rounds - 1 else f"y{i + 1}")
        nodes += [helper.make_node("Transpose", [src], [f"t{i}"], perm=[1, 0]),
                  helper.make_node("MatMul", [src, f"t{i}"], [f"g{i}"]),
                  helper.make_node("MatMul", [f"g{i}", src], [dst])]
    g = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def expand_model(path):
    g = helper.make_graph([helper.make_node("Expand", ["value", "shape"], ["out"])], "expand",
                          [helper.make_tensor_value_info("value", TensorProto.FLOAT, [1]),
                           helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["a", "b"])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    export(MLP(), (torch.randn(2, 16),), os.path.join(out, "mlp.onnx"), ["x"], ["y"],
           {"x": {0: "N"}, "y": {0: "N"}})
    torch.manual_seed(1)
    export(MLP(), (torch.randn(2, 16),), os.path.join(out, "mlp_b.onnx"), ["x"], ["y"],
           {"x": {0: "N"}, "y": {0: "N"}})
    export(CNN(), (torch.randn(2, 3, 16, 16),), os.path.join(out, "cnn.onnx"), ["image"], ["logits"],
           {"image": {0: "N"}, "logits": {0: "N"}})
    export(Multi(), (torch.randn(2, 4), torch.tensor([1, 2])), os.path.join(out, "multi.onnx"), ["a", "b"],
           ["sum", "next"], {"a": {0: "N"}, "b": {0: "N"}, "sum": {0: "N"}, "next": {0: "N"}})
    types_model(os.path.join(out, "types.onnx"))
    slow_model(os.path.join(out, "slow.onnx"))
    expand_model(os.path.join(out, "expand.onnx"))


if __name__ == "__main__":
    main()
