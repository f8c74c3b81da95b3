// Offline placement of one run's tensor allocations in a single arena.
//
// Input: the allocations of a recorded run in the order they were made,
// each with its size and lifetime [start, end) on a logical clock (one tick
// per allocation or release). An allocation still alive when the run ended
// (a graph output, a value a kernel kept) has end == kEscaped and is not
// placed: it lives outside the arena, because the caller may still hold it
// while the next run reuses the arena.
//
// Output: an offset per placed allocation such that allocations whose
// lifetimes overlap never overlap in memory, by greedy best-fit packing
// (largest first, each into the smallest gap between the placed
// allocations it coexists with). For the replay-time safety check, each
// allocation also lists the earlier allocations that share some of its
// bytes: they must all have been released before it is handed out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace pier::exec {

struct AllocInterval {
  static constexpr int64_t kEscaped = std::numeric_limits<int64_t>::max();
  size_t bytes = 0;  // a multiple of 64
  int64_t start = 0;
  int64_t end = kEscaped;
};

struct MemoryPlan {
  static constexpr int64_t kExternal = -1;
  size_t arena_bytes = 0;
  // Peak of the bytes alive at once over the recorded run (all
  // allocations, escaped ones included).
  size_t peak_bytes = 0;
  std::vector<size_t> bytes;    // per allocation, as recorded
  std::vector<int64_t> offset;  // per allocation; kExternal when not placed
  // Earlier allocations overlapping allocation i in the arena:
  // conflicts[conflict_begin[i] .. conflict_begin[i + 1]).
  std::vector<uint32_t> conflict_begin;
  std::vector<uint32_t> conflicts;

  size_t size() const { return bytes.size(); }
};

// Packs `allocs` (in allocation order); see the top of this file.
MemoryPlan plan_memory(const std::vector<AllocInterval>& allocs);

}  // namespace pier::exec
