#include "kernels/util/dnnl_util.h"

#include <immintrin.h>
#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/memory.h"
#include "kernels/util/parallel.h"
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

namespace {

// Storage for packed weights. Buffers of 2 MB and more are 2 MB aligned and
// advised as transparent huge pages: convolutions stream their weights from
// memory on every run, and one TLB entry then covers 2 MB instead of 4 KB.
std::shared_ptr<void> weight_storage(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t align = bytes >= kHuge ? kHuge : 64;
  const size_t n = std::max<size_t>((bytes + 4095) / 4096 * 4096, 4096);
  void* p = nullptr;
  if (posix_memalign(&p, align, n) != 0 || !p)
    throw Error(ErrorCode::kRuntime, "out of memory allocating " + std::to_string(n) + " bytes of weights");
  // A hint; the whole 2 MB extents get huge pages, a partial tail does not.
  if (align == kHuge) madvise(p, n, MADV_HUGEPAGE);
  return std::shared_ptr<void>(p, std::free);
}

}  // namespace

dnnl::memory PackedWeights::get(const dnnl::memory::desc& want) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [md, mem] : packed_)
    if (md == want) return mem;
  dnnl::memory src = wrap(plain_, weights_.raw());
  if (src.get_desc() == want) {
    packed_.emplace_back(want, src);
    return src;
  }
  std::shared_ptr<void> store = weight_storage(want.get_size());
  dnnl::memory packed(want, engine(), store.get());
  reorder(src, packed);
  storage_.push_back(std::move(store));
  packed_.emplace_back(want, packed);
  return packed;
}

// ---- post-ops and channels-last -------------------------------------------------

std::vector<PostOp> parse_post_ops(const ir::Node& node) {
  const auto kinds = node.attr_strings("post_ops");
  const auto alphas = node.attr_floats("post_alpha");
  const auto betas = node.attr_floats("post_beta");
  std::vector<PostOp> ops;
  for (size_t i = 0; i < kinds.size(); ++i) {
    PostOp op;
    const std::string& k = kinds[i];
    if (k == "relu") op.kind = PostOp::kRelu;
    else if (k == "clip") op.kind = PostOp::kClip;
    else if (k == "hardsigmoid") op.kind = PostOp::kHardSigmoid;
    else if (k == "hardswish") op.kind = PostOp::kHardSwish;
    else if (k == "sigmoid") op.kind = PostOp::kSigmoid;
    else if (k == "tanh") op.kind = PostOp::kTanh;
    else if (k == "elu") op.kind = PostOp::kElu;
    else if (k == "swish") op.kind = PostOp::kSwish;
    else if (k == "sum") op.kind = PostOp::kSum;
    else throw Error(ErrorCode::kInvalidModel, "unknown fused post-op \"" + k + "\"");
    op.alpha = i < alphas.size() ? alphas[i] : 0.f;
    op.beta = i < betas.size() ? betas[i] : 0.f;
    ops.push_back(op);
  }
  return ops;
}

bool has_sum(const std::vector<PostOp>& ops) {
  return std::any_of(ops.begin(), ops.end(), [](const PostOp& o) { return o.kind == PostOp::kSum; });
}

dnnl::post_ops to_dnnl(const std::vector<PostOp>& ops) {
  using A = dnnl::algorithm;
  dnnl::post_ops po;
  for (const auto& op : ops) {
    switch (op.kind) {
      case PostOp::kRelu: po.append_eltwise(1.f, A::eltwise_relu, op.alpha, 0.f); break;
      case PostOp::kClip: po.append_eltwise(1.f, A::eltwise_clip, op.alpha, op.beta); break;
      case PostOp::kHardSigmoid:
        po.append_eltwise(1.f, A::eltwise_linear, op.alpha, op.beta);
        po.append_eltwise(1.f, A::eltwise_clip, 0.f, 1.f);
        break;
      case PostOp::kHardSwish: po.append_eltwise(1.f, A::eltwise_hardswish, 0.f, 0.f); break;
      case PostOp::kSigmoid: po.append_eltwise(1.f, A::eltwise_logistic, 0.f, 0.f); break;
      case PostOp::kTanh: po.append_eltwise(1.f, A::eltwise_tanh, 0.f, 0.f); break;
      case PostOp::kElu: po.append_eltwise(1.f, A::eltwise_elu, op.alpha, 0.f); break;
      case PostOp::kSwish: po.append_eltwise(1.f, A::eltwise_swish, 1.f, 0.f); break;
      case PostOp::kSum: po.append_sum(1.f); break;
    }
  }
  return po;
}

