// Basic tensor-sequence ops: SequenceEmpty, SequenceConstruct, SequenceAt,
// SequenceInsert, SequenceErase, SequenceLength. Sequences share their
// tensors' storage; no op here copies element data.
#include "kernels/kernel.h"
#include "kernels/util/control_util.h"

namespace pier::kernels {

namespace {

const Value& sequence_input(KernelContext& ctx, int i) {
  const Value& v = ctx.value(i);
  if (!v.is_sequence())
    throw Error(ErrorCode::kInvalidArgument, "input " + std::to_string(i) + " must be a sequence, got " +
                                                 control::value_kind(v));
  return v;
}

// A position input in [-n, n - 1] (or [-n, n] when `end_ok`), normalized.
int64_t position(const Tensor& t, int64_t n, bool end_ok) {
  const int64_t p = control::scalar_int(t, "position");
  const int64_t hi = end_ok ? n : n - 1;
  if (p < -n || p > hi)
    throw Error(ErrorCode::kInvalidArgument, "position " + std::to_string(p) + " is out of range [" +
                                                 std::to_string(-n) + ", " + std::to_string(hi) +
                                                 "] for a sequence of " + std::to_string(n));
  return p < 0 ? p + n : p;
}

class SequenceEmptyKernel final : public OpKernel {
 public:
  explicit SequenceEmptyKernel(const KernelInit& init) {
    const int64_t t = init.node.attr_int("dtype", static_cast<int64_t>(DataType::kFloat));
    if (t < 1 || t > 16)
      throw Error(ErrorCode::kInvalidModel, "SequenceEmpty: invalid dtype " + std::to_string(t));
    dtype_ = static_cast<DataType>(t);
  }
  void compute(KernelContext& ctx) const override { ctx.set_output(0, Value::sequence(dtype_, {})); }

 private:
  DataType dtype_;
};

class SequenceConstructKernel final : public OpKernel {
 public:
  explicit SequenceConstructKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    if (ctx.num_inputs() < 1) throw Error(ErrorCode::kInvalidArgument, "SequenceConstruct needs at least one input");
    std::vector<Tensor> items;
    items.reserve(static_cast<size_t>(ctx.num_inputs()));
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.input(i);
      if (!items.empty() && t.dtype() != items[0].dtype())
        throw Error(ErrorCode::kInvalidArgument, std::string("SequenceConstruct inputs differ in type: ") +
                                                     dtype_name(items[0].dtype()) + " and " + dtype_name(t.dtype()));
      items.push_back(t);
    }
    const DataType t = items[0].dtype();
    ctx.set_output(0, Value::sequence(t, std::move(items)));
  }
};

class SequenceAtKernel final : public OpKernel {
 public:
  explicit SequenceAtKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const auto& items = sequence_input(ctx, 0).items();
    const int64_t p = position(ctx.input(1), static_cast<int64_t>(items.size()), false);
    ctx.set_output(0, items[static_cast<size_t>(p)]);
  }
};

class SequenceInsertKernel final : public OpKernel {
 public:
  explicit SequenceInsertKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Value& seq = sequence_input(ctx, 0);
    const Tensor& t = ctx.input(1);
    DataType et = seq.elem_type();
    if (et == DataType::kUndefined) et = t.dtype();
    if (t.dtype() != et)
      throw Error(ErrorCode::kInvalidArgument, std::string("SequenceInsert: tensor of ") + dtype_name(t.dtype()) +
                                                   " into a sequence of " + dtype_name(et));
    std::vector<Tensor> items = seq.items();
    const int64_t n = static_cast<int64_t>(items.size());
    const int64_t p = ctx.has_input(2) ? position(ctx.input(2), n, true) : n;
    items.insert(items.begin() + p, t);
    ctx.set_output(0, Value::sequence(et, std::move(items)));
  }
};

class SequenceEraseKernel final : public OpKernel {
 public:
  explicit SequenceEraseKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const Value& seq = sequence_input(ctx, 0);
    std::vector<Tensor> items = seq.items();
    const int64_t n = static_cast<int64_t>(items.size());
    if (n == 0) throw Error(ErrorCode::kInvalidArgument, "SequenceErase: the sequence is empty");
    const int64_t p = ctx.has_input(1) ? position(ctx.input(1), n, false) : n - 1;
    items.erase(items.begin() + p);
    ctx.set_output(0, Value::sequence(seq.elem_type(), std::move(items)));
  }
};

class SequenceLengthKernel final : public OpKernel {
 public:
  explicit SequenceLengthKernel(const KernelInit&) {}
  void compute(KernelContext& ctx) const override {
    const auto& items = sequence_input(ctx, 0).items();
    Tensor& out = ctx.allocate(0, DataType::kInt64, {});
    out.data<int64_t>()[0] = static_cast<int64_t>(items.size());
  }
};

}  // namespace

void register_kernels_sequence_sequence(KernelRegistry& r) {
  r.add("", "SequenceEmpty", 11, kOpenEnded, make_factory<SequenceEmptyKernel>());
  r.add("", "SequenceConstruct", 11, kOpenEnded, make_factory<SequenceConstructKernel>());
  r.add("", "SequenceAt", 11, kOpenEnded, make_factory<SequenceAtKernel>());
  r.add("", "SequenceInsert", 11, kOpenEnded, make_factory<SequenceInsertKernel>());
  r.add("", "SequenceErase", 11, kOpenEnded, make_factory<SequenceEraseKernel>());
  r.add("", "SequenceLength", 11, kOpenEnded, make_factory<SequenceLengthKernel>());
}

}  // namespace pier::kernels
