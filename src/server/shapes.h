// Checking a request's tensor shapes against what the model declares,
// before any tensor is allocated.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "pier/engine.h"

namespace pier::server {

// "[N,3,224,224]" (symbolic names, '?' for unknown dims), or "of any shape".
std::string declared_shape(const ValueInfo& info);

// The element count of a shape from a request: every dim must be >= 0 and
// the product at most `limit`. Throws RequestError(400) naming `who`.
int64_t checked_numel(const Shape& shape, int64_t limit, const std::string& who);

// One request's inputs: checks rank and fixed dims, and that a symbolic dim
// ("N") has the same value in every input that uses it.
class ShapeCheck {
 public:
  // Throws RequestError(400): `input "x": expected shape [N,4], got [2,5]`.
  void check(const ValueInfo& info, const Shape& shape);

 private:
  std::map<std::string, std::pair<int64_t, std::string>> bound_;  // dim name -> value, input that set it
};

}  // namespace pier::server
