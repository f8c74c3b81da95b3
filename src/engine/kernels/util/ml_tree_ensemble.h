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

  // Calls fn(const Weight* begin, const Weight* end) with the weights of the
  // leaf that row `x` reaches in each tree, in tree order.
  template <typename F>
  void for_each_leaf(const double* x, F&& fn) const {
    const FlatNode* nodes = nodes_.data();
    for (int32_t root : roots_) {
      const FlatNode* n = nodes + root;
      while (n->mode != kLeaf) {
        const double v = x[n->feature];
        bool go;
        if (std::isnan(v)) {
          go = n->nan_true;
        } else {
          switch (n->mode) {
            case kLeq: go = v <= n->threshold; break;
            case kLt: go = v < n->threshold; break;
            case kGte: go = v >= n->threshold; break;
            case kGt: go = v > n->threshold; break;
            case kEq: go = v == n->threshold; break;
            default: go = v != n->threshold; break;
          }
        }
        n = nodes + (go ? n->true_child : n->false_child);
      }
      fn(weights_.data() + n->true_child, weights_.data() + n->false_child);
    }
  }

 private:
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
};

}  // namespace pier::kernels::ml