bool fast_swish_available() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}

namespace {
inline float sigmoid(float v) { return v >= 0 ? 1.f / (1.f + std::exp(-v)) : std::exp(v) / (1.f + std::exp(v)); }

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized (_mm512_undefined_ps).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// x * sigmoid(x) on 16 lanes: exp(-x) by range reduction and Cephes'
// degree-6 polynomial, 1/(1+e) by rcp14 and one Newton step (max relative
// error 2.4e-7 over [-100, 100]; no division).
__attribute__((target("avx512f"))) inline __m512 swish16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.f);
  const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), x), _mm512_set1_ps(-87.f)),
                                 _mm512_set1_ps(88.f));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(1.44269504f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693359375f), t);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(1.9875691500e-4f), r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, one));
  const __m512 d = _mm512_add_ps(one, _mm512_scalef_ps(p, k));
  __m512 rc = _mm512_rcp14_ps(d);
  rc = _mm512_mul_ps(rc, _mm512_fnmadd_ps(d, rc, _mm512_set1_ps(2.f)));
  return _mm512_mul_ps(x, rc);
}

__attribute__((target("avx512f"))) void swish_avx512(float* v, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(v + i, swish16(_mm512_loadu_ps(v + i)));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(v + i, m, swish16(_mm512_maskz_loadu_ps(m, v + i)));
  }
}

#pragma GCC diagnostic pop


float apply_one(const PostOp& op, float v) {
  switch (op.kind) {
    case PostOp::kRelu: return v > 0 ? v : v * op.alpha;
    case PostOp::kClip: return std::min(std::max(v, op.alpha), op.beta);
    case PostOp::kHardSigmoid: return std::min(std::max(op.alpha * v + op.beta, 0.f), 1.f);
    case PostOp::kHardSwish: return v * std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case PostOp::kSigmoid: return sigmoid(v);
    case PostOp::kTanh: return std::tanh(v);
    case PostOp::kElu: return v > 0 ? v : op.alpha * (std::exp(v) - 1.f);
    case PostOp::kSwish: return v * sigmoid(v);
    case PostOp::kSum: return v;
  }
  return v;
}
}  // namespace

void apply_post_ops(const std::vector<PostOp>& ops, float* y, const float* sum, int64_t n, int threads) {
  // Op by op over cache-sized chunks, so each inner loop is one plain
  // (vectorizable) function.
  constexpr int64_t kChunk = 2048;
  parallel_for(threads, (n + kChunk - 1) / kChunk, 8, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      float* v = y + k * kChunk;
      const int64_t m = std::min(kChunk, n - k * kChunk);
      for (const auto& op : ops) {
        if (op.kind == PostOp::kSum) {
          const float* z = sum + k * kChunk;
          for (int64_t i = 0; i < m; ++i) v[i] += z[i];
        } else if (op.kind == PostOp::kRelu && op.alpha == 0.f) {
          for (int64_t i = 0; i < m; ++i) v[i] = std::max(v[i], 0.f);
        } else if (op.kind == PostOp::kSwish && fast_swish_available()) {
          swish_avx512(v, m);
        } else if (op.kind == PostOp::kClip) {
          for (int64_t i = 0; i < m; ++i) v[i] = std::min(std::max(v[i], op.alpha), op.beta);
        } else {
          for (int64_t i = 0; i < m; ++i) v[i] = apply_one(op, v[i]);
        }
      }
    }
  });
}

Shape to_channels_last(const Shape& s) {
  if (s.size() < 3) return s;
  Shape p{s[0]};
  p.insert(p.end(), s.begin() + 2, s.end());
  p.push_back(s[1]);
  return p;
}

Shape from_channels_last(const Shape& s) {
  if (s.size() < 3) return s;
  Shape l{s[0], s.back()};
  l.insert(l.end(), s.begin() + 1, s.end() - 1);
  return l;
}

dnnl::memory::desc channels_last_md(const dims& d, dt type) {
  switch (d.size()) {
    case 3: return dnnl::memory::desc(d, type, tag::nwc);
    case 4: return dnnl::memory::desc(d, type, tag::nhwc);
    case 5: return dnnl::memory::desc(d, type, tag::ndhwc);
    default: throw Error(ErrorCode::kUnsupported, "channels-last tensors have rank 3 to 5");
  }
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
