// Intra-op parallelism for Pier's own kernels. Uses the same OpenMP runtime
// as oneDNN, so both share one pool of workers; its team size comes from the
// session (KernelContext::threads()). threads == 1 runs inline on the
// calling thread.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <exception>

namespace pier::kernels {

// Calls fn(begin, end) on disjoint chunks covering [0, n). Chunks are at
// least `grain` long, so small loops stay on one thread. An exception thrown
// by fn on any thread is rethrown on the caller after all chunks finish.
template <typename F>
void parallel_for(int threads, int64_t n, int64_t grain, F&& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = (n + grain - 1) / grain;
  const int nt = static_cast<int>(std::min<int64_t>(std::max(threads, 1), max_chunks));
  if (nt <= 1) {
    fn(int64_t{0}, n);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel num_threads(nt)
  {
    // The team may be smaller than asked (nested regions): split by its size.
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t per = n / team, extra = n % team;
    const int64_t begin = t * per + std::min<int64_t>(t, extra);
    const int64_t end = begin + per + (t < extra ? 1 : 0);
    try {
      if (begin < end) fn(begin, end);
    } catch (...) {
#pragma omp critical(pier_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace pier::kernels
