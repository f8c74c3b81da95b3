// TreeEnsembleRegressor / TreeEnsembleClassifier against a small recursive
// reference evaluator written here from the operator definitions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "test_ml_helpers.h"

using namespace pier;
using namespace pier::test;
using namespace pier::test::mlt;

namespace {

struct TNode {
  int64_t tree, id;
  std::string mode;
  int64_t feature = 0;
  double value = 0;
  int64_t t = 0, f = 0;
  int64_t nan_true = 0;
};
struct TWeight {
  int64_t tree, node, id;
  double w;
};

// Attributes for nodes + weights; `as_tensor` writes nodes_values and
// <prefix>_weights as double tensors (opset 3).
std::vector<onnx::AttributeProto> tree_attrs(const std::vector<TNode>& nodes, const std::vector<TWeight>& ws,
                                             const std::string& prefix, bool as_tensor = false,
                                             bool with_missing = true) {
  std::vector<int64_t> tid, nid, feat, tn, fn, miss;
  std::vector<std::string> modes;
  std::vector<double> vals;
  for (const auto& n : nodes) {
    tid.push_back(n.tree);
    nid.push_back(n.id);
    feat.push_back(n.feature);
    tn.push_back(n.t);
    fn.push_back(n.f);
    miss.push_back(n.nan_true);
    modes.push_back(n.mode);
    vals.push_back(n.value);
  }
  std::vector<int64_t> wt, wn, wi;
  std::vector<double> wv;
  for (const auto& w : ws) {
    wt.push_back(w.tree);
    wn.push_back(w.node);
    wi.push_back(w.id);
    wv.push_back(w.w);
  }
  std::vector<onnx::AttributeProto> a = {ints("nodes_treeids", tid),  ints("nodes_nodeids", nid),
                                         ints("nodes_featureids", feat), ints("nodes_truenodeids", tn),
                                         ints("nodes_falsenodeids", fn), strings("nodes_modes", modes)};
  if (!ws.empty()) {  // ONNX's checker rejects empty lists
    a.push_back(ints(prefix + "_treeids", wt));
    a.push_back(ints(prefix + "_nodeids", wn));
    a.push_back(ints(prefix + "_ids", wi));
  }
  if (with_missing) a.push_back(ints("nodes_missing_value_tracks_true", miss));
  if (as_tensor) {
    a.push_back(attr("nodes_values_as_tensor", make<double>({static_cast<int64_t>(vals.size())}, vals)));
    a.push_back(attr(prefix + "_weights_as_tensor", make<double>({static_cast<int64_t>(wv.size())}, wv)));
  } else {
    a.push_back(floats("nodes_values", std::vector<float>(vals.begin(), vals.end())));
    if (!ws.empty()) a.push_back(floats(prefix + "_weights", std::vector<float>(wv.begin(), wv.end())));
  }
  return a;
}

// Reference: walks each tree recursively by (tree, node id) lookups and
// returns the (id, weight) votes of the reached leaves, tree by tree.
std::vector<std::vector<std::pair<int64_t, double>>> ref_votes(const std::vector<TNode>& nodes,
                                                               const std::vector<TWeight>& ws,
                                                               const std::vector<double>& x, bool float_thresholds) {
  std::map<std::pair<int64_t, int64_t>, const TNode*> by_id;
  std::vector<int64_t> trees;
  for (const auto& n : nodes) {
    by_id[{n.tree, n.id}] = &n;
    if (std::find(trees.begin(), trees.end(), n.tree) == trees.end()) trees.push_back(n.tree);
  }
  std::vector<std::vector<std::pair<int64_t, double>>> out;
  for (int64_t t : trees) {
    const TNode* n = nullptr;
    for (const auto& c : nodes)
      if (c.tree == t) {
        n = &c;
        break;
      }
    while (n->mode != "LEAF") {
      const double v = x[n->feature];
      const double th = float_thresholds ? static_cast<double>(static_cast<float>(n->value)) : n->value;
      bool go;
      if (std::isnan(v)) go = n->nan_true != 0;
      else if (n->mode == "BRANCH_LEQ") go = v <= th;
      else if (n->mode == "BRANCH_LT") go = v < th;
      else if (n->mode == "BRANCH_GTE") go = v >= th;
      else if (n->mode == "BRANCH_GT") go = v > th;
      else if (n->mode == "BRANCH_EQ") go = v == th;
      else go = v != th;
      n = by_id.at({t, go ? n->t : n->f});
    }
    std::vector<std::pair<int64_t, double>> votes;
    for (const auto& w : ws)
      if (w.tree == t && w.node == n->id)
        votes.push_back({w.id, float_thresholds ? static_cast<double>(static_cast<float>(w.w)) : w.w});
    out.push_back(votes);
  }
  return out;
}

// Two trees, two targets; tree 7's node ids start at 10 and are listed out
// of order.
const std::vector<TNode> kNodes = {
    {0, 0, "BRANCH_LEQ", 0, 0.5, 1, 2},  {0, 1, "LEAF"},
    {0, 2, "BRANCH_LT", 1, 2.0, 3, 4},   {0, 3, "LEAF"},
    {0, 4, "LEAF"},                      {7, 10, "BRANCH_GTE", 1, 1.0, 12, 11},
    {7, 12, "LEAF"},                     {7, 11, "LEAF"},
};
const std::vector<TWeight> kWeights = {{0, 1, 0, 1.0},  {0, 1, 1, -1.0}, {0, 3, 0, 2.0}, {0, 4, 0, 3.0},
                                       {0, 4, 1, 5.0},  {7, 12, 0, 10.0}, {7, 12, 1, 4.0}, {7, 11, 0, 20.0}};

std::vector<std::vector<double>> kRows = {{0.5, 2.0}, {0.6, 1.9}, {1.0, 2.0}, {0.0, 0.5}, {2.0, 0.99}};

Tensor rows_tensor(const std::vector<std::vector<double>>& rows) {
  std::vector<float> v;
  for (const auto& r : rows) v.insert(v.end(), r.begin(), r.end());
  return make<float>({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())}, v);
}

