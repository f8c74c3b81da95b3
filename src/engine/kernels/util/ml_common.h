// Helpers shared by the ai.onnx.ml kernels (kernels/ops/ml/*.cc): score
// post-transforms, class labels, reading [N,F] inputs as double rows and
// attributes that opset 3 also accepts as double tensors (*_as_tensor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "pier/engine.h"

namespace pier::kernels::ml {

// Raises kInvalidModel for a bad attribute; the executor adds the node name.
[[noreturn]] void bad_attr(const std::string& message);

// The `post_transform` attribute of classifiers and regressors.
enum class PostTransform { kNone, kLogistic, kSoftmax, kSoftmaxZero, kProbit };
PostTransform parse_post_transform(const ir::Node& node);

// 1 / (1 + exp(-x)), without overflow for large |x|.
double logistic(double x);
// sqrt(2) * erfinv(2p - 1) with the closed-form erfinv approximation
// (Winitzki, a = 0.147) that ONNX's reference implementation and ONNX
// Runtime use, so PROBIT scores agree with them (about 1e-3 from the exact
// inverse normal CDF).
double probit(double p);
// Applies `t` in place to one row of `n` scores:
//   LOGISTIC and PROBIT element-wise; SOFTMAX over the row; SOFTMAX_ZERO is
//   a softmax in which scores that are exactly zero (|s| <= 1e-7) stay zero
//   (an all-zero row becomes uniform).
void apply_post_transform(PostTransform t, double* scores, int64_t n);

// Class labels of a classifier: exactly one of `<ints_attr>` (int64) and
// classlabels_strings must be given and non-empty.
struct ClassLabels {
  bool is_string = false;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  static ClassLabels from_node(const ir::Node& node, const char* ints_attr);
  int64_t size() const { return is_string ? static_cast<int64_t>(strings.size()) : static_cast<int64_t>(ints.size()); }
  DataType dtype() const { return is_string ? DataType::kString : DataType::kInt64; }
  // Writes the label of class index `k` at position `i` of `out` (dtype()).
  void write(Tensor& out, int64_t i, int64_t k) const;
};

// A rank-1 ([F], one row) or rank-2 ([N, F]) input of float, double, int32
// or int64; raises kInvalidArgument naming `op` otherwise.
struct Rows {
  int64_t n = 0;  // rows
  int64_t f = 0;  // features per row
};
Rows rows_of(const Tensor& x, const char* op);
// True for float, double, int32 and int64: the numeric input types of the
// ai.onnx.ml operators.
bool is_ml_numeric(DataType t);
// Copies rows [begin, end) of x (f features each) to out as double.
void rows_as_double(const Tensor& x, int64_t begin, int64_t end, int64_t f, double* out);
// All elements of x (any ml numeric type) as double.
std::vector<double> as_double_vector(const Tensor& x);

// A float-list attribute that opset 3 also accepts as `<name>_as_tensor`
// (a double or float tensor). Giving both raises; neither gives {}.
std::vector<double> floats_or_tensor(const ir::Node& node, const std::string& name);

// Row-parallel grain: about `work` units of work per chunk for rows costing
// `per_row` units each.
int64_t row_grain(int64_t per_row, int64_t work = 1 << 15);

}  // namespace pier::kernels::ml
