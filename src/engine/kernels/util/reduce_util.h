// Reductions over arbitrary axes, shared by the Reduce* kernels and the
// normalization kernels (MeanVarianceNormalization).
//
// The input shape is collapsed into alternating groups of kept and reduced
// dims (size-1 dims dropped, neighbours of the same kind merged). Two inner
// loops cover every pattern: when the innermost group is reduced, each output
// reduces contiguous rows (16 independent partial results so float loops
// vectorize); when it is kept, whole output rows are accumulated element-wise
// across the reduced groups (vectorized along the row). Work is split over
// outputs, or over the reduced range with partial results when there are
// too few outputs to keep the threads busy.
#pragma once

#include <vector>

#include "pier/engine.h"

namespace pier::kernels {

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kLogSum, kLogSumExp, kSumSquare };

// Reduces `x` over `axes` (each in [0, rank), sorted, no duplicates). The
// result has x's type and rank, with the reduced dims set to 1. Reducing an
// empty range gives the op's identity (0 for sums, 1 for products, -inf for
// max and log-sums, +inf for min, NaN for the mean of floats).
// Integer inputs: Sum, Prod, Max, Min, L1 and SumSquare wrap like the integer
// type; Mean, L2, LogSum and LogSumExp are computed in double and truncated.
Tensor reduce_tensor(const Tensor& x, const std::vector<int64_t>& axes, ReduceOp op, int threads);

}  // namespace pier::kernels