std::vector<float> ref_regress(const std::string& agg, const std::vector<double>& base) {
  std::vector<float> out;
  for (const auto& x : kRows) {
    auto votes = ref_votes(kNodes, kWeights, x, true);
    for (int t = 0; t < 2; ++t) {
      double acc = 0;
      bool seen = false;
      for (const auto& tree : votes)
        for (const auto& [id, w] : tree) {
          if (id != t) continue;
          if (agg == "SUM" || agg == "AVERAGE") acc += w;
          else if (agg == "MIN") acc = seen ? std::min(acc, w) : w;
          else acc = seen ? std::max(acc, w) : w;
          seen = true;
        }
      if (agg == "AVERAGE") acc /= 2;
      out.push_back(static_cast<float>(acc + base[t]));
    }
  }
  return out;
}

}  // namespace

TEST(MlTreeRegressor, AggregateFunctionsAndBaseValues) {
  for (const std::string agg : {"SUM", "AVERAGE", "MIN", "MAX"}) {
    auto a = tree_attrs(kNodes, kWeights, "target");
    a.push_back(attr("n_targets", int64_t{2}));
    a.push_back(attr("aggregate_function", agg));
    a.push_back(floats("base_values", {0.25f, -1.5f}));
    auto out = run_ml("TreeEnsembleRegressor", {rows_tensor(kRows)}, {DataType::kFloat}, a);
    EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({5, 2}, ref_regress(agg, {0.25, -1.5})))) << agg;
  }
}

