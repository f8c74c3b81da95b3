#include "kernels/util/dnnl_util.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/memory.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels::dnnl_util {

const dnnl::engine& engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dt to_dnnl(DataType t) {
  switch (t) {
    case DataType::kFloat: return dt::f32;
    case DataType::kFloat16: return dt::f16;
    case DataType::kBFloat16: return dt::bf16;
    case DataType::kInt8: return dt::s8;
    case DataType::kUInt8: return dt::u8;
    case DataType::kInt32: return dt::s32;
    default: return dt::undef;
  }
}

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  const unsigned hc = std::thread::hardware_concurrency();
  return hc ? static_cast<int>(hc) : 1;
}

ThreadScope::ThreadScope(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(std::max(n, 1)); }
ThreadScope::~ThreadScope() { omp_set_num_threads(saved_); }

tag plain_tag(size_t rank) {
  switch (rank) {
    case 0:
    case 1: return tag::a;
    case 2: return tag::ab;
    case 3: return tag::abc;
    case 4: return tag::abcd;
    case 5: return tag::abcde;
    case 6: return tag::abcdef;
    default: throw Error(ErrorCode::kUnsupported, "oneDNN tensors have at most 6 dimensions, got " + std::to_string(rank));
  }
}

dnnl::memory::desc plain_md(const dims& d, dt type) {
  if (d.empty()) return dnnl::memory::desc({1}, type, tag::a);
  if (d.size() <= 6) return dnnl::memory::desc(d, type, plain_tag(d.size()));
  dims strides(d.size(), 1);
  for (size_t i = d.size() - 1; i-- > 0;) strides[i] = strides[i + 1] * d[i + 1];
  return dnnl::memory::desc(d, type, strides);
}


dnnl::memory::desc strided_md(const dims& d, dt type, const dims& strides) { return dnnl::memory::desc(d, type, strides); }

dnnl::memory wrap(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, engine(), const_cast<void*>(data));
}

dnnl::memory make_owned(const dnnl::memory::desc& md) { return dnnl::memory(md, engine()); }

Reorder::Reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  try {
    pd = dnnl::reorder::primitive_desc(engine(), from, engine(), to, attr());
    prim = dnnl::reorder(pd);
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kUnsupported, std::string("oneDNN cannot create a reorder: ") + e.what());
  }
}

void Reorder::operator()(const dnnl::memory& from, const dnnl::memory& to) const {
  run(prim, pd, {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
}

void reorder(const dnnl::memory& src, const dnnl::memory& dst) {
  try {
    dnnl::reorder::primitive_desc pd(engine(), src.get_desc(), engine(), dst.get_desc(), attr());
    dnnl::reorder prim(pd);
    run(prim, pd, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kRuntime, std::string("oneDNN reorder failed: ") + e.what());
  }
}

dnnl::memory reorder_to(const dnnl::memory& src, const dnnl::memory::desc& want) {
  if (src.get_desc() == want) return src;
  dnnl::memory out = make_owned(want);
  reorder(src, out);
  return out;
}

dnnl::primitive_attr attr() {
  dnnl::primitive_attr a;
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// ---- temporary buffers: the process-wide caching pool (core/memory.h) ----

TempBuffer::TempBuffer(size_t bytes) {
  if (bytes == 0) return;
  data_ = memory::pool_alloc(bytes, &cap_);
}

TempBuffer::~TempBuffer() {
  if (data_) memory::pool_free(data_, cap_);
}

TempBuffer& TempBuffer::operator=(TempBuffer&& o) noexcept {
  if (this != &o) {
    TempBuffer tmp(std::move(*this));
    data_ = o.data_;
    cap_ = o.cap_;
    o.data_ = nullptr;
    o.cap_ = 0;
  }
  return *this;
}

dnnl::memory temp_memory(const dnnl::memory::desc& md, TempBuffer& holder) {
  holder = TempBuffer(md.get_size());
  return wrap(md, holder.data());
}

void run(const dnnl::primitive& prim, const dnnl::primitive_desc_base& pd, Args args) {
  try {
    const dnnl::memory::desc sp = pd.scratchpad_desc();
    TempBuffer scratch(sp.get_size());
    if (sp.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, wrap(sp, scratch.data()));
    dnnl::stream& s = stream();
    prim.execute(s, args);
    s.wait();
  } catch (const dnnl::error& e) {
    throw Error(ErrorCode::kRuntime, std::string("oneDNN execution failed: ") + e.what());
  }
}

size_t KeyHash::operator()(const std::vector<int64_t>& k) const noexcept {
  uint64_t h = 1469598103934665603ull;
  for (int64_t v : k) {
    h ^= static_cast<uint64_t>(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h *= 1099511628211ull;
  }
  return static_cast<size_t>(h);
}

// ---- packed weights ----------------------------------------------------------

void PackedWeights::set_source(const dnnl::memory::desc& plain, const Tensor& weights) {
  plain_ = plain;
  weights_ = weights;
  source_set_ = true;
}

dnnl::memory PackedWeights::get(const dnnl::memory::desc& want) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [md, mem] : packed_)
    if (md == want) return mem;
  dnnl::memory src = wrap(plain_, weights_.raw());
  dnnl::memory packed = reorder_to(src, want);
  packed_.emplace_back(want, packed);
  return packed;
}

// ---- float conversion --------------------------------------------------------

ConstantInput::ConstantInput(const Tensor* t) {
  if (!t || t->dtype() == DataType::kString) return;
  original = *t;
  const DataType d = t->dtype();
  if (d == DataType::kFloat || d == DataType::kDouble || d == DataType::kFloat16 || d == DataType::kBFloat16)
    f32 = as_float(*t);
}

Tensor as_float(const Tensor& t) { return cast_tensor(t, DataType::kFloat); }
Tensor from_float(const Tensor& t, DataType dtype) { return cast_tensor(t, dtype); }

}  // namespace pier::kernels::dnnl_util
