// Tensor permutation (Transpose, DepthToSpace, SpaceToDepth, Unique axis).
#pragma once

#include <cstdint>
#include <vector>

#include "pier/engine.h"

namespace pier::kernels {

// Validates `perm` as a permutation of [0, rank); raises kInvalidArgument
// (naming the permutation) otherwise.
void check_permutation(const std::vector<int64_t>& perm, int64_t rank);

// out = in permuted: out.shape[i] == in.shape[perm[i]]. `out` must be
// allocated with that shape and in's dtype. Runs blocked 2-D transposes
// when the innermost dimension moves, row copies when it does not.
void transpose(const Tensor& in, const std::vector<int64_t>& perm, Tensor& out, int threads);

// Convenience: allocates and returns the permuted tensor.
Tensor transposed(const Tensor& in, const std::vector<int64_t>& perm, int threads);

}  // namespace pier::kernels