TEST(MlTreeRegressor, OpsetOneAndDoubleAndIntInputs) {
  auto a = tree_attrs(kNodes, kWeights, "target");
  a.push_back(attr("n_targets", int64_t{2}));
  auto want = make<float>({5, 2}, ref_regress("SUM", {0, 0}));
  auto o1 = run_ml("TreeEnsembleRegressor", {rows_tensor(kRows)}, {DataType::kFloat}, a, 1);
  EXPECT_TRUE(tensors_near(o1[0].tensor(), want));
  std::vector<double> d;
  for (const auto& r : kRows) d.insert(d.end(), r.begin(), r.end());
  auto od = run_ml("TreeEnsembleRegressor", {make<double>({5, 2}, d)}, {DataType::kFloat}, a);
  EXPECT_TRUE(tensors_near(od[0].tensor(), want));
  // int64 features: 0 <= 0.5, 2 >= 1 / 3 < 2 false ...
  auto oi = run_ml("TreeEnsembleRegressor", {make<int64_t>({2, 2}, {0, 2, 3, 0})}, {DataType::kFloat}, a);
  std::vector<float> wi;
  for (std::vector<double> x : {std::vector<double>{0, 2}, std::vector<double>{3, 0}}) {
    auto votes = ref_votes(kNodes, kWeights, x, true);
    for (int t = 0; t < 2; ++t) {
      double acc = 0;
      for (const auto& tree : votes)
        for (const auto& [id, w] : tree)
          if (id == t) acc += w;
      wi.push_back(static_cast<float>(acc));
    }
  }
  EXPECT_TRUE(tensors_near(oi[0].tensor(), make<float>({2, 2}, wi)));
  // A 1-D input is one row.
  auto o1d = run_ml("TreeEnsembleRegressor", {make<float>({2}, {0.6f, 1.9f})}, {DataType::kFloat}, a);
  EXPECT_EQ(o1d[0].tensor().shape(), (Shape{1, 2}));
  EXPECT_TRUE(tensors_near(o1d[0].tensor(), make<float>({1, 2}, {want.data<float>()[2], want.data<float>()[3]})));
}

TEST(MlTreeRegressor, EveryNodeModeAtItsThreshold) {
  // One single-split tree per mode, each on feature k with threshold 1;
  // x == 1 everywhere, then x == 2: true leaf votes 1 for target k.
  const std::vector<std::string> modes = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"};
  std::vector<TNode> nodes;
  std::vector<TWeight> ws;
  for (int64_t k = 0; k < 6; ++k) {
    nodes.push_back({k, 0, modes[k], k, 1.0, 1, 2});
    nodes.push_back({k, 1, "LEAF"});
    nodes.push_back({k, 2, "LEAF"});
    ws.push_back({k, 1, k, 1.0});
  }
  auto a = tree_attrs(nodes, ws, "target");
  a.push_back(attr("n_targets", int64_t{6}));
  std::vector<float> x(12, 1.f);
  std::fill(x.begin() + 6, x.end(), 2.f);
  auto o = run_ml("TreeEnsembleRegressor", {make<float>({2, 6}, x)}, {DataType::kFloat}, a);
  // at x == 1: LEQ, GTE, EQ true; at x == 2: GTE, GT, NEQ true.
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 6}, {1, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 1})));
}

