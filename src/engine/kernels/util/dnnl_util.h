// Shared oneDNN glue for the heavy kernels (conv, matmul, pooling, RNN) and
// later fusion passes:
//  - one CPU engine for the process, one stream per calling thread;
//  - memory-descriptor helpers for Pier's plain row-major tensors;
//  - PrimitiveCache: per-kernel, mutex-protected map from a shape key to
//    whatever the kernel built for that shape (primitive, packed weights);
//  - run(): executes a primitive with a user scratchpad taken from a
//    caching pool, so concurrent compute() calls never share one;
//  - ThreadScope: creates primitives for the thread count they will run on
//    (oneDNN picks its blocking and scratchpad size from it).
//
// oneDNN's own errors (dnnl::error) are turned into pier::Error by the
// helpers here; kernels should call them rather than dnnl directly when
// executing.
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "pier/engine.h"

namespace pier::kernels::dnnl_util {

using dims = dnnl::memory::dims;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// The process-wide CPU engine.
const dnnl::engine& engine();
// A stream on engine() owned by the calling thread.
dnnl::stream& stream();

// oneDNN type for a Pier type; dt::undef when oneDNN has none.
dt to_dnnl(DataType t);

// Thread count a session with `requested` threads runs with (0: one per core).
int resolve_threads(int requested);

// Sets omp_set_num_threads(n) on this thread for the scope, then restores.
// Wrap primitive creation in it so the primitive matches the run's team.
class ThreadScope {
 public:
  explicit ThreadScope(int n);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  int saved_;
};

inline dims to_dims(const Shape& s) { return dims(s.begin(), s.end()); }
// Row-major (plain) format tag for a rank (1..6).
tag plain_tag(size_t rank);
// Row-major descriptor for dims (Shape and dims are the same type; a
// scalar is treated as [1]).
dnnl::memory::desc plain_md(const dims& d, dt type);
// Descriptor with explicit strides (elements).
dnnl::memory::desc strided_md(const dims& d, dt type, const dims& strides);

// Wraps a buffer owned elsewhere (the pointer may be const; oneDNN only
// writes to destination arguments).
dnnl::memory wrap(const dnnl::memory::desc& md, const void* data);

// A memory object that owns its buffer (used for packed weights).
dnnl::memory make_owned(const dnnl::memory::desc& md);

// Copies `src` into a new owned memory of descriptor `want` (a reorder);
// returns `src` itself when the descriptors already match.
dnnl::memory reorder_to(const dnnl::memory& src, const dnnl::memory::desc& want);
// Reorders between two memories (same logical dims); runs on stream().
void reorder(const dnnl::memory& src, const dnnl::memory& dst);

// A reorder primitive between two fixed descriptors (cache it with the
// primitive that needs it; creating one costs microseconds).
struct Reorder {
  dnnl::reorder::primitive_desc pd;
  dnnl::reorder prim;
  Reorder() = default;
  Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to);
  // Runs from -> to on this thread's stream.
  void operator()(const dnnl::memory& from, const dnnl::memory& to) const;
};

// Primitive attributes with a user-managed scratchpad (always use these so
// that run() can hand each call its own scratchpad).
dnnl::primitive_attr attr();

// A temporary buffer from the caching pool (64-byte aligned); returned
// to the pool on destruction. Safe to nest.
class TempBuffer {
 public:
  TempBuffer() = default;
  explicit TempBuffer(size_t bytes);
  ~TempBuffer();
  TempBuffer(TempBuffer&& o) noexcept : data_(o.data_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.cap_ = 0;
  }
  TempBuffer& operator=(TempBuffer&& o) noexcept;
  TempBuffer(const TempBuffer&) = delete;
  TempBuffer& operator=(const TempBuffer&) = delete;
  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t cap_ = 0;
};

// Memory for descriptor `md` backed by a TempBuffer held in `holder`.
dnnl::memory temp_memory(const dnnl::memory::desc& md, TempBuffer& holder);

using Args = std::unordered_map<int, dnnl::memory>;
// Executes `prim` with `args` on this thread's stream, adding a scratchpad
// of `pd`'s size, and waits. dnnl errors become pier::Error(kRuntime).
void run(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd, Args args);

// Creates a primitive descriptor, translating dnnl errors into
// pier::Error(kUnsupported) naming `what`.
template <typename F>
auto create_pd(const char* what, F&& make) -> decltype(make()) {
  try {
    return make();
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnsupported, std::string("oneDNN cannot create ") + what + ": " + e.what());
  }
}

