// TreeEnsembleRegressor and TreeEnsembleClassifier (ai.onnx.ml 1 and 3).
//
// The trees are flattened once at creation (util/ml_tree_ensemble.h); a run
// walks every tree for each row, in parallel over rows. Scores accumulate
// in double and are written as float.
//
// Semantics where the spec is silent (they follow ONNX Runtime and ONNX's
// reference implementation where those agree):
//  - A NaN feature takes the branch nodes_missing_value_tracks_true names
//    (false when the attribute is absent), for every node mode.
//  - base_values has one entry per target/class, or one entry for all.
//  - Regressor MIN/MAX: a target no reached leaf votes for scores 0.
//  - Classifier, binary case (two classes, every weight on one class id):
//    the summed score s (plus base value) is the score of the second class.
//    Z is [1-s, s] for NONE with non-negative weights (probabilities) and
//    the label is class 1 when s > 0.5; with signed weights (margins) Z is
//    [-s, s] and the label is class 1 when s > 0. LOGISTIC gives
//    [sigmoid(-s), sigmoid(s)], SOFTMAX / SOFTMAX_ZERO transform [-s, s],
//    PROBIT transforms [1-s, s].
//  - Otherwise the label is the first class with the highest raw score.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/ml_common.h"
#include "kernels/util/ml_tree_ensemble.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

using ml::PostTransform;
using ml::TreeEnsemble;

std::vector<double> base_values(const ir::Node& node, int64_t n) {
  std::vector<double> b = ml::floats_or_tensor(node, "base_values");
  if (b.empty()) return std::vector<double>(static_cast<size_t>(n), 0.0);
  if (b.size() == 1) return std::vector<double>(static_cast<size_t>(n), b[0]);
  if (static_cast<int64_t>(b.size()) != n)
    ml::bad_attr("base_values has " + std::to_string(b.size()) + " entries, expected 1 or " + std::to_string(n));
  return b;
}

// Splits rows [begin, end) of x into blocks converted to double and calls
// block_fn(first_row, rows_in_block, block_data). Blocks hold up to 128
// rows, fewer when a row has many (`outputs`) scores to accumulate.
template <typename F>
void for_blocks(const Tensor& x, int64_t f, int64_t outputs, int64_t begin, int64_t end, F&& block_fn) {
  const int64_t kBlock = std::clamp<int64_t>((int64_t{1} << 16) / std::max<int64_t>(outputs, 1), 1, 128);
  std::vector<double> buf(static_cast<size_t>(std::min(kBlock, end - begin) * f));
  for (int64_t b = begin; b < end; b += kBlock) {
    const int64_t e = std::min(end, b + kBlock);
    ml::rows_as_double(x, b, e, f, buf.data());
    block_fn(b, e - b, buf.data());
  }
}

ml::Rows check_input(const Tensor& x, const TreeEnsemble& ens, const char* op) {
  ml::Rows rows = ml::rows_of(x, op);
  if (rows.f < ens.num_features())
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": the trees read feature " +
                                                 std::to_string(ens.num_features() - 1) + " but the input has " +
                                                 std::to_string(rows.f) + " features");
  return rows;
}

class TreeEnsembleRegressorKernel final : public OpKernel {
 public:
  enum class Agg { kSum, kAverage, kMin, kMax };

  explicit TreeEnsembleRegressorKernel(const KernelInit& init)
      : n_targets_(targets(init.node)),
        agg_(parse_agg(init.node.attr_string("aggregate_function", "SUM"))),
        post_(ml::parse_post_transform(init.node)),
        base_(base_values(init.node, n_targets_)),
        ens_(init.node, "target", n_targets_) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = check_input(x, ens_, "TreeEnsembleRegressor");
    Tensor& y = ctx.allocate(0, DataType::kFloat, {rows.n, n_targets_});
    float* out = y.data<float>();
    const int64_t t = n_targets_;
    const double n_trees = static_cast<double>(std::max<int64_t>(ens_.num_trees(), 1));
    const int64_t grain = ml::row_grain(ens_.num_trees() * ens_.max_depth() + t);
    parallel_for(ctx.threads(), rows.n, grain, [&](int64_t begin, int64_t end) {
      std::vector<double> acc;
      std::vector<uint8_t> seen;
      for_blocks(x, rows.f, t, begin, end, [&](int64_t first, int64_t nb, const double* xb) {
        acc.assign(static_cast<size_t>(nb * t), 0.0);
        seen.assign(static_cast<size_t>(nb * t), 0);
        ens_.for_each_leaf(xb, nb, rows.f, [&](int64_t r, const TreeEnsemble::Weight* w, const TreeEnsemble::Weight* we) {
          for (; w != we; ++w) {
            double& a = acc[static_cast<size_t>(r * t + w->target)];
            uint8_t& s = seen[static_cast<size_t>(r * t + w->target)];
            switch (agg_) {
              case Agg::kSum:
              case Agg::kAverage: a += w->value; break;
              case Agg::kMin: a = s ? std::min(a, w->value) : w->value; break;
              case Agg::kMax: a = s ? std::max(a, w->value) : w->value; break;
            }
            s = 1;
          }
        });
        for (int64_t r = 0; r < nb; ++r) {
          double* row = acc.data() + r * t;
          for (int64_t k = 0; k < t; ++k) {
            if (agg_ == Agg::kAverage) row[k] /= n_trees;
            row[k] += base_[k];
          }
          ml::apply_post_transform(post_, row, t);
          for (int64_t k = 0; k < t; ++k) out[(first + r) * t + k] = static_cast<float>(row[k]);
        }
      });
    });
  }

 private:
  static int64_t targets(const ir::Node& node) {
    int64_t n = node.attr_int("n_targets", -1);
    if (n < 0) {  // absent: one past the largest target id
      n = 1;
      for (int64_t id : node.attr_ints("target_ids")) n = std::max(n, id + 1);
    }
    if (n < 1 || n > (int64_t{1} << 24)) ml::bad_attr("n_targets " + std::to_string(n) + " is out of range");
    return n;
  }
  static Agg parse_agg(const std::string& s) {
    if (s == "SUM") return Agg::kSum;
    if (s == "AVERAGE") return Agg::kAverage;
    if (s == "MIN") return Agg::kMin;
    if (s == "MAX") return Agg::kMax;
    ml::bad_attr("aggregate_function \"" + s + "\" is not one of SUM, AVERAGE, MIN, MAX");
  }

  int64_t n_targets_;
  Agg agg_;
  PostTransform post_;
  std::vector<double> base_;
  TreeEnsemble ens_;
};

