#!/usr/bin/python3
"""Checks Pier's ai.onnx.ml kernels against scikit-learn.

Fits small scikit-learn estimators on synthetic data, converts each to an
ONNX-ML graph here with onnx.helper (there is no skl2onnx on the machine),
runs the graph with `pier run` and compares the outputs with scikit-learn's
predict / predict_proba / decision_function / transform:
float outputs within 1e-5 relative plus 1e-6 absolute (for values near
zero, where float32 attributes meet cancellation), labels exactly.

Usage: test_sklearn.py --pier build/pier [--keep DIR] [-k SUBSTRING] [-v]
Needs /usr/bin/python3 with numpy, onnx and scikit-learn.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import sklearn
from sklearn import ensemble, linear_model, preprocessing, svm, tree

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_ml_build import (F32, ML, Trees, classifier_model, make_model, seq_map_out,  # noqa: E402
                           tensor_in, tensor_out)


# ---- cases -----------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def data(n=300, f=5, seed=0, nan_rate=0.0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, f).astype(np.float32)
    if nan_rate:
        X[rng.rand(n, f) < nan_rate] = np.nan
    return X


def cls_target(X, k, seed=0):
    rng = np.random.RandomState(seed + 1)
    w = rng.randn(X.shape[1], k)
    return np.argmax(np.nan_to_num(X) @ w + 0.5 * rng.randn(len(X), k), axis=1)


def reg_target(X, seed=0, outputs=1):
    rng = np.random.RandomState(seed + 2)
    y = np.nan_to_num(X) @ rng.randn(X.shape[1], outputs) + np.sin(3 * np.nan_to_num(X[:, :1])) + 0.1 * rng.randn(len(X), 1)
    return y[:, 0] if outputs == 1 else y


def split(X, y):
    return X[:200], y[:200], X[200:]


# Each case returns (model, [inputs], [(output index, expected, atol[,
# (classes, scores)])]) where atol None means the default floor; expected
# integer/str arrays compare exactly, except that with (classes, scores) a
# label whose score ties the best (within 1e-9) is accepted.

@case
def decision_tree_regressor_multioutput_double_thresholds():
    X = data()
    Xtr, ytr, Xte = split(X, reg_target(X, outputs=2))
    est = tree.DecisionTreeRegressor(max_depth=6, random_state=0).fit(Xtr, ytr)
    t = Trees("target", double=True)
    t.add_sklearn_tree(est.tree_, lambda i: [(k, est.tree_.value[i][k][0]) for k in range(2)])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=2, **t.attrs())
    m = make_model([node], [tensor_in("X", F32, 5)], [tensor_out("Y", F32)], ml_opset=3)
    return m, [Xte], [(0, est.predict(Xte), None)]


@case
def random_forest_regressor_average():
    X = data(seed=1)
    Xtr, ytr, Xte = split(X, reg_target(X, seed=1))
    est = ensemble.RandomForestRegressor(n_estimators=15, max_depth=7, random_state=0).fit(Xtr, ytr)
    t = Trees("target", double=False)
    for e in est.estimators_:
        t.add_sklearn_tree(e.tree_, lambda i, e=e: [(0, e.tree_.value[i][0][0])])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1,
                            aggregate_function="AVERAGE", **t.attrs())
    m = make_model([node], [tensor_in("X", F32, 5)], [tensor_out("Y", F32)])
    return m, [Xte], [(0, est.predict(Xte)[:, None], None)]


@case
def gradient_boosting_regressor_base_value():
    X = data(seed=2)
    Xtr, ytr, Xte = split(X, reg_target(X, seed=2))
    est = ensemble.GradientBoostingRegressor(n_estimators=40, max_depth=3, learning_rate=0.1, random_state=0)
    est.fit(Xtr, ytr)
    t = Trees("target", double=True)
    for e in est.estimators_[:, 0]:
        t.add_sklearn_tree(e.tree_, lambda i, e=e: [(0, est.learning_rate * e.tree_.value[i][0][0])])
    base = float(est._raw_predict_init(Xte[:1])[0][0])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1,
                            base_values_as_tensor=numpy_helper.from_array(np.array([base])), **t.attrs())
    m = make_model([node], [tensor_in("X", F32, 5)], [tensor_out("Y", F32)], ml_opset=3)
    return m, [Xte], [(0, est.predict(Xte)[:, None], None)]


@case
def hist_gradient_boosting_regressor_missing_values():
    X = data(n=400, seed=3, nan_rate=0.15)
    y = reg_target(X, seed=3)
    Xtr, ytr, Xte = X[:300], y[:300], X[300:]
    est = ensemble.HistGradientBoostingRegressor(max_iter=30, max_depth=4, random_state=0).fit(Xtr, ytr)
    t = Trees("target", double=True)
    for it in est._predictors:
        p = it[0]
        tid = t.n_trees
        t.n_trees += 1
        for i, nd in enumerate(p.nodes):
            if nd["is_leaf"]:
                t.add_node(tid, i, "LEAF")
                t.add_weight(tid, i, 0, nd["value"])
            else:
                t.add_node(tid, i, "BRANCH_LEQ", nd["feature_idx"], nd["num_threshold"], nd["left"], nd["right"],
                           missing=nd["missing_go_to_left"])
    base = float(np.ravel(est._baseline_prediction)[0])
    node = helper.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain=ML, n_targets=1,
                            base_values_as_tensor=numpy_helper.from_array(np.array([base])), **t.attrs())
    m = make_model([node], [tensor_in("X", F32, 5)], [tensor_out("Y", F32)], ml_opset=3)
    assert np.isnan(Xte).any()
    return m, [Xte], [(0, est.predict(Xte)[:, None], None)]


def proba_weights(e, n_trees=1):
    def leaf(i):
        v = e.tree_.value[i][0]
        return [(k, v[k] / v.sum() / n_trees) for k in range(len(v))]
    return leaf


@case
def decision_tree_classifier_three_classes():
    X = data(seed=4)
    Xtr, ytr, Xte = split(X, cls_target(X, 3, seed=4) * 10 + 5)
    est = tree.DecisionTreeClassifier(max_depth=5, random_state=0).fit(Xtr, ytr)
    t = Trees("class", double=True)
    t.add_sklearn_tree(est.tree_, proba_weights(est))
    m = classifier_model("TreeEnsembleClassifier", t.attrs(), est.classes_, 5, "classlabels_int64s", ml_opset=3)
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def random_forest_classifier_string_labels_binary():
    X = data(seed=5)
    y = np.array(["spam", "ham"])[cls_target(X, 2, seed=5)]
    Xtr, ytr, Xte = split(X, y)
    est = ensemble.RandomForestClassifier(n_estimators=12, max_depth=6, random_state=0).fit(Xtr, ytr)
    t = Trees("class", double=False)
    for e in est.estimators_:
        t.add_sklearn_tree(e.tree_, proba_weights(e, len(est.estimators_)))
    m = classifier_model("TreeEnsembleClassifier", t.attrs(), est.classes_, 5, "classlabels_int64s")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def random_forest_classifier_four_classes():
    X = data(seed=6)
    Xtr, ytr, Xte = split(X, cls_target(X, 4, seed=6))
    est = ensemble.RandomForestClassifier(n_estimators=20, max_depth=8, random_state=0).fit(Xtr, ytr)
    t = Trees("class", double=True)
    for e in est.estimators_:
        t.add_sklearn_tree(e.tree_, proba_weights(e, len(est.estimators_)))
    m = classifier_model("TreeEnsembleClassifier", t.attrs(), est.classes_, 5, "classlabels_int64s", ml_opset=3)
    proba = est.predict_proba(Xte)
    # Leaf fractions tie exactly in some rows; summing in another order then
    # breaks the tie either way, so there a label of any tied class passes.
    return m, [Xte], [(0, est.predict(Xte), None, (est.classes_, proba)), (1, proba, None)]


@case
def gradient_boosting_classifier_binary_logistic():
    X = data(seed=7)
    Xtr, ytr, Xte = split(X, np.array([3, 7])[cls_target(X, 2, seed=7)])
    est = ensemble.GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(Xtr, ytr)
    t = Trees("class", double=False)
    for e in est.estimators_[:, 0]:
        t.add_sklearn_tree(e.tree_, lambda i, e=e: [(0, est.learning_rate * e.tree_.value[i][0][0])])
    base = float(est._raw_predict_init(Xte[:1])[0][0])
    m = classifier_model("TreeEnsembleClassifier", dict(t.attrs(), base_values=[base], post_transform="LOGISTIC"),
                         est.classes_, 5, "classlabels_int64s")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def gradient_boosting_classifier_multiclass_softmax():
    X = data(seed=8)
    Xtr, ytr, Xte = split(X, cls_target(X, 3, seed=8))
    est = ensemble.GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0).fit(Xtr, ytr)
    t = Trees("class", double=True)
    for row in est.estimators_:
        for k, e in enumerate(row):
            t.add_sklearn_tree(e.tree_, lambda i, e=e, k=k: [(k, est.learning_rate * e.tree_.value[i][0][0])])
    base = [float(v) for v in est._raw_predict_init(Xte[:1])[0]]
    attrs = dict(t.attrs(), base_values_as_tensor=numpy_helper.from_array(np.array(base)), post_transform="SOFTMAX")
    m = classifier_model("TreeEnsembleClassifier", attrs, est.classes_, 5, "classlabels_int64s", ml_opset=3)
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def linear_regression_two_targets():
    X = data(seed=9)
    Xtr, ytr, Xte = split(X, reg_target(X, seed=9, outputs=2))
    est = linear_model.LinearRegression().fit(Xtr, ytr)
    node = helper.make_node("LinearRegressor", ["X"], ["Y"], domain=ML, targets=2,
                            coefficients=est.coef_.ravel().tolist(), intercepts=est.intercept_.tolist())
    m = make_model([node], [tensor_in("X", F32, 5)], [tensor_out("Y", F32)])
    return m, [Xte], [(0, est.predict(Xte), None)]


@case
def logistic_regression_multinomial_softmax():
    X = data(seed=10)
    Xtr, ytr, Xte = split(X, cls_target(X, 3, seed=10))
    est = linear_model.LogisticRegression(max_iter=500).fit(Xtr, ytr)
    attrs = dict(coefficients=est.coef_.ravel().tolist(), intercepts=est.intercept_.tolist(), post_transform="SOFTMAX",
                 multi_class=1)
    m = classifier_model("LinearClassifier", attrs, est.classes_, 5, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def logistic_regression_binary_string_labels():
    X = data(seed=11)
    Xtr, ytr, Xte = split(X, np.array(["no", "yes"])[cls_target(X, 2, seed=11)])
    est = linear_model.LogisticRegression().fit(Xtr, ytr)
    attrs = dict(coefficients=est.coef_.ravel().tolist(), intercepts=est.intercept_.tolist(), post_transform="LOGISTIC")
    m = classifier_model("LinearClassifier", attrs, est.classes_, 5, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def logistic_regression_ovr_then_l1_normalizer():
    X = data(seed=12)
    Xtr, ytr, Xte = split(X, cls_target(X, 3, seed=12))
    est = linear_model.LogisticRegression(multi_class="ovr", max_iter=500).fit(Xtr, ytr)
    attrs = dict(coefficients=est.coef_.ravel().tolist(), intercepts=est.intercept_.tolist(), post_transform="LOGISTIC")
    norm = helper.make_node("Normalizer", ["scores"], ["probabilities"], domain=ML, norm="L1")
    m = classifier_model("LinearClassifier", attrs, est.classes_, 5, "classlabels_ints", extra_nodes=[norm])
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def linear_svc_decision_function():
    X = data(seed=13)
    Xtr, ytr, Xte = split(X, cls_target(X, 4, seed=13))
    est = svm.LinearSVC(max_iter=20000, random_state=0).fit(Xtr, ytr)
    attrs = dict(coefficients=est.coef_.ravel().tolist(), intercepts=est.intercept_.tolist())
    m = classifier_model("LinearClassifier", attrs, est.classes_, 5, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.decision_function(Xte), None)]


def svm_kernel_attrs(est):
    return dict(kernel_type=est.kernel.upper(),
                kernel_params=[float(est._gamma), float(est.coef0), float(est.degree)])


@case
def svr_kernels():
    X = data(n=260, f=4, seed=14)
    y = reg_target(X, seed=14)
    Xtr, ytr, Xte = X[:200], y[:200], X[200:]
    nodes, outs, expected = [], [], []
    for k, kernel in enumerate(["linear", "rbf", "poly", "sigmoid"]):
        est = svm.SVR(kernel=kernel, C=1.0, degree=3, gamma=0.2, coef0=0.5, epsilon=0.05).fit(Xtr, ytr)
        nodes.append(helper.make_node(
            "SVMRegressor", ["X"], ["Y%d" % k], domain=ML, n_supports=len(est.support_),
            support_vectors=est.support_vectors_.ravel().tolist(), coefficients=est.dual_coef_.ravel().tolist(),
            rho=est.intercept_.tolist(), **svm_kernel_attrs(est)))
        outs.append(tensor_out("Y%d" % k, F32))
        expected.append((k, est.predict(Xte)[:, None], None))
    return make_model(nodes, [tensor_in("X", F32, 4)], outs), [Xte], expected


@case
def svc_rbf_three_classes_ovo():
    X = data(n=260, f=4, seed=15)
    y = cls_target(X, 3, seed=15)
    Xtr, ytr, Xte = X[:200], y[:200], X[200:]
    est = svm.SVC(kernel="rbf", gamma=0.3, C=2.0, decision_function_shape="ovo").fit(Xtr, ytr)
    # sklearn keeps libsvm's one-vs-one layout in _dual_coef_/_intercept_.
    attrs = dict(vectors_per_class=est.n_support_.tolist(), support_vectors=est.support_vectors_.ravel().tolist(),
                 coefficients=est._dual_coef_.ravel().tolist(), rho=est._intercept_.tolist(), **svm_kernel_attrs(est))
    m = classifier_model("SVMClassifier", attrs, est.classes_, 4, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.decision_function(Xte), None)]


@case
def svc_binary_poly_decision_function():
    X = data(n=260, f=4, seed=16)
    y = np.array([-1, 1])[cls_target(X, 2, seed=16)]
    Xtr, ytr, Xte = X[:200], y[:200], X[200:]
    est = svm.SVC(kernel="poly", degree=2, gamma=0.5, coef0=1.0).fit(Xtr, ytr)
    attrs = dict(vectors_per_class=est.n_support_.tolist(), support_vectors=est.support_vectors_.ravel().tolist(),
                 coefficients=est._dual_coef_.ravel().tolist(), rho=est._intercept_.tolist(), **svm_kernel_attrs(est))
    m = classifier_model("SVMClassifier", attrs, est.classes_, 4, "classlabels_ints")
    # Z is [-d, d] for libsvm's d (positive: the first class); sklearn's
    # binary decision_function is -d.
    dec = est.decision_function(Xte)
    return m, [Xte], [(0, est.predict(Xte), None), (1, np.stack([dec, -dec], axis=1), None)]


@case
def svc_probabilities_platt_three_classes():
    X = data(n=260, f=4, seed=17)
    y = cls_target(X, 3, seed=17)
    Xtr, ytr, Xte = X[:200], y[:200], X[200:]
    est = svm.SVC(kernel="rbf", gamma=0.3, probability=True, random_state=0).fit(Xtr, ytr)
    attrs = dict(vectors_per_class=est.n_support_.tolist(), support_vectors=est.support_vectors_.ravel().tolist(),
                 coefficients=est._dual_coef_.ravel().tolist(), rho=est._intercept_.tolist(),
                 prob_a=est.probA_.tolist(), prob_b=est.probB_.tolist(), **svm_kernel_attrs(est))
    m = classifier_model("SVMClassifier", attrs, est.classes_, 4, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def svc_probabilities_platt_binary_linear():
    X = data(n=260, f=4, seed=18)
    y = cls_target(X, 2, seed=18)
    Xtr, ytr, Xte = X[:200], y[:200], X[200:]
    est = svm.SVC(kernel="linear", probability=True, random_state=0).fit(Xtr, ytr)
    attrs = dict(vectors_per_class=est.n_support_.tolist(), support_vectors=est.support_vectors_.ravel().tolist(),
                 coefficients=est._dual_coef_.ravel().tolist(), rho=est._intercept_.tolist(),
                 prob_a=est.probA_.tolist(), prob_b=est.probB_.tolist(), **svm_kernel_attrs(est))
    m = classifier_model("SVMClassifier", attrs, est.classes_, 4, "classlabels_ints")
    return m, [Xte], [(0, est.predict(Xte), None), (1, est.predict_proba(Xte), None)]


@case
def one_class_svm():
    X = data(n=260, f=3, seed=19)
    Xtr, Xte = X[:200], X[200:]
    est = svm.OneClassSVM(kernel="rbf", gamma=0.4, nu=0.2).fit(Xtr)
    common = dict(n_supports=len(est.support_), support_vectors=est.support_vectors_.ravel().tolist(),
                  coefficients=est.dual_coef_.ravel().tolist(), rho=est.intercept_.tolist(), **svm_kernel_attrs(est))
    score = helper.make_node("SVMRegressor", ["X"], ["score"], domain=ML, **common)
    label = helper.make_node("SVMRegressor", ["X"], ["label"], domain=ML, one_class=1, **common)
    m = make_model([score, label], [tensor_in("X", F32, 3)], [tensor_out("score", F32), tensor_out("label", F32)])
    return m, [Xte], [(0, est.decision_function(Xte)[:, None], None),
                      (1, est.predict(Xte).astype(np.float32)[:, None], None)]


@case
def standard_and_minmax_scaler():
    X = data(seed=20) * 3 + 1
    std = preprocessing.StandardScaler().fit(X[:200])
    mm = preprocessing.MinMaxScaler().fit(X[:200])
    n1 = helper.make_node("Scaler", ["X"], ["S"], domain=ML, offset=std.mean_.tolist(),
                          scale=(1.0 / std.scale_).tolist())
    n2 = helper.make_node("Scaler", ["X"], ["M"], domain=ML, offset=(-mm.min_ / mm.scale_).tolist(),
                          scale=mm.scale_.tolist())
    m = make_model([n1, n2], [tensor_in("X", F32, 5)], [tensor_out("S", F32), tensor_out("M", F32)])
    Xte = X[200:]
    return m, [Xte], [(0, std.transform(Xte), None), (1, mm.transform(Xte), None)]


@case
def normalizers():
    X = np.abs(data(seed=21)) + 0.01  # 'max' agrees with sklearn's max(|x|) for positive rows
    Xn = data(seed=22)
    nodes, outs, expected = [], [], []
    for k, (norm, x_name) in enumerate([("l1", "Xn"), ("l2", "Xn"), ("max", "X")]):
        nodes.append(helper.make_node("Normalizer", [x_name], ["N%d" % k], domain=ML, norm=norm.upper()))
        outs.append(tensor_out("N%d" % k, F32))
        src = Xn if x_name == "Xn" else X
        expected.append((k, preprocessing.Normalizer(norm=norm).fit(src).transform(src), None))
    m = make_model(nodes, [tensor_in("X", F32, 5), tensor_in("Xn", F32, 5)], outs)
    return m, [X, Xn], expected


@case
def binarizer_and_simple_imputer():
    from sklearn.impute import SimpleImputer
    X = data(seed=23, nan_rate=0.2)
    imp = SimpleImputer(strategy="mean").fit(X[:200])
    b = preprocessing.Binarizer(threshold=0.3)
    n1 = helper.make_node("Imputer", ["X"], ["I"], domain=ML, imputed_value_floats=imp.statistics_.tolist(),
                          replaced_value_float=float("nan"))
    n2 = helper.make_node("Binarizer", ["I"], ["B"], domain=ML, threshold=0.3)
    m = make_model([n1, n2], [tensor_in("X", F32, 5)], [tensor_out("I", F32), tensor_out("B", F32)])
    Xte = X[200:]
    filled = imp.transform(Xte)
    return m, [Xte], [(0, filled, None), (1, b.transform(filled.astype(np.float32)), None)]


@case
def one_hot_encoder_columns():
    rng = np.random.RandomState(24)
    X = np.stack([rng.randint(0, 4, 300), rng.choice([10, 20, 35], 300), rng.randint(-2, 1, 300)], axis=1)
    enc = preprocessing.OneHotEncoder(handle_unknown="ignore").fit(X[:200])
    Xte = X[200:].copy()
    Xte[::7, 0] = 9  # unknown category: all zeros
    nodes, names = [], []
    for j, cats in enumerate(enc.categories_):
        nodes.append(helper.make_node("ArrayFeatureExtractor", ["X", "col%d" % j], ["c%d" % j], domain=ML))
        nodes.append(helper.make_node("OneHotEncoder", ["c%d" % j], ["h%d" % j], domain=ML,
                                      cats_int64s=[int(c) for c in cats], zeros=1))
        names.append("h%d" % j)
    nodes.append(helper.make_node("FeatureVectorizer", names, ["Y"], domain=ML,
                                  inputdimensions=[len(c) for c in enc.categories_]))
    consts = [helper.make_node("Constant", [], ["col%d" % j],
                               value=numpy_helper.from_array(np.array([j], np.int64))) for j in range(3)]
    m = make_model(consts + nodes, [tensor_in("X", TensorProto.INT64, 3)], [tensor_out("Y", F32)])
    return m, [Xte.astype(np.int64)], [(0, enc.transform(Xte).toarray(), None)]


@case
def label_encoder_both_ways():
    words = np.array(["paris", "tokyo", "amsterdam", "oslo", "lima"])
    le = preprocessing.LabelEncoder().fit(words)
    rng = np.random.RandomState(25)
    x = words[rng.randint(0, 5, 40)]
    n1 = helper.make_node("LabelEncoder", ["S"], ["I"], domain=ML, keys_strings=[str(c) for c in le.classes_],
                          values_int64s=list(range(len(le.classes_))), default_int64=-1)
    n2 = helper.make_node("LabelEncoder", ["I"], ["S2"], domain=ML, keys_int64s=list(range(len(le.classes_))),
                          values_strings=[str(c) for c in le.classes_])
    m = make_model([n1, n2], [helper.make_tensor_value_info("S", TensorProto.STRING, [None])],
                   [tensor_out("I", TensorProto.INT64, 1), tensor_out("S2", TensorProto.STRING, 1)], ml_opset=2)
    codes = le.transform(x)
    return m, [x], [(0, codes, None), (1, le.inverse_transform(codes), None)]


# ---- running ---------------------------------------------------------------

def untie(got, want, tie):
    """Replaces expected labels by the label Pier chose where that label's
    score ties the best score."""
    if tie is None:
        return want
    classes, scores = tie
    want = want.copy()
    for r in range(len(want)):
        hit = np.nonzero(classes.astype(str) == str(got[r]))[0]
        if len(hit) and scores[r, hit[0]] >= scores[r].max() - 1e-9:
            want[r] = got[r]
    return want


def compare(got, want, atol):
    if want.dtype.kind in "USO":
        got = got.astype(str)
        want = want.astype(str)
        if got.shape != want.shape:
            return "shape %s, want %s" % (got.shape, want.shape)
        bad = np.nonzero(got != want)[0]
        return "" if not len(bad) else "%d labels differ, first at %d: %r vs %r" % (len(bad), bad[0], got[bad[0]], want[bad[0]])
    if got.shape != want.shape:
        return "shape %s, want %s" % (got.shape, want.shape)
    if want.dtype.kind in "iub":
        bad = np.argwhere(got != want)
        return "" if not len(bad) else "%d values differ, first at %s: %r vs %r" % (
            len(bad), tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])
    want = want.astype(np.float64)
    got = got.astype(np.float64)
    floor = 1e-6 if atol is None else atol * max(1.0, np.abs(want).max())
    err = np.abs(got - want)
    ok = err <= 1e-5 * np.abs(want) + floor
    if ok.all():
        return ""
    i = np.unravel_index(np.argmax(err - 1e-5 * np.abs(want)), err.shape)
    return "%d of %d values off, worst at %s: %r vs %r (rtol 1e-5, atol %.2g)" % (
        (~ok).sum(), ok.size, i, got[i], want[i], floor)


def run_case(fn, pier, root, verbose):
    name = fn.__name__
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    model, inputs, expected = fn()
    path = os.path.join(d, "model.onnx")
    onnx.save(model, path)
    cmd = [pier, "run", path, "-o", os.path.join(d, "out"), "--threads", "2"]
    for k, x in enumerate(inputs):
        p = os.path.join(d, "input_%d.npy" % k)
        np.save(p, x)
        cmd += ["-i", p]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return ["pier run failed (%d): %s" % (r.returncode, (r.stderr or r.stdout).strip())]
    problems = []
    for k, want, atol, *tie in expected:
        got = np.load(os.path.join(d, "out", "output_%d.npy" % k), allow_pickle=False)
        why = compare(got, untie(got, np.asarray(want), tie[0] if tie else None), atol)
        if why:
            problems.append("output %d: %s" % (k, why))
        elif verbose:
            print("    output %d: %s %s ok" % (k, got.dtype, got.shape))
    return problems


def check_zipmap_cli(pier, root):
    """A classifier ending in ZipMap (the usual converted form) loads and
    `pier run` prints a summary of the map sequence."""
    d = os.path.join(root, "zipmap")
    os.makedirs(d, exist_ok=True)
    X = data(n=5, seed=30)
    lin = helper.make_node("LinearClassifier", ["X"], ["label", "scores"], domain=ML, classlabels_ints=[4, 8],
                           coefficients=[1.0, -1.0, 0.5, 0.0, 0.0], intercepts=[0.1], post_transform="LOGISTIC")
    zm = helper.make_node("ZipMap", ["scores"], ["probabilities"], domain=ML, classlabels_int64s=[4, 8])
    m = make_model([lin, zm], [tensor_in("X", F32, 5)],
                   [tensor_out("label", TensorProto.INT64, 1), seq_map_out("probabilities", TensorProto.INT64)])
    path = os.path.join(d, "model.onnx")
    onnx.save(m, path)
    np.save(os.path.join(d, "x.npy"), X)
    r = subprocess.run([pier, "run", path, "-i", os.path.join(d, "x.npy")], capture_output=True, text=True)
    if r.returncode != 0:
        return ["pier run failed (%d): %s" % (r.returncode, r.stderr.strip())]
    if "sequence of 5 map(int64, float)" not in r.stdout:
        return ["unexpected output: %r" % r.stdout]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pier", default=os.environ.get("PIER", "build/pier"))
    ap.add_argument("--keep", help="write models and outputs here instead of a temporary directory")
    ap.add_argument("-k", default="", help="run the cases whose name contains this")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    pier = os.path.abspath(args.pier)
    if not os.access(pier, os.X_OK):
        sys.exit("pier binary not found at %s (use --pier)" % pier)
    print("scikit-learn %s, numpy %s, onnx %s" % (sklearn.__version__, np.__version__, onnx.__version__))
    t0 = time.time()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="pier-sklearn-") as tmp:
        root = args.keep or tmp
        checks = [(fn.__name__, lambda fn=fn: run_case(fn, pier, root, args.v)) for fn in CASES]
        checks.append(("zipmap_pipeline_cli", lambda: check_zipmap_cli(pier, root)))
        for name, check in checks:
            if args.k not in name:
                continue
            try:
                problems = check()
            except Exception as e:  # a converter or sklearn error is a failure too
                problems = ["%s: %s" % (type(e).__name__, e)]
            print("%s %s" % ("FAIL" if problems else "ok  ", name))
            for p in problems:
                print("    " + p)
            failures += bool(problems)
    print("%d failed, %.1f s" % (failures, time.time() - t0))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
