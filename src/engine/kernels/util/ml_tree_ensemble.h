// A tree ensemble (TreeEnsembleClassifier / TreeEnsembleRegressor of
// ai.onnx.ml) flattened into arrays at kernel creation.
//
// The attributes describe nodes as parallel lists (nodes_treeids,
// nodes_nodeids, nodes_modes, ...). Here every node becomes one entry of
// `nodes_` with its children as array indices, and the leaf weights
// (<prefix>_treeids/_nodeids/_ids/_weights) are grouped per leaf, so a walk
// is a tight loop over one array. Construction validates everything a walk
// relies on: children exist in the same tree, trees have no cycles, weight
// targets are in range. Evaluation is then unchecked except for the
// feature count of the input (check with num_features()).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace pier::kernels::ml {

class TreeEnsemble {
 public:
  enum Mode : uint8_t { kLeq, kLt, kGte, kGt, kEq, kNeq, kLeaf };
  struct Weight {
    int64_t target;  // class or target index
    double value;
  };

  // `prefix` is "class" (classifier) or "target" (regressor); `n_outputs`
  // bounds the weight ids. Raises kInvalidModel on malformed attributes.
  TreeEnsemble(const ir::Node& node, const std::string& prefix, int64_t n_outputs);

  int64_t num_trees() const { return static_cast<int64_t>(roots_.size()); }
  // Smallest feature count an input row must have.
  int64_t num_features() const { return num_features_; }
  // Distinct weight ids (classes/targets) that some weight refers to.
  const std::vector<int64_t>& weight_ids() const { return weight_ids_; }
  // True when no weight is negative.
  bool weights_all_non_negative() const { return non_negative_; }
  // Average number of nodes visited per tree walk is at most this (for
  // work estimates): the deepest tree's depth.
  int64_t max_depth() const { return max_depth_; }

  // For each tree, and in it for each of `rows` rows of x (row r at
  // x + r * stride): calls fn(r, const Weight* begin, const Weight* end)
  // with the weights of the leaf the row reaches. Trees are the outer loop
  // so that one tree's nodes stay in cache while a block of rows walks it.
  template <typename F>
  void for_each_leaf(const double* x, int64_t rows, int64_t stride, F&& fn) const {
    switch (uniform_mode_) {
      case kLeq: walk<kLeq>(x, rows, stride, fn); break;
      case kLt: walk<kLt>(x, rows, stride, fn); break;
      default: walk<kLeaf>(x, rows, stride, fn); break;  // mixed modes
    }
  }

 private:
  // True when a row with feature value v takes node n's true branch. M is
  // the mode of every branch node, or kLeaf for mixed modes (read from n).
  template <int M, typename Node>
  static bool goes_true(const Node* n, double v) {
    if constexpr (M == kLeq) {
      return v <= n->threshold || (n->nan_true && std::isnan(v));  // NaN fails the comparison
    } else if constexpr (M == kLt) {
      return v < n->threshold || (n->nan_true && std::isnan(v));
    } else {
      if (std::isnan(v)) return n->nan_true;
      switch (n->mode) {
        case kLeq: return v <= n->threshold;
        case kLt: return v < n->threshold;
        case kGte: return v >= n->threshold;
        case kGt: return v > n->threshold;
        case kEq: return v == n->threshold;
        default: return v != n->threshold;
      }
    }
  }

  template <int M, typename F>
  void walk(const double* x, int64_t rows, int64_t stride, F& fn) const {
    const FlatNode* nodes = nodes_.data();
    const Weight* weights = weights_.data();
    // Rows walk a tree kLanes at a time: independent walks interleave, so
    // their node loads overlap instead of each waiting on the previous.
    constexpr int kLanes = 8;
    for (int32_t root : roots_) {
      int64_t r = 0;
      for (; r + kLanes <= rows; r += kLanes) {
        const FlatNode* n[kLanes];
        for (int l = 0; l < kLanes; ++l) n[l] = nodes + root;
        for (bool moved = true; moved;) {
          moved = false;
          for (int l = 0; l < kLanes; ++l) {
            const FlatNode* c = n[l];
            if (c->mode == kLeaf) continue;
            n[l] = nodes + (goes_true<M>(c, x[(r + l) * stride + c->feature]) ? c->true_child : c->false_child);
            moved = true;
          }
        }
        for (int l = 0; l < kLanes; ++l) fn(r + l, weights + n[l]->true_child, weights + n[l]->false_child);
      }
      for (; r < rows; ++r) {
        const double* xr = x + r * stride;
        const FlatNode* n = nodes + root;
        while (n->mode != kLeaf) n = nodes + (goes_true<M>(n, xr[n->feature]) ? n->true_child : n->false_child);
        fn(r, weights + n->true_child, weights + n->false_child);
      }
    }
  }

  struct FlatNode {
    double threshold;
    int32_t feature;
    Mode mode;
    bool nan_true;     // a NaN feature takes the true branch
    int32_t true_child;   // leaf: first weight index
    int32_t false_child;  // leaf: one past the last weight index
  };
  std::vector<FlatNode> nodes_;
  std::vector<int32_t> roots_;
  std::vector<Weight> weights_;
  std::vector<int64_t> weight_ids_;
  int64_t num_features_ = 0;
  int64_t max_depth_ = 0;
  bool non_negative_ = true;
  Mode uniform_mode_ = kLeaf;  // the mode of every branch node, kLeaf if they differ
};

}  // namespace pier::kernels::ml