class TreeEnsembleClassifierKernel final : public OpKernel {
 public:
  explicit TreeEnsembleClassifierKernel(const KernelInit& init)
      : labels_(ml::ClassLabels::from_node(init.node, "classlabels_int64s")),
        post_(ml::parse_post_transform(init.node)),
        ens_(init.node, "class", labels_.size()) {
    const int64_t k = labels_.size();
    binary_ = k == 2 && ens_.weight_ids().size() == 1;
    if (binary_) {
      binary_class_ = ens_.weight_ids().front();
      std::vector<double> b = ml::floats_or_tensor(init.node, "base_values");
      if (b.size() > 2) ml::bad_attr("base_values has " + std::to_string(b.size()) + " entries, expected at most 2");
      binary_base_ = b.empty() ? 0.0 : b.size() == 1 ? b[0] : b[static_cast<size_t>(binary_class_)];
    } else {
      base_ = base_values(init.node, k);
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const ml::Rows rows = check_input(x, ens_, "TreeEnsembleClassifier");
    const int64_t k = labels_.size();
    Tensor& y = ctx.allocate(0, labels_.dtype(), {rows.n});
    Tensor* zt = nullptr;
    if (ctx.wants_output(1)) zt = &ctx.allocate(1, DataType::kFloat, {rows.n, k});
    float* z = zt ? zt->data<float>() : nullptr;
    const int64_t grain = ml::row_grain(ens_.num_trees() * ens_.max_depth() + k);
    parallel_for(ctx.threads(), rows.n, grain, [&](int64_t begin, int64_t end) {
      std::vector<double> acc;
      for_blocks(x, rows.f, k, begin, end, [&](int64_t first, int64_t nb, const double* xb) {
        acc.assign(static_cast<size_t>(nb * k), 0.0);
        ens_.for_each_leaf(xb, nb, rows.f, [&](int64_t r, const TreeEnsemble::Weight* w, const TreeEnsemble::Weight* we) {
          for (; w != we; ++w) acc[static_cast<size_t>(r * k + w->target)] += w->value;
        });
        for (int64_t r = 0; r < nb; ++r) {
          double* row = acc.data() + r * k;
          int64_t best = 0;
          if (binary_) {
            best = finish_binary(row[binary_class_] + binary_base_, row);
          } else {
            for (int64_t c = 0; c < k; ++c) {
              row[c] += base_[c];
              if (row[c] > row[best]) best = c;
            }
            ml::apply_post_transform(post_, row, k);
          }
          labels_.write(y, first + r, best);
          if (z)
            for (int64_t c = 0; c < k; ++c) z[(first + r) * k + c] = static_cast<float>(row[c]);
        }
      });
    });
  }

 private:
  // Binary case: fills scores[0..1] from the second class's score s and
  // returns the winning class index.
  int64_t finish_binary(double s, double* scores) const {
    switch (post_) {
      case PostTransform::kNone:
        if (ens_.weights_all_non_negative()) {
          scores[0] = 1.0 - s;
          scores[1] = s;
          return s > 0.5 ? 1 : 0;
        }
        scores[0] = -s;
        scores[1] = s;
        return s > 0 ? 1 : 0;
      case PostTransform::kProbit:
        scores[0] = ml::probit(1.0 - s);
        scores[1] = ml::probit(s);
        return s > 0.5 ? 1 : 0;
      case PostTransform::kLogistic:
      case PostTransform::kSoftmax:
      case PostTransform::kSoftmaxZero:
        scores[0] = -s;
        scores[1] = s;
        ml::apply_post_transform(post_, scores, 2);
        return s > 0 ? 1 : 0;
    }
    return 0;
  }

  ml::ClassLabels labels_;
  PostTransform post_;
  TreeEnsemble ens_;
  bool binary_ = false;
  int64_t binary_class_ = 0;
  double binary_base_ = 0;
  std::vector<double> base_;
};

}  // namespace

void register_kernels_ml_tree_ensemble(KernelRegistry& r) {
  r.add("ai.onnx.ml", "TreeEnsembleRegressor", 1, 2, make_factory<TreeEnsembleRegressorKernel>());
  r.add("ai.onnx.ml", "TreeEnsembleRegressor", 3, kOpenEnded, make_factory<TreeEnsembleRegressorKernel>());
  r.add("ai.onnx.ml", "TreeEnsembleClassifier", 1, 2, make_factory<TreeEnsembleClassifierKernel>());
  r.add("ai.onnx.ml", "TreeEnsembleClassifier", 3, kOpenEnded, make_factory<TreeEnsembleClassifierKernel>());
}

}  // namespace pier::kernels