TEST(MlTreeRegressor, MissingValuesFollowTracksTrue) {
  // Tree 0 sends NaN to the true branch, tree 1 to the false branch, for a
  // NEQ node too (NaN != 1 does not decide it).
  std::vector<TNode> nodes = {{0, 0, "BRANCH_LEQ", 0, 1.0, 1, 2, 1}, {0, 1, "LEAF"}, {0, 2, "LEAF"},
                              {1, 0, "BRANCH_NEQ", 0, 1.0, 1, 2, 0}, {1, 1, "LEAF"}, {1, 2, "LEAF"}};
  std::vector<TWeight> ws = {{0, 1, 0, 1.0}, {0, 2, 0, 2.0}, {1, 1, 1, 10.0}, {1, 2, 1, 20.0}};
  auto a = tree_attrs(nodes, ws, "target");
  a.push_back(attr("n_targets", int64_t{2}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto o = run_ml("TreeEnsembleRegressor", {make<float>({2, 1}, {nan, 5.f})}, {DataType::kFloat}, a);
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({2, 2}, {1, 20, 2, 10})));
  // Without the attribute every NaN goes to the false branch.
  auto b = tree_attrs(nodes, ws, "target", false, /*with_missing=*/false);
  b.push_back(attr("n_targets", int64_t{2}));
  auto o2 = run_ml("TreeEnsembleRegressor", {make<float>({1, 1}, {nan})}, {DataType::kFloat}, b);
  EXPECT_TRUE(tensors_near(o2[0].tensor(), make<float>({1, 2}, {2, 20})));
}

TEST(MlTreeRegressor, DoubleThresholdsAsTensors) {
  // 0.1f is just above 0.1: with a double threshold it goes right, with
  // the float threshold (0.1f) it goes left.
  std::vector<TNode> nodes = {{0, 0, "BRANCH_LEQ", 0, 0.1, 1, 2}, {0, 1, "LEAF"}, {0, 2, "LEAF"}};
  std::vector<TWeight> ws = {{0, 1, 0, 1.0}, {0, 2, 0, 0.3}};
  auto a = tree_attrs(nodes, ws, "target", /*as_tensor=*/true);
  a.push_back(attr("n_targets", int64_t{1}));
  a.push_back(attr("base_values_as_tensor", make<double>({1}, {0.5})));
  auto o = run_ml("TreeEnsembleRegressor", {make<float>({1, 1}, {0.1f})}, {DataType::kFloat}, a);
  EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({1, 1}, {0.8f})));
  auto f = tree_attrs(nodes, ws, "target");
  f.push_back(attr("n_targets", int64_t{1}));
  auto of = run_ml("TreeEnsembleRegressor", {make<float>({1, 1}, {0.1f})}, {DataType::kFloat}, f);
  EXPECT_TRUE(tensors_near(of[0].tensor(), make<float>({1, 1}, {1.0f})));
}

TEST(MlTreeRegressor, PostTransforms) {
  auto base = tree_attrs(kNodes, kWeights, "target");
  base.push_back(attr("n_targets", int64_t{2}));
  base.push_back(floats("base_values", {-12.f, -4.f}));
  auto raw = ref_regress("SUM", {-12, -4});
  for (const std::string pt : {"LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"}) {
    auto a = base;
    a.push_back(attr("post_transform", pt));
    auto o = run_ml("TreeEnsembleRegressor", {rows_tensor(kRows)}, {DataType::kFloat}, a);
    std::vector<float> want;
    for (size_t r = 0; r < kRows.size(); ++r) {
      double s0 = raw[2 * r], s1 = raw[2 * r + 1];
      if (pt == "LOGISTIC") {
        want.push_back(static_cast<float>(1 / (1 + std::exp(-s0))));
        want.push_back(static_cast<float>(1 / (1 + std::exp(-s1))));
      } else {
        // SOFTMAX_ZERO keeps exact zeros at zero.
        const bool z = pt == "SOFTMAX_ZERO";
        double m = std::max(s0, s1);
        double e0 = (z && s0 == 0) ? 0 : std::exp(s0 - m), e1 = (z && s1 == 0) ? 0 : std::exp(s1 - m);
        if (e0 + e1 == 0) e0 = e1 = 1;  // an all-zero row becomes uniform
        want.push_back(static_cast<float>(e0 / (e0 + e1)));
        want.push_back(static_cast<float>(e1 / (e0 + e1)));
      }
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<float>({5, 2}, want))) << pt;
  }
}

