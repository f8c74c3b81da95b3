#!/usr/bin/python3
"""CLI behaviour of `pier run` and `pier info`: outputs, JSON timing, and
clear errors with exit code 1 or 2 (never a signal) for bad models and
inputs."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PIER = os.environ.get("PIER", "build/pier")


def run(*args):
    return subprocess.run([PIER, *args], capture_output=True, text=True)


def add_model(path, op="Add"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 3])
    w = helper.make_tensor_value_info("w", TensorProto.FLOAT, [3])
    init = numpy_helper.from_array(np.array([10, 20, 30], np.float32), "w")
    node = helper.make_node(op, ["x", "w"], ["z"], name="bar")
    # "w" is both an input and an initializer: -i must skip it.
    graph = helper.make_graph([node], "g", [x, w], [z], initializer=[init])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="pier_cli_")
        cls.model = os.path.join(cls.tmp, "add.onnx")
        add_model(cls.model)
        cls.x = os.path.join(cls.tmp, "x.npy")
        np.save(cls.x, np.arange(6, dtype=np.float32).reshape(2, 3))

    def assert_clean_error(self, r, *needles):
        self.assertIn(r.returncode, (1, 2), f"exit {r.returncode}; stderr: {r.stderr}")
        self.assertTrue(r.stderr.startswith("pier: error:"), r.stderr)
        for n in needles:
            self.assertIn(n, r.stderr)

    def test_run_writes_npy_and_pb(self):
        out = os.path.join(self.tmp, "out")
        r = run("run", self.model, "-i", self.x, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = np.load(os.path.join(out, "output_0.npy"))
        np.testing.assert_array_equal(got, np.arange(6, dtype=np.float32).reshape(2, 3) + [10, 20, 30])
        r = run("run", self.model, "-i", self.x, "-o", out, "--format", "pb")
        self.assertEqual(r.returncode, 0, r.stderr)
        t = onnx.TensorProto()
        t.ParseFromString(pathlib.Path(out, "output_0.pb").read_bytes())
        np.testing.assert_array_equal(numpy_helper.to_array(t), got)

    def test_pb_input_like_backend_test_data(self):
        pb = os.path.join(self.tmp, "x.pb")
        pathlib.Path(pb).write_bytes(numpy_helper.from_array(np.ones((1, 3), np.float32), "x").SerializeToString())
        out = os.path.join(self.tmp, "outpb")
        r = run("run", self.model, "-i", pb, "-o", out)
        self.assertEqual(r.returncode, 0, r.stderr)
        np.testing.assert_array_equal(np.load(os.path.join(out, "output_0.npy")), [[11, 21, 31]])

    def test_json_timing_is_last_line(self):
        r = run("run", self.model, "-i", self.x, "--repeat", "5", "--warmup", "2", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        last = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(set(last), {"load_ms", "runs", "min_ms", "median_ms", "mean_ms", "p90_ms"})
        self.assertEqual(last["runs"], 5)
        self.assertLessEqual(last["min_ms"], last["median_ms"])
        self.assertLessEqual(last["median_ms"], last["p90_ms"])

    def test_info(self):
        r = run("info", self.model, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        info = json.loads(r.stdout)
        self.assertEqual([i["name"] for i in info["inputs"]], ["x"])
        self.assertEqual(info["inputs"][0]["shape"], ["N", 3])
        self.assertEqual(info["op_counts"], {"Add": 1})
        self.assertEqual(info["opsets"], {"ai.onnx": 13})
        r = run("info", self.model)
        self.assertIn("tensor(float)[N,3]", r.stdout)

    def test_empty_file(self):
        p = os.path.join(self.tmp, "empty.onnx")
        pathlib.Path(p).write_bytes(b"")
        self.assert_clean_error(run("run", p), "empty")

    def test_truncated_model(self):
        p = os.path.join(self.tmp, "trunc.onnx")
        data = pathlib.Path(self.model).read_bytes()
        pathlib.Path(p).write_bytes(data[: len(data) // 2])
        self.assert_clean_error(run("run", p), "truncated")

    def test_text_file(self):
        p = os.path.join(self.tmp, "text.onnx")
        pathlib.Path(p).write_text("name,value\nalpha,1\n")
        self.assert_clean_error(run("run", p))

    def test_unknown_op(self):
        p = os.path.join(self.tmp, "foo.onnx")
        add_model(p, op="Foo")
        self.assert_clean_error(run("run", p), 'unsupported operator ai.onnx::Foo (opset 13) at node "bar"')
        r = run("info", p)
        self.assert_clean_error(r, "ai.onnx::Foo")

    def test_wrong_input_shape(self):
        p = os.path.join(self.tmp, "bad.npy")
        np.save(p, np.zeros((2, 4), np.float32))
        self.assert_clean_error(run("run", self.model, "-i", p), 'input "x"', "expected shape")

    def test_wrong_input_type_and_count(self):
        p = os.path.join(self.tmp, "int.npy")
        np.save(p, np.zeros((2, 3), np.int64))
        self.assert_clean_error(run("run", self.model, "-i", p), "tensor(float)")
        self.assert_clean_error(run("run", self.model, "-i", self.x, "-i", self.x), "takes 1 inputs")

    def test_bad_npy_and_missing_files(self):
        p = os.path.join(self.tmp, "junk.npy")
        pathlib.Path(p).write_bytes(b"\x93NUMPY\x01\x00garbage")
        self.assert_clean_error(run("run", self.model, "-i", p))
        self.assert_clean_error(run("run", os.path.join(self.tmp, "none.onnx")), "cannot open")

    def test_usage_errors_exit_2(self):
        self.assertEqual(run("run").returncode, 2)
        self.assertEqual(run("run", self.model, "--format", "xml").returncode, 2)
        self.assertEqual(run("frobnicate").returncode, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
