#include "kernels/kernel.h"

namespace pier::kernels {

namespace {
const Value& none_value() {
  static const Value v;
  return v;
}
}  // namespace

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
  outputs_[i] = Value(Tensor(dtype, std::move(shape)));
  return outputs_[i].tensor();
}

void KernelContext::set_output(int i, Value v) {
  if (i >= num_outputs()) throw Error(ErrorCode::kRuntime, "output index " + std::to_string(i) + " out of range");
  outputs_[i] = std::move(v);
}

}  // namespace pier::kernels