TEST(MlTreeRegressor, ManyRowsThreadedMatchesSingleThread) {
  auto a = tree_attrs(kNodes, kWeights, "target");
  a.push_back(attr("n_targets", int64_t{2}));
  Tensor x = random_float({20000, 2}, 3, -1.f, 3.f);
  auto one = run_ml("TreeEnsembleRegressor", {x}, {DataType::kFloat}, a, 3, 1);
  auto four = run_ml("TreeEnsembleRegressor", {x}, {DataType::kFloat}, a, 3, 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  const float* px = x.data<float>();
  const float* po = four[0].tensor().data<float>();
  for (int64_t r : {0, 777, 19999}) {
    auto votes = ref_votes(kNodes, kWeights, {px[2 * r], px[2 * r + 1]}, true);
    double t0 = 0;
    for (const auto& tree : votes)
      for (const auto& [id, w] : tree)
        if (id == 0) t0 += w;
    EXPECT_FLOAT_EQ(po[2 * r], static_cast<float>(t0)) << r;
  }
}

// Random trees of random shapes, with NaN inputs, for each walk the
// kernel specializes: all BRANCH_LEQ, all BRANCH_LT, and mixed modes.
TEST(MlTreeRegressor, RandomTreesMatchReference) {
  std::mt19937 rng(7);
  const std::vector<std::string> all_modes = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ",
                                              "BRANCH_NEQ"};
  for (int variant = 0; variant < 3; ++variant) {
    std::vector<TNode> nodes;
    std::vector<TWeight> ws;
    for (int64_t t = 0; t < 6; ++t) {
      // Grow a random binary tree breadth-first to at most 15 nodes.
      int64_t next = 1;
      std::vector<int64_t> open = {0};
      while (!open.empty()) {
        const int64_t id = open.front();
        open.erase(open.begin());
        if (next + 2 <= 15 && rng() % 4 != 0) {
          std::string mode = variant == 0 ? "BRANCH_LEQ" : variant == 1 ? "BRANCH_LT" : all_modes[rng() % 6];
          const double th = static_cast<int>(rng() % 7) / 2.0 - 1.5;  // on the input grid: EQ/NEQ can hit
          nodes.push_back({t, id, mode, static_cast<int64_t>(rng() % 3), th, next, next + 1, int64_t(rng() % 2)});
          open.push_back(next);
          open.push_back(next + 1);
          next += 2;
        } else {
          nodes.push_back({t, id, "LEAF"});
          ws.push_back({t, id, 0, static_cast<int>(rng() % 100) / 10.0});
        }
      }
    }
    auto a = tree_attrs(nodes, ws, "target");
    a.push_back(attr("n_targets", int64_t{1}));
    std::vector<float> x;
    std::vector<std::vector<double>> rows;
    for (int r = 0; r < 37; ++r) {  // not a multiple of the 8-row lanes
      std::vector<double> row;
      for (int j = 0; j < 3; ++j) {
        const float v = rng() % 5 == 0 ? std::numeric_limits<float>::quiet_NaN() : static_cast<int>(rng() % 7) / 2.f - 1.5f;
        x.push_back(v);
        row.push_back(v);
      }
      rows.push_back(row);
    }
    auto o = run_ml("TreeEnsembleRegressor", {make<float>({37, 3}, x)}, {DataType::kFloat}, a);
    for (int r = 0; r < 37; ++r) {
      double want = 0;
      for (const auto& tree : ref_votes(nodes, ws, rows[r], true))
        for (const auto& [id, w] : tree) want += w;
      EXPECT_NEAR(o[0].tensor().data<float>()[r], want, 1e-5) << "variant " << variant << " row " << r;
    }
  }
}

