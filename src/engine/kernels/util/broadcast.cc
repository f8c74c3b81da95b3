#include "kernels/util/broadcast.h"

namespace pier::kernels {

BroadcastPlan plan_broadcast(const std::vector<Shape>& inputs, const Shape& out_shape) {
  const size_t n = inputs.size();
  std::vector<std::vector<int64_t>> full(n);
  for (size_t k = 0; k < n; ++k) full[k] = broadcast_strides(inputs[k], out_shape);
  // Drop size-1 output dims, then merge neighbours that every input walks
  // the same way (all contiguous across the pair, or all constant).
  Shape dims;
  std::vector<std::vector<int64_t>> st(n);
  for (size_t d = 0; d < out_shape.size(); ++d) {
    if (out_shape[d] == 1) continue;
    if (!dims.empty()) {
      bool merge = true;
      for (size_t k = 0; k < n && merge; ++k) {
        const int64_t outer = st[k].back(), inner = full[k][d];
        merge = (outer == 0 && inner == 0) || (outer == inner * out_shape[d]);
      }
      if (merge) {
        dims.back() *= out_shape[d];
        for (size_t k = 0; k < n; ++k) st[k].back() = full[k][d];
        continue;
      }
    }
    dims.push_back(out_shape[d]);
    for (size_t k = 0; k < n; ++k) st[k].push_back(full[k][d]);
  }
  BroadcastPlan p;
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < n; ++k) st[k].push_back(0);
  }
  p.out = dims;
  p.strides = st;
  p.inner = dims.back();
  p.inner_step.resize(n);
  for (size_t k = 0; k < n; ++k) p.inner_step[k] = st[k].back();
  p.rows = 1;
  for (size_t d = 0; d + 1 < dims.size(); ++d) p.rows *= dims[d];
  if (shape_numel(out_shape) == 0) p.rows = 0;
  return p;
}

}  // namespace pier::kernels
