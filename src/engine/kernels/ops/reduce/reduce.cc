// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
// ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare.
// Axes come from the `axes` attribute, or (ReduceSum from opset 13) from the
// optional second input, where an empty list reduces everything unless
// noop_with_empty_axes is set. The work is done by reduce_tensor.
#include <algorithm>

#include "kernels/kernel.h"
#include "kernels/util/reduce_util.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class ReduceKernel final : public OpKernel {
 public:
  ReduceKernel(const KernelInit& init, ReduceOp op) : op_(op) {
    const auto& n = init.node;
    keepdims_ = n.attr_int("keepdims", 1) != 0;
    axes_input_ = n.op_type == "ReduceSum" && n.since_version >= 13;
    if (axes_input_) {
      noop_ = n.attr_int("noop_with_empty_axes", 0) != 0;
    } else {
      axes_ = n.attr_ints("axes");
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> axes = axes_;
    if (axes_input_ && ctx.has_input(1)) axes = to_int64_vector(ctx.input(1));
    if (axes.empty() && noop_) {
      ctx.set_output(0, Value(x));
      return;
    }
    const int64_t rank = x.rank();
    if (axes.empty()) {
      for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    } else {
      for (int64_t& a : axes) a = normalize_axis(a, rank, "reduction axis");
      std::sort(axes.begin(), axes.end());
      if (std::adjacent_find(axes.begin(), axes.end()) != axes.end())
        throw Error(ErrorCode::kInvalidArgument, "reduction axes contain a duplicate");
    }
    Tensor out = reduce_tensor(x, axes, op_, ctx.threads());
    if (!keepdims_) {
      Shape s;
      for (int64_t d = 0, k = 0; d < rank; ++d) {
        if (k < static_cast<int64_t>(axes.size()) && axes[k] == d) {
          ++k;
          continue;
        }
        s.push_back(x.dim(static_cast<int>(d)));
      }
      out = out.reshaped(s);
    }
    ctx.set_output(0, Value(out));
  }

 private:
  ReduceOp op_;
  std::vector<int64_t> axes_;
  bool keepdims_ = true;
  bool axes_input_ = false;
  bool noop_ = false;
};

KernelFactory reduce(ReduceOp op) {
  return [op](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<ReduceKernel>(init, op); };
}

}  // namespace

void register_kernels_reduce_reduce(KernelRegistry& r) {
  // 1: axes attribute; 11: negative axes; 13: more types (ReduceSum: axes
  // input). ReduceMax/ReduceMin 12 adds int8/uint8. Opset 18 is out of scope.
  const std::pair<const char*, ReduceOp> ops[] = {
      {"ReduceSum", ReduceOp::kSum},       {"ReduceMean", ReduceOp::kMean},   {"ReduceProd", ReduceOp::kProd},
      {"ReduceL1", ReduceOp::kL1},         {"ReduceL2", ReduceOp::kL2},       {"ReduceLogSum", ReduceOp::kLogSum},
      {"ReduceLogSumExp", ReduceOp::kLogSumExp}, {"ReduceSumSquare", ReduceOp::kSumSquare},
  };
  for (const auto& [name, op] : ops) {
    r.add("", name, 1, 10, reduce(op));
    r.add("", name, 11, 12, reduce(op));
    r.add("", name, 13, kOpenEnded, reduce(op));
  }
  for (const auto& [name, op] : {std::pair{"ReduceMax", ReduceOp::kMax}, std::pair{"ReduceMin", ReduceOp::kMin}}) {
    r.add("", name, 1, 10, reduce(op));
    r.add("", name, 11, 11, reduce(op));
    r.add("", name, 12, 12, reduce(op));
    r.add("", name, 13, kOpenEnded, reduce(op));
  }
}

}  // namespace pier::kernels