TEST(MlTreeRegressor, MalformedTreesAreRejected) {
  auto expect_model_error = [](std::vector<TNode> nodes, std::vector<TWeight> ws, const std::string& what) {
    auto a = tree_attrs(nodes, ws, "target");
    a.push_back(attr("n_targets", int64_t{1}));
    try {
      run_ml("TreeEnsembleRegressor", {make<float>({1, 2}, {0, 0})}, {DataType::kFloat}, a);
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  expect_model_error({{0, 0, "BRANCH_LEQ", 0, 0, 1, 5}, {0, 1, "LEAF"}}, {}, "does not exist");
  expect_model_error({{0, 0, "BRANCH_LEQ", 0, 0, 1, 0}, {0, 1, "LEAF"}}, {}, "cycle");
  expect_model_error({{0, 0, "BRANCH_LEQ", 0, 0, 1, 2}, {0, 1, "LEAF"}, {0, 2, "BRANCH_GT", 1, 0, 0, 1}}, {}, "cycle");
  expect_model_error({{0, 0, "BRANCH_FOO", 0, 0, 1, 1}, {0, 1, "LEAF"}}, {}, "unknown mode");
  expect_model_error({{0, 0, "LEAF"}, {0, 0, "LEAF"}}, {}, "defined twice");
  expect_model_error({{0, 0, "LEAF"}}, {{0, 0, 3, 1.0}}, "out of range");
  expect_model_error({{0, 0, "LEAF"}}, {{0, 9, 0, 1.0}}, "does not exist");
  expect_model_error({{0, 0, "BRANCH_LEQ", -1, 0, 1, 1}, {0, 1, "LEAF"}}, {}, "feature id");
  // Feature 5 read from 2-column input: a run-time error.
  auto a = tree_attrs({{0, 0, "BRANCH_LEQ", 5, 0, 1, 1}, {0, 1, "LEAF"}}, {}, "target");
  a.push_back(attr("n_targets", int64_t{1}));
  EXPECT_THROW(run_ml("TreeEnsembleRegressor", {make<float>({1, 2}, {0, 0})}, {DataType::kFloat}, a), Error);
  // Both a list and a tensor for one attribute.
  auto b = tree_attrs(kNodes, kWeights, "target");
  b.push_back(attr("n_targets", int64_t{2}));
  b.push_back(attr("nodes_values_as_tensor", make<double>({8}, std::vector<double>(8, 0.0))));
  EXPECT_THROW(run_ml("TreeEnsembleRegressor", {rows_tensor(kRows)}, {DataType::kFloat}, b), Error);
  // A rank-3 input.
  auto c = tree_attrs(kNodes, kWeights, "target");
  c.push_back(attr("n_targets", int64_t{2}));
  EXPECT_THROW(run_ml("TreeEnsembleRegressor", {make<float>({1, 1, 2}, {0, 0})}, {DataType::kFloat}, c), Error);
}

// ---- classifier ----

namespace {

std::vector<onnx::AttributeProto> classifier_attrs(const std::vector<TNode>& nodes, const std::vector<TWeight>& ws,
                                                   const std::string& post, const std::vector<float>& base) {
  auto a = tree_attrs(nodes, ws, "class");
  a.push_back(attr("post_transform", post));
  if (!base.empty()) a.push_back(floats("base_values", base));
  return a;
}

// Summed votes per class plus base values.
std::vector<double> ref_class_scores(const std::vector<TNode>& nodes, const std::vector<TWeight>& ws,
                                     const std::vector<double>& x, int k, const std::vector<float>& base) {
  std::vector<double> s(k, 0.0);
  for (const auto& tree : ref_votes(nodes, ws, x, true))
    for (const auto& [id, w] : tree) s[id] += w;
  for (int c = 0; c < k && !base.empty(); ++c) s[c] += base.size() == 1 ? base[0] : base[c];
  return s;
}

// Three classes: tree 0 votes per leaf for all classes, tree 1 for one.
const std::vector<TNode> kCNodes = {{0, 0, "BRANCH_LEQ", 0, 0.5, 1, 2}, {0, 1, "LEAF"}, {0, 2, "LEAF"},
                                    {1, 0, "BRANCH_GT", 1, 1.0, 1, 2},  {1, 1, "LEAF"}, {1, 2, "LEAF"}};
const std::vector<TWeight> kCWeights = {{0, 1, 0, 0.7}, {0, 1, 1, 0.2}, {0, 1, 2, 0.1}, {0, 2, 0, 0.1},
                                        {0, 2, 1, 0.3}, {0, 2, 2, 0.6}, {1, 1, 1, 0.9}, {1, 2, 0, -0.4}};

}  // namespace

TEST(MlTreeClassifier, MulticlassLabelsAndScores) {
  const std::vector<float> base = {0.05f, 0.f, -0.05f};
  for (const std::string post : {"NONE", "SOFTMAX", "LOGISTIC"}) {
    auto a = classifier_attrs(kCNodes, kCWeights, post, base);
    a.push_back(ints("classlabels_int64s", {10, 20, 30}));
    auto o = run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, a);
    std::vector<int64_t> labels;
    std::vector<float> scores;
    for (const auto& x : kRows) {
      auto s = ref_class_scores(kCNodes, kCWeights, x, 3, base);
      labels.push_back(10 * (1 + (std::max_element(s.begin(), s.end()) - s.begin())));
      if (post == "SOFTMAX") {
        double m = *std::max_element(s.begin(), s.end()), sum = 0;
        for (double& v : s) sum += (v = std::exp(v - m));
        for (double& v : s) v /= sum;
      } else if (post == "LOGISTIC") {
        for (double& v : s) v = 1 / (1 + std::exp(-v));
      }
      scores.insert(scores.end(), s.begin(), s.end());
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<int64_t>({5}, labels))) << post;
    EXPECT_TRUE(tensors_near(o[1].tensor(), make<float>({5, 3}, scores))) << post;
  }
}

