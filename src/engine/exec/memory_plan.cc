#include "exec/memory_plan.h"

#include <algorithm>
#include <numeric>
#include <utility>

namespace pier::exec {

namespace {

bool lifetimes_overlap(const AllocInterval& a, const AllocInterval& b) {
  return a.start < b.end && b.start < a.end;
}

size_t peak_live_bytes(const std::vector<AllocInterval>& allocs) {
  // +bytes at start, -bytes at end; releases sort before allocations at
  // the same tick (a tick is either one or the other, so ties do not occur
  // in recorded runs).
  std::vector<std::pair<int64_t, int64_t>> events;
  events.reserve(allocs.size() * 2);
  for (const auto& a : allocs) {
    events.emplace_back(a.start, static_cast<int64_t>(a.bytes));
    if (a.end != AllocInterval::kEscaped) events.emplace_back(a.end, -static_cast<int64_t>(a.bytes));
  }
  std::sort(events.begin(), events.end());
  int64_t live = 0, peak = 0;
  for (const auto& e : events) {
    live += e.second;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

}  // namespace

MemoryPlan plan_memory(const std::vector<AllocInterval>& allocs) {
  const size_t n = allocs.size();
  MemoryPlan plan;
  plan.bytes.resize(n);
  plan.offset.assign(n, MemoryPlan::kExternal);
  for (size_t i = 0; i < n; ++i) plan.bytes[i] = allocs[i].bytes;
  plan.peak_bytes = peak_live_bytes(allocs);

  // Largest first; equal sizes in allocation order (deterministic).
  std::vector<uint32_t> order;
  for (size_t i = 0; i < n; ++i)
    if (allocs[i].end != AllocInterval::kEscaped && allocs[i].bytes > 0) order.push_back(static_cast<uint32_t>(i));
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return allocs[a].bytes > allocs[b].bytes; });

  std::vector<uint32_t> placed;  // sorted by offset
  placed.reserve(order.size());
  size_t top = 0;
  for (uint32_t i : order) {
    const AllocInterval& a = allocs[i];
    // Walk the placed allocations that coexist with `a`, in address order,
    // and take the smallest gap that fits.
    size_t cursor = 0;
    size_t best = SIZE_MAX, best_gap = SIZE_MAX;
    for (uint32_t j : placed) {
      if (!lifetimes_overlap(a, allocs[j])) continue;
      const size_t off = static_cast<size_t>(plan.offset[j]);
      if (off > cursor) {
        const size_t gap = off - cursor;
        if (gap >= a.bytes && gap < best_gap) {
          best = cursor;
          best_gap = gap;
        }
      }
      cursor = std::max(cursor, off + allocs[j].bytes);
    }
    if (best == SIZE_MAX) best = cursor;  // above everything alive with it
    plan.offset[i] = static_cast<int64_t>(best);
    top = std::max(top, best + a.bytes);
    auto pos = std::upper_bound(placed.begin(), placed.end(), best,
                                [&](size_t off, uint32_t j) { return off < static_cast<size_t>(plan.offset[j]); });
    placed.insert(pos, i);
  }
  plan.arena_bytes = top;

  // Conflicts: earlier placed allocations sharing bytes with i. Scanning in
  // address order lets the inner loop stop at the first block past i's end.
  std::vector<std::vector<uint32_t>> earlier(n);
  for (size_t p = 0; p < placed.size(); ++p) {
    const uint32_t i = placed[p];
    const size_t lo = static_cast<size_t>(plan.offset[i]), hi = lo + allocs[i].bytes;
    for (size_t q = p + 1; q < placed.size(); ++q) {
      const uint32_t j = placed[q];
      if (static_cast<size_t>(plan.offset[j]) >= hi) break;
      // Overlapping bytes: the later allocation must wait for the earlier.
      if (i < j) earlier[j].push_back(i);
      else earlier[i].push_back(j);
    }
  }
  plan.conflict_begin.resize(n + 1);
  for (size_t i = 0; i < n; ++i) {
    plan.conflict_begin[i] = static_cast<uint32_t>(plan.conflicts.size());
    plan.conflicts.insert(plan.conflicts.end(), earlier[i].begin(), earlier[i].end());
  }
  plan.conflict_begin[n] = static_cast<uint32_t>(plan.conflicts.size());
  return plan;
}

}  // namespace pier::exec
