// Planned tensor memory for a Session's runs, cached per input signature.
//
// The first run with a signature (dtypes and shapes of everything fed)
// records the sequence of tensor allocations made by the run thread and
// when each was released; exec/memory_plan.h turns that into offsets in one
// arena. Later runs with the signature replay the sequence: the k-th
// allocation gets the k-th planned block, with no malloc.
//
// Safety, whatever the run does:
//  - A replayed allocation is handed its block only if its size matches
//    the recording and every earlier allocation sharing those bytes has
//    been released; otherwise it comes from the caching pool. A size or
//    count mismatch (data-dependent shapes: NonZero, Loop, ...) sends the
//    rest of the run to the pool and the next run records again; a
//    signature that keeps deviating runs from the pool for good.
//  - Allocations that outlived the recorded run (graph outputs, values a
//    kernel kept) are never placed in the arena, so the caller can hold
//    outputs while the next run reuses it. If a replayed block is still
//    held when its run ends, the arena is not reused: it is freed when its
//    last block is, and the signature is recorded again.
//  - Each run in flight has its own arena; idle arenas are pooled per
//    signature, so concurrent runs of one session never share one.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "pier/engine.h"

namespace pier::exec {

class MemoryPlanner {
 public:
  explicit MemoryPlanner(size_t max_plans = 8);
  ~MemoryPlanner();
  MemoryPlanner(const MemoryPlanner&) = delete;
  MemoryPlanner& operator=(const MemoryPlanner&) = delete;

  // One run on the calling thread. While it is alive, tensors allocated
  // on this thread are placed by the plan for `signature`.
  class Run {
   public:
    Run(MemoryPlanner& planner, std::vector<int64_t> signature);
    ~Run();
    Run(const Run&) = delete;
    Run& operator=(const Run&) = delete;

    class State;

   private:
    std::unique_ptr<State> state_;
  };

  MemoryStats stats() const;

  // The signature of a run's inputs: kind, dtype and shape of each value.
  static std::vector<int64_t> signature(const std::vector<Value>& inputs);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace pier::exec
