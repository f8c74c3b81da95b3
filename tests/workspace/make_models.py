#!/usr/bin/python3
"""Writes the small ONNX models the workspace tests register, into OUTDIR:

  add.onnx       z = x + [10, 20, 30]
  mul.onnx       z = x * [10, 20, 30]        (same signature, other content)
  big.onnx       z = x + w, w a 4M-float initializer (16 MB: registers take a
                 while, so a SIGKILL can land in each step)
  gradient.onnx  uses ai.onnx.preview.training::Gradient, which ONNX knows
                 and Pier will never run (an unsupported-op warning)
  external.onnx  keeps its weight in external.data (refused by the registry)
  not_onnx.onnx  text, not a model
  empty.onnx     zero bytes
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def binary(op, path, n=3, producer="pier-tests"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", n])
    w = numpy_helper.from_array((np.arange(n, dtype=np.float32) + 1) * 10, "w")
    g = helper.make_graph([helper.make_node(op, ["x", "w"], ["z"])], "g", [x], [z], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name=producer,
                          producer_version="1.0")
    onnx.save(m, path)
    return m


def main(out):
    os.makedirs(out, exist_ok=True)
    binary("Add", os.path.join(out, "add.onnx"))
    binary("Mul", os.path.join(out, "mul.onnx"))
    binary("Add", os.path.join(out, "big.onnx"), n=4 << 20)

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])
    dx = helper.make_tensor_value_info("dY_dX", TensorProto.FLOAT, [3])
    nodes = [helper.make_node("Mul", ["X", "X"], ["Y"]),
             helper.make_node("Gradient", ["X"], ["dY_dX"], domain="ai.onnx.preview.training", xs=["X"], y="Y")]
    g = helper.make_graph(nodes, "grad", [x], [y, dx])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                                  helper.make_opsetid("ai.onnx.preview.training", 1)]),
              os.path.join(out, "gradient.onnx"))

    m = binary("Add", os.path.join(out, "external_tmp.onnx"), n=1000)
    onnx.save(m, os.path.join(out, "external.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="external.data", size_threshold=0)
    os.remove(os.path.join(out, "external_tmp.onnx"))

    with open(os.path.join(out, "not_onnx.onnx"), "w") as f:
        f.write("this is a text file, not an ONNX model\n")
    open(os.path.join(out, "empty.onnx"), "wb").close()


if __name__ == "__main__":
    main(sys.argv[1])
