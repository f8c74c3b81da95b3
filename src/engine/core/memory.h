// Where tensor storage comes from.
//
//  - OS heap: fresh 64-byte aligned blocks (aligned_alloc / mmap). Every
//    fresh block is counted, so tests can assert that repeated runs make
//    none ("no allocation on the hot path").
//  - Caching pool: a process-wide, size-bucketed free list of blocks that
//    are kept instead of being returned to the OS (bounded in total bytes).
//    Used for kernel temporaries during runs and by oneDNN scratch buffers.
//  - Run allocator: while a Session runs, the calling thread has a
//    RunAllocator (exec/memory_planner.h) that places tensors in a planned
//    arena. Tensor(...) storage made on that thread outside the OpenMP
//    parallel regions the run opens goes there; elsewhere during a run it
//    comes from the pool, and outside runs (model loading) from the OS heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pier::memory {

constexpr size_t kAlign = 64;

inline size_t align_up(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// Process-wide counters (monotonic unless noted).
struct Counters {
  uint64_t os_allocs = 0;      // fresh blocks taken from the OS heap
  uint64_t os_bytes = 0;       // their total size
  uint64_t pool_hits = 0;      // pool requests served from cached blocks
  uint64_t pool_misses = 0;    // pool requests that needed a fresh block
  size_t pool_cached_bytes = 0;  // bytes held in the pool now (not monotonic)
};
Counters counters();

// Fresh 64-byte aligned block of at least `bytes` (counted); raises
// Error(kRuntime) when out of memory. Release with os_free.
void* os_alloc(size_t bytes);
// Same for a large block aligned to 2 MiB, with transparent huge pages
// requested (fewer page faults and TLB misses); `bytes` is rounded up to
// 2 MiB. Release with os_free.
void* os_alloc_huge(size_t bytes);
void os_free(void* p);

// A block of at least `bytes` from the caching pool; `*capacity` gets its
// real size, which pool_free needs back.
void* pool_alloc(size_t bytes, size_t* capacity);
void pool_free(void* p, size_t capacity);
// Returns every cached block to the OS.
void pool_trim();
// Size the pool rounds a request of `bytes` up to.
size_t pool_block_size(size_t bytes);

// The source of tensor storage for one run on one thread.
class RunAllocator {
 public:
  virtual ~RunAllocator() = default;
  // Storage of `bytes` (a multiple of kAlign, > 0), 64-byte aligned and
  // uninitialized, owned by the returned pointer.
  virtual std::shared_ptr<void> allocate(size_t bytes) = 0;
};

// Installs `a` as this thread's run allocator for the scope and marks a
// run as active (so that worker threads take temporaries from the pool).
class ScopedRunAllocator {
 public:
  explicit ScopedRunAllocator(RunAllocator* a);
  ~ScopedRunAllocator();
  ScopedRunAllocator(const ScopedRunAllocator&) = delete;
  ScopedRunAllocator& operator=(const ScopedRunAllocator&) = delete;

 private:
  RunAllocator* saved_;
  int saved_level_;
};

// Storage for `bytes` (a multiple of kAlign) of numeric tensor data, from
// the source described at the top of this file.
std::shared_ptr<void> tensor_storage(size_t bytes);

}  // namespace pier::memory