TEST(MlTreeClassifier, StringLabels) {
  auto a = classifier_attrs(kCNodes, kCWeights, "NONE", {});
  a.push_back(strings("classlabels_strings", {"cat", "dog", "eel"}));
  auto o = run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kString, DataType::kFloat}, a);
  const std::vector<std::string> names = {"cat", "dog", "eel"};
  for (size_t r = 0; r < kRows.size(); ++r) {
    auto s = ref_class_scores(kCNodes, kCWeights, kRows[r], 3, {});
    EXPECT_EQ(o[0].tensor().data<std::string>()[r], names[std::max_element(s.begin(), s.end()) - s.begin()]);
  }
}

TEST(MlTreeClassifier, BinaryWithOneClassIdLikeGradientBoosting) {
  // Margins on class 0 only (as converters write binary boosting models):
  // the score is the positive class's.
  std::vector<TWeight> ws = {{0, 1, 0, -1.5}, {0, 2, 0, 0.75}, {1, 1, 0, 0.5}, {1, 2, 0, -0.25}};
  for (const std::string post : {"LOGISTIC", "NONE", "SOFTMAX", "PROBIT"}) {
    auto a = classifier_attrs(kCNodes, ws, post, {0.3f});
    a.push_back(ints("classlabels_int64s", {0, 1}));
    auto o = run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, a);
    std::vector<int64_t> labels;
    std::vector<float> scores;
    for (const auto& x : kRows) {
      double s = ref_class_scores(kCNodes, ws, x, 2, {0.3f})[0];
      if (post == "LOGISTIC") {
        scores.push_back(static_cast<float>(1 / (1 + std::exp(s))));
        scores.push_back(static_cast<float>(1 / (1 + std::exp(-s))));
        labels.push_back(s > 0);
      } else if (post == "NONE") {  // signed weights: margins [-s, s]
        scores.push_back(static_cast<float>(-s));
        scores.push_back(static_cast<float>(s));
        labels.push_back(s > 0);
      } else if (post == "SOFTMAX") {
        scores.push_back(static_cast<float>(1 / (1 + std::exp(2 * s))));
        scores.push_back(static_cast<float>(1 / (1 + std::exp(-2 * s))));
        labels.push_back(s > 0);
      } else {  // PROBIT of [1-s, s]
        auto pr = [](double p) {
          double x = 2 * p - 1, sg = x < 0 ? -1 : 1;
          x = (1 - x) * (1 + x);
          double l = std::log(x), v = 2 / (M_PI * 0.147) + 0.5 * l;
          return 1.41421356 * sg * std::sqrt(-v + std::sqrt(v * v - l / 0.147));
        };
        scores.push_back(static_cast<float>(pr(1 - s)));
        scores.push_back(static_cast<float>(pr(s)));
        labels.push_back(s > 0.5);
      }
    }
    if (post == "PROBIT") {
      // s outside (0, 1) makes probit NaN; only rows with a probability.
      for (size_t r = 0; r < kRows.size(); ++r) {
        if (std::isnan(scores[2 * r])) continue;
        EXPECT_NEAR(o[1].tensor().data<float>()[2 * r + 1], scores[2 * r + 1], 1e-5) << r;
      }
      continue;
    }
    EXPECT_TRUE(tensors_near(o[0].tensor(), make<int64_t>({5}, labels))) << post;
    EXPECT_TRUE(tensors_near(o[1].tensor(), make<float>({5, 2}, scores))) << post;
  }
}

