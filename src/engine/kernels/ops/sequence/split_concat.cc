// SplitToSequence and ConcatFromSequence: between one tensor and a
// sequence of its parts.
#include "kernels/kernel.h"
#include "kernels/util/control_util.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class SplitToSequenceKernel final : public OpKernel {
 public:
  explicit SplitToSequenceKernel(const KernelInit& init)
      : axis_(init.node.attr_int("axis", 0)), keepdims_(init.node.attr_int("keepdims", 1) != 0) {}

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 1) throw Error(ErrorCode::kInvalidArgument, "SplitToSequence: the input is a scalar");
    const int64_t axis = normalize_axis(axis_, x.rank(), "axis");
    const int64_t dim = x.shape()[axis];
    std::vector<int64_t> lengths;
    bool keep = true;
    if (!ctx.has_input(1)) {
      lengths.assign(static_cast<size_t>(dim), 1);
      keep = keepdims_;
    } else {
      const Tensor& split = ctx.input(1);
      std::vector<int64_t> v = to_int64_vector(split);
      if (split.rank() == 0) {
        const int64_t s = v[0];
        if (s <= 0)
          throw Error(ErrorCode::kInvalidArgument, "SplitToSequence: split size must be positive, got " +
                                                       std::to_string(s));
        for (int64_t off = 0; off < dim; off += s) lengths.push_back(std::min(s, dim - off));
      } else if (split.rank() == 1) {
        int64_t sum = 0;
        for (int64_t l : v) {
          if (l < 0)
            throw Error(ErrorCode::kInvalidArgument, "SplitToSequence: negative split length " + std::to_string(l));
          sum += l;
        }
        if (sum != dim)
          throw Error(ErrorCode::kInvalidArgument, "SplitToSequence: split lengths sum to " + std::to_string(sum) +
                                                       ", the axis has " + std::to_string(dim));
        lengths = std::move(v);
      } else {
        throw Error(ErrorCode::kInvalidArgument, "SplitToSequence: split must be a scalar or 1-D, got shape " +
                                                     shape_str(split.shape()));
      }
    }
    std::vector<Tensor> parts;
    parts.reserve(lengths.size());
    int64_t off = 0;
    for (int64_t l : lengths) {
      parts.push_back(keep ? control::narrow(x, axis, off, l) : control::select(x, axis, off));
      off += l;
    }
    ctx.set_output(0, Value::sequence(x.dtype(), std::move(parts)));
  }

 private:
  int64_t axis_;
  bool keepdims_;
};

class ConcatFromSequenceKernel final : public OpKernel {
 public:
  explicit ConcatFromSequenceKernel(const KernelInit& init)
      : axis_(init.node.req_int("axis")), new_axis_(init.node.attr_int("new_axis", 0) != 0) {}

  void compute(KernelContext& ctx) const override {
    const Value& seq = ctx.value(0);
    if (!seq.is_sequence())
      throw Error(ErrorCode::kInvalidArgument, "ConcatFromSequence: input must be a sequence, got " +
                                                   control::value_kind(seq));
    const auto& items = seq.items();
    if (items.empty()) throw Error(ErrorCode::kInvalidArgument, "ConcatFromSequence: the sequence is empty");
    const int64_t r = items[0].rank();
    if (new_axis_) {
      const int64_t a = normalize_axis(axis_, r + 1, "axis");
      ctx.set_output(0, control::stack(items, a, ctx.threads(), "ConcatFromSequence"));
    } else {
      if (r == 0) throw Error(ErrorCode::kInvalidArgument, "ConcatFromSequence: cannot concatenate scalars");
      const int64_t a = normalize_axis(axis_, r, "axis");
      ctx.set_output(0, control::concat(items, a, ctx.threads(), "ConcatFromSequence"));
    }
  }

 private:
  int64_t axis_;
  bool new_axis_;
};

}  // namespace

void register_kernels_sequence_split_concat(KernelRegistry& r) {
  r.add("", "SplitToSequence", 11, kOpenEnded, make_factory<SplitToSequenceKernel>());
  r.add("", "ConcatFromSequence", 11, kOpenEnded, make_factory<ConcatFromSequenceKernel>());
}

}  // namespace pier::kernels
