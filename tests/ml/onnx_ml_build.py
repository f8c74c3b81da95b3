"""Builders of ONNX-ML graphs for tests/ml/test_sklearn.py: model
boilerplate, tree-ensemble attributes from fitted scikit-learn trees, and
classifier graphs with label/score outputs."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ML = "ai.onnx.ml"
F32 = TensorProto.FLOAT


def make_model(nodes, inputs, outputs, ml_opset=1):
    graph = helper.make_graph(nodes, "sklearn", inputs, outputs)
    m = helper.make_model(graph, producer_name="pier-sklearn-test",
                          opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, ml_opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def tensor_in(name, elem, n_features):
    return helper.make_tensor_value_info(name, elem, [None, n_features])


def tensor_out(name, elem, rank=2):
    return helper.make_tensor_value_info(name, elem, [None] * rank)


def seq_map_out(name, key_elem):
    t = onnx.TypeProto()
    m = t.sequence_type.elem_type.map_type
    m.key_type = key_elem
    m.value_type.tensor_type.elem_type = F32
    return helper.make_value_info(name, t)


def round_down_f32(x):
    """Largest float32 <= x: a float32 input x32 satisfies x32 <= t exactly
    when it satisfies x32 <= round_down_f32(t)."""
    t = np.float32(x)
    if float(t) > x:
        t = np.nextafter(t, np.float32(-np.inf))
    return float(t)


class Trees:
    """Accumulates tree ensemble attributes (nodes_* and <prefix>_*)."""

    def __init__(self, prefix, double):
        self.prefix, self.double = prefix, double
        self.a = {k: [] for k in ("treeids", "nodeids", "featureids", "modes", "values", "true", "false", "missing")}
        self.w = {k: [] for k in ("treeids", "nodeids", "ids", "weights")}
        self.n_trees = 0

    def add_node(self, tid, nid, mode, feature=0, value=0.0, true=0, false=0, missing=0):
        a = self.a
        a["treeids"].append(tid)
        a["nodeids"].append(nid)
        a["modes"].append(mode)
        a["featureids"].append(int(feature))
        a["values"].append(float(value) if self.double or mode == "LEAF" else round_down_f32(float(value)))
        a["true"].append(int(true))
        a["false"].append(int(false))
        a["missing"].append(int(missing))

    def add_weight(self, tid, nid, target, w):
        self.w["treeids"].append(tid)
        self.w["nodeids"].append(nid)
        self.w["ids"].append(int(target))
        self.w["weights"].append(float(w))

    def add_sklearn_tree(self, t, leaf_weights):
        """t: a fitted sklearn Tree (estimator.tree_); leaf_weights(node) ->
        [(target, weight)]."""
        tid = self.n_trees
        self.n_trees += 1
        for i in range(t.node_count):
            if t.children_left[i] == -1:
                self.add_node(tid, i, "LEAF")
                for target, w in leaf_weights(i):
                    self.add_weight(tid, i, target, w)
            else:
                self.add_node(tid, i, "BRANCH_LEQ", t.feature[i], t.threshold[i], t.children_left[i],
                              t.children_right[i])

    def attrs(self):
        a, w, p = self.a, self.w, self.prefix
        out = dict(nodes_treeids=a["treeids"], nodes_nodeids=a["nodeids"], nodes_featureids=a["featureids"],
                   nodes_modes=a["modes"], nodes_truenodeids=a["true"], nodes_falsenodeids=a["false"],
                   nodes_missing_value_tracks_true=a["missing"])
        out[p + "_treeids"] = w["treeids"]
        out[p + "_nodeids"] = w["nodeids"]
        out[p + "_ids"] = w["ids"]
        if self.double:
            out["nodes_values_as_tensor"] = numpy_helper.from_array(np.array(a["values"], np.float64))
            out[p + "_weights_as_tensor"] = numpy_helper.from_array(np.array(w["weights"], np.float64))
        else:
            out["nodes_values"] = a["values"]
            out[p + "_weights"] = w["weights"]
        return out


def labels_attr(classes, ints_name):
    if classes.dtype.kind in "US":
        return {"classlabels_strings": [str(c) for c in classes]}, TensorProto.STRING
    return {ints_name: [int(c) for c in classes]}, TensorProto.INT64


def classifier_model(op, attrs, classes, n_features, ints_name, ml_opset=1, extra_nodes=(), score_name="scores"):
    lab, lab_type = labels_attr(classes, ints_name)
    node = helper.make_node(op, ["X"], ["label", score_name], domain=ML, **attrs, **lab)
    outputs = [tensor_out("label", lab_type, 1)]
    if not extra_nodes:
        outputs.append(tensor_out("scores", F32))
    else:
        outputs.append(tensor_out("probabilities", F32))
    return make_model([node, *extra_nodes], [tensor_in("X", F32, n_features)], outputs, ml_opset)
