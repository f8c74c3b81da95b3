#include "kernels/kernel.h"

#include "exec/program.h"

namespace pier::kernels {

namespace {
const Value& none_value() {
  static const Value v;
  return v;
}
}  // namespace

const ValueInfo* KernelInit::plausible(const ValueInfo* info) {
  if (!info || !info->has_shape) return info;
  constexpr int64_t kLimit = int64_t{1} << 40;  // elements; checked_numel's bound
  int64_t n = 1;
  for (int64_t d : info->dims) {
    if (d <= 0) continue;  // unknown, or an empty tensor: no product to overflow
    if (n > kLimit / d) return nullptr;
    n *= d;
  }
  return info;
}

void KernelContext::check_deadline() const { frame_.check_deadline(); }

const Value& KernelContext::value(int i) const {
  if (i >= num_inputs() || inputs_[i] == nullptr) return none_value();
  return *inputs_[i];
}

const Tensor& KernelContext::input(int i) const {
  if (!has_input(i))
    throw Error(ErrorCode::kInvalidArgument, "input " + std::to_string(i) + " is missing");
  const Value& v = *inputs_[i];
  if (!v.is_tensor())
    throw Error(ErrorCode::kInvalidArgument, "input " + std::to_string(i) + " should be a tensor");
  return v.tensor();
}

Tensor& KernelContext::allocate(int i, DataType dtype, Shape shape) {
  if (i >= num_outputs()) throw Error(ErrorCode::kRuntime, "output index " + std::to_string(i) + " out of range");
  *outputs_[i] = Value(Tensor(dtype, std::move(shape)));
  return outputs_[i]->tensor();
}

bool KernelContext::can_reuse(int in, DataType dtype, const Shape& shape) const {
  if (in < 0 || in >= 64 || !has_input(in) || !((dying_ >> in) & 1)) return false;
  const Value& v = *inputs_[in];
  if (!v.is_tensor()) return false;
  const Tensor& t = v.tensor();
  if (!t.defined() || t.dtype() != dtype || dtype == DataType::kString || t.numel() != shape_numel(shape) ||
      !t.unique())
    return false;
  for (int j = 0; j < num_inputs(); ++j) {
    if (j == in || !has_input(j) || !inputs_[j]->is_tensor()) continue;
    if (inputs_[j]->tensor().storage_id() == t.storage_id()) return false;
  }
  return true;
}

Tensor& KernelContext::allocate_or_reuse(int out, int in, DataType dtype, Shape shape) {
  if (out >= num_outputs())
    throw Error(ErrorCode::kRuntime, "output index " + std::to_string(out) + " out of range");
  if (!can_reuse(in, dtype, shape)) return allocate(out, dtype, std::move(shape));
  // Shares the input's storage; the executor drops the input right after
  // this node, leaving the output its only owner.
  *outputs_[out] = Value(inputs_[in]->tensor().reshaped(std::move(shape)));
  return outputs_[out]->tensor();
}

void KernelContext::set_output(int i, Value v) {
  if (i >= num_outputs()) throw Error(ErrorCode::kRuntime, "output index " + std::to_string(i) + " out of range");
  *outputs_[i] = std::move(v);
}

}  // namespace pier::kernels
