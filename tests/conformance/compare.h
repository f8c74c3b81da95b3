// Output comparison used by the conformance runner.
#pragma once

#include <string>

#include "pier/engine.h"

namespace pier::conformance {

// "" when equal; otherwise what differs. Floating types compare with
// |got - want| <= atol + rtol * |want| (NaN equals NaN); others exactly.
std::string compare_tensors(const Tensor& got, const Tensor& want, double rtol, double atol);
std::string compare_values(const Value& got, const Value& want, double rtol, double atol);

}  // namespace pier::conformance