// Hash of a vector of int64 (cache keys).
struct KeyHash {
  size_t operator()(const std::vector<int64_t>& k) const noexcept;
};

// Per-kernel cache from a key (usually input dims, dtype and thread count)
// to an immutable entry built by `make`. Thread-safe; an entry is built
// outside the lock (two threads may both build; one wins). When the cache
// exceeds `capacity` entries it is cleared (dynamic shapes must not grow it
// without bound; in-flight users keep their shared_ptr).
template <typename V>
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity = 64) : capacity_(capacity) {}

  template <typename F>
  std::shared_ptr<const V> get(const std::vector<int64_t>& key, F&& make) const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) return it->second;
    }
    std::shared_ptr<const V> built = std::make_shared<const V>(make());
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.size() >= capacity_) map_.clear();
    auto [it, inserted] = map_.emplace(key, built);
    return it->second;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::vector<int64_t>, std::shared_ptr<const V>, KeyHash> map_;
};

// Constant weights reordered into the layouts primitives ask for, shared by
// all cache entries that want the same layout. Thread-safe.
class PackedWeights {
 public:
  PackedWeights() = default;
  // `plain` describes the contents of `weights` (the tensor is kept).
  void set_source(const dnnl::memory::desc& plain, const Tensor& weights);
  bool has_source() const { return source_set_; }
  // The weights in layout `want` (reordered once, then cached).
  dnnl::memory get(const dnnl::memory::desc& want) const;

 private:
  bool source_set_ = false;
  dnnl::memory::desc plain_;
  Tensor weights_;
  mutable std::mutex mu_;
  mutable std::vector<std::pair<dnnl::memory::desc, dnnl::memory>> packed_;
  mutable std::vector<std::shared_ptr<void>> storage_;  // buffers of packed_
};

// A constant input (initializer) captured at kernel creation, with a float
// copy. Feeds may override initializers, so check matches() at run time.
struct ConstantInput {
  Tensor original, f32;
  ConstantInput() = default;
  explicit ConstantInput(const Tensor* t);  // t may be null
  bool defined() const { return original.defined(); }
  bool matches(const Tensor& t) const {
    return original.defined() && t.storage_id() == original.storage_id() && t.shape() == original.shape() &&
           t.dtype() == original.dtype();
  }
};

// Fused post-ops of pier.internal::FusedConv (see passes/fuse_conv_activation.cc):
// element-wise functions and a residual sum, applied in order to the
// convolution's result.
struct PostOp {
  enum Kind { kRelu, kClip, kHardSigmoid, kHardSwish, kSigmoid, kTanh, kElu, kSwish, kSum };
  Kind kind = kRelu;
  float alpha = 0, beta = 0;
};
// Reads post_ops / post_alpha / post_beta; raises kInvalidModel on unknown kinds.
std::vector<PostOp> parse_post_ops(const ir::Node& node);
// The oneDNN post-op chain (the sum reads the destination's prior contents).
dnnl::post_ops to_dnnl(const std::vector<PostOp>& ops);
// Applies `ops` to y[0..n) in place; `sum` (n values) feeds kSum. The
// reference used when a primitive cannot take the chain.
void apply_post_ops(const std::vector<PostOp>& ops, float* y, const float* sum, int64_t n, int threads);
bool has_sum(const std::vector<PostOp>& ops);
// apply_post_ops() runs swish with AVX-512 (0.2 ns/element, against 0.35-0.45
// for oneDNN 2.6's fused swish, which divides).
bool fast_swish_available();

// Channels-last ("NHWC") activations: a tensor of logical shape
// [N, C, D1, ..., Dk] stored as [N, D1, ..., Dk, C].
Shape to_channels_last(const Shape& logical);
Shape from_channels_last(const Shape& physical);
// oneDNN descriptor of a channels-last tensor given its logical dims.
dnnl::memory::desc channels_last_md(const dims& logical, dt type);

// Float conversions for types oneDNN paths do not take directly
// (double, and float16 where a primitive lacks it): a float copy of `t`
// (or `t` itself when already float) and a copy back into `dtype`.
Tensor as_float(const Tensor& t);
Tensor from_float(const Tensor& t, DataType dtype);

}  // namespace pier::kernels::dnnl_util
