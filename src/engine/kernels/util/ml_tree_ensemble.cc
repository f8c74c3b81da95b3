#include "kernels/util/ml_tree_ensemble.h"

#include <algorithm>
#include <climits>
#include <set>
#include <unordered_map>

#include "kernels/util/ml_common.h"

namespace pier::kernels::ml {

namespace {

struct PairHash {
  size_t operator()(const std::pair<int64_t, int64_t>& p) const {
    return std::hash<int64_t>()(p.first) * 1000003u ^ std::hash<int64_t>()(p.second);
  }
};

TreeEnsemble::Mode parse_mode(const std::string& s) {
  if (s == "BRANCH_LEQ") return TreeEnsemble::kLeq;
  if (s == "BRANCH_LT") return TreeEnsemble::kLt;
  if (s == "BRANCH_GTE") return TreeEnsemble::kGte;
  if (s == "BRANCH_GT") return TreeEnsemble::kGt;
  if (s == "BRANCH_EQ") return TreeEnsemble::kEq;
  if (s == "BRANCH_NEQ") return TreeEnsemble::kNeq;
  if (s == "LEAF") return TreeEnsemble::kLeaf;
  bad_attr("nodes_modes: unknown mode \"" + s + "\"");
}

std::string node_name(int64_t tree, int64_t node) {
  return "tree " + std::to_string(tree) + " node " + std::to_string(node);
}

}  // namespace

TreeEnsemble::TreeEnsemble(const ir::Node& node, const std::string& prefix, int64_t n_outputs) {
  const std::vector<int64_t> treeids = node.attr_ints("nodes_treeids");
  const std::vector<int64_t> nodeids = node.attr_ints("nodes_nodeids");
  const std::vector<int64_t> featureids = node.attr_ints("nodes_featureids");
  const std::vector<std::string> modes = node.attr_strings("nodes_modes");
  const std::vector<double> values = floats_or_tensor(node, "nodes_values");
  const std::vector<int64_t> truen = node.attr_ints("nodes_truenodeids");
  const std::vector<int64_t> falsen = node.attr_ints("nodes_falsenodeids");
  const std::vector<int64_t> missing = node.attr_ints("nodes_missing_value_tracks_true");
  const size_t n = treeids.size();
  auto check_len = [&](size_t len, const char* name) {
    if (len != n)
      bad_attr(std::string(name) + " has " + std::to_string(len) + " entries, nodes_treeids has " + std::to_string(n));
  };
  check_len(nodeids.size(), "nodes_nodeids");
  check_len(featureids.size(), "nodes_featureids");
  check_len(modes.size(), "nodes_modes");
  check_len(values.size(), "nodes_values");
  check_len(truen.size(), "nodes_truenodeids");
  check_len(falsen.size(), "nodes_falsenodeids");
  if (!missing.empty()) check_len(missing.size(), "nodes_missing_value_tracks_true");
  if (n >= static_cast<size_t>(INT32_MAX)) bad_attr("too many tree nodes");

  // Index nodes by (tree id, node id); a tree's root is its first node.
  std::unordered_map<std::pair<int64_t, int64_t>, int32_t, PairHash> index;
  std::unordered_map<int64_t, int32_t> root_of;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (!index.emplace(std::make_pair(treeids[i], nodeids[i]), static_cast<int32_t>(i)).second)
      bad_attr(node_name(treeids[i], nodeids[i]) + " is defined twice");
    if (root_of.emplace(treeids[i], static_cast<int32_t>(i)).second) roots_.push_back(static_cast<int32_t>(i));
  }
  auto find = [&](int64_t tree, int64_t id, const char* what) -> int32_t {
    auto it = index.find({tree, id});
    if (it == index.end()) bad_attr(std::string(what) + " " + node_name(tree, id) + " does not exist");
    return it->second;
  };

