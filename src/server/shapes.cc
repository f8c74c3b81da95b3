#include "server/shapes.h"

#include "server/errors.h"

namespace pier::server {

std::string declared_shape(const ValueInfo& info) {
  if (!info.has_shape) return "of any shape";
  std::string s = "[";
  for (size_t i = 0; i < info.dims.size(); ++i) {
    if (i) s += ',';
    if (info.dims[i] >= 0) s += std::to_string(info.dims[i]);
    else if (i < info.dim_params.size() && !info.dim_params[i].empty()) s += info.dim_params[i];
    else s += '?';
  }
  return s + "]";
}

int64_t checked_numel(const Shape& shape, int64_t limit, const std::string& who) {
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) bad_request(who + ": shape " + shape_str(shape) + " has a negative dimension");
  }
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  for (int64_t d : shape) {
    if (d > limit || n > limit / d)
      bad_request(who + ": shape " + shape_str(shape) + " has more elements than the request can hold (at most " +
                  std::to_string(limit) + ")");
    n *= d;
  }
  return n;
}

void ShapeCheck::check(const ValueInfo& info, const Shape& shape) {
  const std::string who = input_label(info.name);
  for (int64_t d : shape)
    if (d < 0) bad_request(who + ": shape " + shape_str(shape) + " has a negative dimension");
  if (!info.has_shape) return;
  if (shape.size() != info.dims.size())
    bad_request(who + ": expected rank " + std::to_string(info.dims.size()) + " (shape " + declared_shape(info) +
                "), got rank " + std::to_string(shape.size()) + " (shape " + shape_str(shape) + ")");
  for (size_t i = 0; i < shape.size(); ++i) {
    if (info.dims[i] >= 0 && info.dims[i] != shape[i])
      bad_request(who + ": expected shape " + declared_shape(info) + ", got " + shape_str(shape) + " (dim " +
                  std::to_string(i) + " must be " + std::to_string(info.dims[i]) + ")");
    if (info.dims[i] < 0 && i < info.dim_params.size() && !info.dim_params[i].empty()) {
      const std::string& p = info.dim_params[i];
      auto [it, fresh] = bound_.try_emplace(p, shape[i], info.name);
      if (!fresh && it->second.first != shape[i])
        bad_request(who + ": dim " + std::to_string(i) + " (\"" + p + "\") is " + std::to_string(shape[i]) +
                    ", but input \"" + it->second.second + "\" has " + p + " = " + std::to_string(it->second.first));
    }
  }
}

}  // namespace pier::server