TEST(MlTreeClassifier, BinaryProbabilitiesOnOneClass) {
  // Non-negative weights on class 1 only: probabilities of the positive
  // class; Z = [1-p, p], label positive when p > 0.5.
  std::vector<TNode> nodes = {{0, 0, "BRANCH_LEQ", 0, 0.5, 1, 2}, {0, 1, "LEAF"}, {0, 2, "LEAF"}};
  std::vector<TWeight> ws = {{0, 1, 1, 0.2}, {0, 2, 1, 0.9}};
  auto a = classifier_attrs(nodes, ws, "NONE", {});
  a.push_back(strings("classlabels_strings", {"no", "yes"}));
  auto o = run_ml("TreeEnsembleClassifier", {make<float>({2, 1}, {0.f, 1.f})}, {DataType::kString, DataType::kFloat}, a);
  EXPECT_EQ(o[0].tensor().data<std::string>()[0], "no");
  EXPECT_EQ(o[0].tensor().data<std::string>()[1], "yes");
  EXPECT_TRUE(tensors_near(o[1].tensor(), make<float>({2, 2}, {0.8f, 0.2f, 0.1f, 0.9f})));
}

TEST(MlTreeClassifier, OpsetOneAndErrors) {
  auto a = classifier_attrs(kCNodes, kCWeights, "NONE", {});
  a.push_back(ints("classlabels_int64s", {1, 2, 3}));
  auto o = run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, a, 1);
  EXPECT_EQ(o[1].tensor().shape(), (Shape{5, 3}));
  // No labels; both kinds of labels; a class id past the labels.
  auto none = classifier_attrs(kCNodes, kCWeights, "NONE", {});
  EXPECT_THROW(run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, none),
               Error);
  auto two = classifier_attrs(kCNodes, kCWeights, "NONE", {});
  two.push_back(ints("classlabels_int64s", {1, 2}));
  EXPECT_THROW(run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, two),
               Error);
  auto badpost = classifier_attrs(kCNodes, kCWeights, "SIGMOID", {});
  badpost.push_back(ints("classlabels_int64s", {1, 2, 3}));
  EXPECT_THROW(run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, badpost),
               Error);
  auto badbase = classifier_attrs(kCNodes, kCWeights, "NONE", {1.f, 2.f});
  badbase.push_back(ints("classlabels_int64s", {1, 2, 3}));
  EXPECT_THROW(run_ml("TreeEnsembleClassifier", {rows_tensor(kRows)}, {DataType::kInt64, DataType::kFloat}, badbase),
               Error);
}