  nodes_.resize(n);
  bool mixed = false;
  for (size_t i = 0; i < n; ++i) {
    FlatNode& f = nodes_[i];
    f.mode = parse_mode(modes[i]);
    f.threshold = values[i];
    f.nan_true = !missing.empty() && missing[i] != 0;
    f.feature = 0;
    f.true_child = f.false_child = 0;
    if (f.mode == kLeaf) continue;
    if (featureids[i] < 0 || featureids[i] >= INT32_MAX)
      bad_attr(node_name(treeids[i], nodeids[i]) + ": feature id " + std::to_string(featureids[i]) + " is out of range");
    f.feature = static_cast<int32_t>(featureids[i]);
    num_features_ = std::max<int64_t>(num_features_, f.feature + 1);
    if (uniform_mode_ == kLeaf) uniform_mode_ = f.mode;  // the first branch node
    if (uniform_mode_ != f.mode) mixed = true;
    f.true_child = find(treeids[i], truen[i], "nodes_truenodeids: child");
    f.false_child = find(treeids[i], falsen[i], "nodes_falsenodeids: child");
  }

  if (mixed || (uniform_mode_ != kLeq && uniform_mode_ != kLt)) uniform_mode_ = kLeaf;  // generic walk

  // Leaf weights, grouped per leaf in attribute order.
  const std::vector<int64_t> w_tree = node.attr_ints(prefix + "_treeids");
  const std::vector<int64_t> w_node = node.attr_ints(prefix + "_nodeids");
  const std::vector<int64_t> w_id = node.attr_ints(prefix + "_ids");
  const std::vector<double> w_value = floats_or_tensor(node, prefix + "_weights");
  const size_t nw = w_tree.size();
  if (nw >= static_cast<size_t>(INT32_MAX)) bad_attr("too many leaf weights");
  if (w_node.size() != nw || w_id.size() != nw || w_value.size() != nw)
    bad_attr(prefix + "_treeids, " + prefix + "_nodeids, " + prefix + "_ids and " + prefix +
             "_weights must have equal lengths");
  std::vector<int32_t> leaf_of(nw, -1);
  std::vector<int64_t> count(n + 1, 0);
  std::set<int64_t> ids;
  for (size_t j = 0; j < nw; ++j) {
    const int32_t k = find(w_tree[j], w_node[j], (prefix + " weight for").c_str());
    if (w_id[j] < 0 || w_id[j] >= n_outputs)
      bad_attr(prefix + "_ids: " + std::to_string(w_id[j]) + " is out of range [0, " + std::to_string(n_outputs) + ")");
    // Weights on branch nodes are never reached (old converters wrote
    // some); they are ignored, as ONNX Runtime does.
    if (nodes_[k].mode != kLeaf) continue;
    leaf_of[j] = k;
    ++count[k + 1];
    ids.insert(w_id[j]);
    if (w_value[j] < 0) non_negative_ = false;
  }
  for (size_t i = 0; i < n; ++i) count[i + 1] += count[i];
  weights_.resize(static_cast<size_t>(count[n]));
  std::vector<int64_t> fill = count;  // next free slot per leaf
  for (size_t j = 0; j < nw; ++j)
    if (leaf_of[j] >= 0) weights_[static_cast<size_t>(fill[leaf_of[j]]++)] = Weight{w_id[j], w_value[j]};
  for (size_t i = 0; i < n; ++i) {
    if (nodes_[i].mode != kLeaf) continue;
    nodes_[i].true_child = static_cast<int32_t>(count[i]);
    nodes_[i].false_child = static_cast<int32_t>(count[i + 1]);
  }
  weight_ids_.assign(ids.begin(), ids.end());

  // Every walk must end at a leaf: no cycles. Depth-first from each root
  // with an explicit stack; depth[] memoizes the longest path below a node.
  std::vector<uint8_t> state(n, 0);  // 0 new, 1 on the current path, 2 done
  std::vector<int64_t> depth(n, 1);
  std::vector<std::pair<int32_t, int>> stack;  // node, next child to visit
  for (int32_t root : roots_) {
    if (state[root] == 2) continue;
    stack.push_back({root, 0});
    state[root] = 1;
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      const FlatNode& f = nodes_[v];
      if (f.mode == kLeaf || next == 2) {
        if (f.mode != kLeaf) depth[v] = 1 + std::max(depth[f.true_child], depth[f.false_child]);
        state[v] = 2;
        stack.pop_back();
        continue;
      }
      const int32_t c = next++ == 0 ? f.true_child : f.false_child;
      if (state[c] == 1) bad_attr(node_name(treeids[c], nodeids[c]) + " is part of a cycle");
      if (state[c] == 0) {
        state[c] = 1;
        stack.push_back({c, 0});
      }
    }
    max_depth_ = std::max(max_depth_, depth[root]);
  }
}

}  // namespace pier::kernels::ml
