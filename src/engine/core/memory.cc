#include "core/memory.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pier/engine.h"

namespace pier::memory {

namespace {

// The pool keeps at most this many bytes; blocks above kMaxPooledBlock are
// never kept (one such tensor would pin too much memory).
constexpr size_t kPoolCapBytes = size_t{1} << 30;
constexpr size_t kMaxPooledBlock = size_t{1} << 29;

std::atomic<uint64_t> g_os_allocs{0}, g_os_bytes{0}, g_pool_hits{0}, g_pool_misses{0};
std::atomic<int> g_active_runs{0};
thread_local RunAllocator* t_run = nullptr;
thread_local int t_run_level = 0;  // OpenMP nesting level where the run started

// Cached blocks sorted by size. A request takes the smallest block of at
// least its rounded size and at most 1.5 times it.
struct Pool {
  std::mutex mu;
  std::vector<std::pair<size_t, void*>> blocks;
  size_t cached = 0;
};

Pool& pool() {
  // Never destroyed: tensors released by static destructors after main()
  // may still return blocks here.
  static Pool* p = new Pool;
  return *p;
}

int floor_log2(size_t v) { return 63 - __builtin_clzll(static_cast<unsigned long long>(v)); }

}  // namespace

Counters counters() {
  Counters c;
  c.os_allocs = g_os_allocs.load(std::memory_order_relaxed);
  c.os_bytes = g_os_bytes.load(std::memory_order_relaxed);
  c.pool_hits = g_pool_hits.load(std::memory_order_relaxed);
  c.pool_misses = g_pool_misses.load(std::memory_order_relaxed);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  c.pool_cached_bytes = p.cached;
  return c;
}

void* os_alloc(size_t bytes) {
  const size_t n = std::max(align_up(bytes), kAlign);
  void* p = std::aligned_alloc(kAlign, n);
  if (!p) throw Error(ErrorCode::kRuntime, "out of memory allocating " + std::to_string(bytes) + " bytes");
  g_os_allocs.fetch_add(1, std::memory_order_relaxed);
  g_os_bytes.fetch_add(n, std::memory_order_relaxed);
  return p;
}

void* os_alloc_huge(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t n = std::max((bytes + kHuge - 1) / kHuge * kHuge, kHuge);
  void* p = std::aligned_alloc(kHuge, n);
  if (!p) throw Error(ErrorCode::kRuntime, "out of memory allocating " + std::to_string(bytes) + " bytes");
  madvise(p, n, MADV_HUGEPAGE);  // advice only: failure is harmless
  g_os_allocs.fetch_add(1, std::memory_order_relaxed);
  g_os_bytes.fetch_add(n, std::memory_order_relaxed);
  return p;
}

void os_free(void* p) { std::free(p); }

size_t pool_block_size(size_t bytes) {
  const size_t b = std::max(align_up(bytes), kAlign);
  if (b <= 4096) return b;
  // Eight sizes per power of two: at most 12.5% rounding.
  const size_t step = size_t{1} << (floor_log2(b - 1) - 3);
  return (b + step - 1) / step * step;
}

void* pool_alloc(size_t bytes, size_t* capacity) {
  const size_t want = pool_block_size(bytes);
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    auto it = std::lower_bound(p.blocks.begin(), p.blocks.end(), std::pair<size_t, void*>(want, nullptr));
    if (it != p.blocks.end() && it->first <= want + want / 2) {
      void* ptr = it->second;
      *capacity = it->first;
      p.cached -= it->first;
      p.blocks.erase(it);
      g_pool_hits.fetch_add(1, std::memory_order_relaxed);
      return ptr;
    }
  }
  g_pool_misses.fetch_add(1, std::memory_order_relaxed);
  *capacity = want;
  return os_alloc(want);
}

void pool_free(void* ptr, size_t capacity) {
  if (!ptr) return;
  if (capacity > kMaxPooledBlock) {
    os_free(ptr);
    return;
  }
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    if (p.cached + capacity <= kPoolCapBytes) {
      const std::pair<size_t, void*> b(capacity, ptr);
      p.blocks.insert(std::upper_bound(p.blocks.begin(), p.blocks.end(), b), b);
      p.cached += capacity;
      return;
    }
  }
  os_free(ptr);
}

void pool_trim() {
  std::vector<std::pair<size_t, void*>> blocks;
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mu);
    blocks.swap(p.blocks);
    p.cached = 0;
  }
  for (auto& b : blocks) os_free(b.second);
}

ScopedRunAllocator::ScopedRunAllocator(RunAllocator* a) : saved_(t_run), saved_level_(t_run_level) {
  t_run = a;
  t_run_level = omp_get_level();
  g_active_runs.fetch_add(1, std::memory_order_relaxed);
}

ScopedRunAllocator::~ScopedRunAllocator() {
  g_active_runs.fetch_sub(1, std::memory_order_relaxed);
  t_run = saved_;
  t_run_level = saved_level_;
}

std::shared_ptr<void> tensor_storage(size_t bytes) {
  if (RunAllocator* a = t_run) {
    // Inside a parallel region opened during the run, the order of
    // allocations varies between runs; the planned arena only sees the run
    // thread's sequential ones. (The run itself may be called from within
    // a parallel region of the caller.)
    if (omp_get_level() == t_run_level) return a->allocate(bytes);
  }
  if (t_run || g_active_runs.load(std::memory_order_relaxed) > 0) {
    size_t cap = 0;
    void* p = pool_alloc(bytes, &cap);
    return std::shared_ptr<void>(p, [cap](void* q) { pool_free(q, cap); });
  }
  return std::shared_ptr<void>(os_alloc(bytes), [](void* q) { os_free(q); });
}

}  // namespace pier::memory
