// MatMul (numpy semantics: 1-D operands, batch broadcasting) and Gemm
// (transA/transB, alpha, beta, C broadcast, C optional from opset 11) on
// oneDNN's matmul primitive.
//
// MatMul folds A's batch into M when B has no batch (the Linear-layer case)
// and then packs a constant B once into oneDNN's preferred layout; other
// batched products use oneDNN's batch broadcasting. Gemm describes
// transposed operands with strides, applies alpha as an output scale and
// fuses C as bias (C broadcast along rows) or as a sum post-op (other
// shapes). Floating types other than float run through float; integer
// MatMul/Gemm (opset 9+) use a plain blocked loop.
//
// The same kernels implement pier.internal::FusedMatMul (a per-column bias
// as input 2) and FusedGemm, both with an optional `activation` run as a
// oneDNN eltwise post-op (see passes/fuse_matmul_add.cc). Packed constant
// weights are shared by all kernels packing the same tensor.
#include <cmath>
#include <cstring>
#include <optional>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

bool is_float_type(DataType t) {
  return t == DataType::kFloat || t == DataType::kDouble || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

struct MmEntry {
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
};

// An activation applied to the product (the fused ops' `activation`
// attribute): none, or a oneDNN eltwise post-op.
struct Activation {
  bool on = false;
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;

  static Activation parse(const ir::Node& node) {
    const std::string a = node.attr_string("activation", "");
    Activation act;
    if (a.empty()) return act;
    act.on = true;
    if (a == "Relu") act.alg = dnnl::algorithm::eltwise_relu;
    else if (a == "Gelu") act.alg = dnnl::algorithm::eltwise_gelu_erf;
    else if (a == "GeluTanh") act.alg = dnnl::algorithm::eltwise_gelu_tanh;
    else if (a == "Sigmoid") act.alg = dnnl::algorithm::eltwise_logistic;
    else if (a == "Tanh") act.alg = dnnl::algorithm::eltwise_tanh;
    else throw Error(ErrorCode::kInvalidModel, "unknown fused activation \"" + a + "\"");
    return act;
  }

  // The same function on one value (for the degenerate K == 0 products).
  float scalar(float v) const {
    switch (alg) {
      case dnnl::algorithm::eltwise_relu: return v > 0.f ? v : 0.f;
      case dnnl::algorithm::eltwise_gelu_erf: return 0.5f * v * (1.f + std::erf(v * static_cast<float>(M_SQRT1_2)));
      case dnnl::algorithm::eltwise_gelu_tanh:
        return 0.5f * v * (1.f + std::tanh(0.7978845608f * (v + 0.044715f * v * v * v)));
      case dnnl::algorithm::eltwise_logistic: return 1.f / (1.f + std::exp(-v));
      default: return std::tanh(v);
    }
  }
};

// Constant weights packed into a primitive's layout, shared by every
// kernel in the process that packs the same tensor into the same layout.
// Models that reuse one initializer in several layers (encoders whose
// layers were deep-copied from one module, ALBERT-style sharing) then keep
// one packed copy, which stays in cache, instead of one per layer (on the
// 4-layer bench encoder, 4 copies streamed from DRAM cost ~15% of the
// matmul time). An entry holds its source tensor, so a pointer match is a
// match of the data for as long as the entry lives; entries die with the
// last kernel using them.
class SharedPackedWeights {
 public:
  void set_source(const dnnl::memory::desc& plain, const Tensor& weights) {
    plain_ = plain;
    source_ = weights;
    set_ = true;
  }
  bool has_source() const { return set_; }

  dnnl::memory get(const dnnl::memory::desc& want) const {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& e : mine_)
        if (e->want == want) return e->packed;
    }
    std::shared_ptr<Entry> entry = find_or_pack(want);
    std::lock_guard<std::mutex> lock(mu_);
    mine_.push_back(entry);
    return entry->packed;
  }

 private:
  struct Entry {
    Tensor source;
    dnnl::memory::desc plain, want;
    dnnl::memory packed;
  };

  std::shared_ptr<Entry> find_or_pack(const dnnl::memory::desc& want) const {
    static std::mutex registry_mu;
    static std::vector<std::weak_ptr<Entry>> registry;
    std::lock_guard<std::mutex> lock(registry_mu);
    std::shared_ptr<Entry> found;
    for (auto it = registry.begin(); it != registry.end();) {
      std::shared_ptr<Entry> e = it->lock();
      if (!e) {
        it = registry.erase(it);
        continue;
      }
      if (!found && e->source.raw() == source_.raw() && e->source.nbytes() == source_.nbytes() &&
          e->plain == plain_ && e->want == want)
        found = e;
      ++it;
    }
    if (found) return found;
    auto e = std::make_shared<Entry>();
    e->source = source_;
    e->plain = plain_;
    e->want = want;
    e->packed = du::reorder_to(du::wrap(plain_, source_.raw()), want);
    registry.push_back(e);
    return e;
  }

  bool set_ = false;
  dnnl::memory::desc plain_;
  Tensor source_;
  mutable std::mutex mu_;
  mutable std::vector<std::shared_ptr<Entry>> mine_;
};

// Builds a matmul. `b_any` lets oneDNN choose B's layout (B is then packed
// by the caller). `alpha` != 1 becomes an output scale (applied to the
// bias too); `accumulate` adds the previous dst (sum post-op); `act` runs
// last.
MmEntry build_matmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b, bool b_any,
                     const dnnl::memory::desc& bias, const dnnl::memory::desc& dst, float alpha, bool accumulate,
                     const Activation& act = {}) {
  MmEntry e;
  dnnl::primitive_attr at = du::attr();
  if (alpha != 1.f) at.set_output_scales(0, {alpha});
  if (accumulate || act.on) {
    dnnl::post_ops po;
    if (accumulate) po.append_sum(1.f);
    if (act.on) po.append_eltwise(1.f, act.alg, 0.f, 0.f);
    at.set_post_ops(po);
  }
  const dnnl::memory::desc b_md = b_any ? dnnl::memory::desc(b.dims(), du::dt::f32, du::tag::any) : b;
  e.pd = du::create_pd("MatMul", [&] {
    dnnl::matmul::desc d(a, b_md, bias, dst);
    return dnnl::matmul::primitive_desc(d, at, du::engine());
  });
  e.prim = dnnl::matmul(e.pd);
  return e;
}

// Integer product C[m,n] (+)= sum_k A[m,k] * B[k,n] with element strides,
// for one batch; wraps like the ONNX integer types do.
template <typename T>
void int_gemm(int threads, int64_t M, int64_t N, int64_t K, const T* a, int64_t sam, int64_t sak, const T* b,
              int64_t sbk, int64_t sbn, T* c) {
  parallel_for(threads, M, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, N * K)), [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      T* row = c + m * N;
      for (int64_t n = 0; n < N; ++n) row[n] = T{0};
      for (int64_t k = 0; k < K; ++k) {
        const T av = a[m * sam + k * sak];
        const T* brow = b + k * sbk;
        for (int64_t n = 0; n < N; ++n) row[n] = static_cast<T>(row[n] + av * brow[n * sbn]);
      }
    }
  });
}

// ---- MatMul --------------------------------------------------------------------

class MatMulKernel final : public OpKernel {
 public:
  explicit MatMulKernel(const KernelInit& init) {
    // pier.internal::FusedMatMul adds a bias (input 2, one value per output
    // column) and an activation; plain MatMul has neither.
    act_ = Activation::parse(init.node);
    has_bias_ = init.node.has_input(2);
    b_ = du::ConstantInput(init.constant_input(1));
    if (b_.f32.defined() && b_.f32.rank() <= 2 && b_.f32.rank() >= 1) {
      const Shape& bs = b_.f32.shape();
      const du::dims d = bs.size() == 1 ? du::dims{bs[0], 1} : du::dims{bs[0], bs[1]};
      packed_.set_source(du::plain_md(d, du::dt::f32), b_.f32);
      const ValueInfo* ai = init.input_info(0);
      if (ai && ai->has_shape && !ai->dims.empty()) {
        bool known = true;
        for (int64_t v : ai->dims) known = known && v >= 0;
        int64_t rows = 1;
        for (size_t i = 0; known && i + 1 < ai->dims.size(); ++i) rows *= ai->dims[i];
        // No product to prepare when a dim is 0 (compute() handles those
        // without oneDNN, whose primitive creation faults on them).
        if (known && ai->dims.back() == bs[0] && rows > 0 && d[0] > 0 && d[1] > 0) {
          try {
            const int threads = du::resolve_threads(init.options.threads);
            du::ThreadScope ts(threads);
            auto e = folded_entry(rows, d[0], d[1], true, threads);
            packed_.get(e->pd.weights_desc());
          } catch (const Error&) {
          }
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& a_in = ctx.input(0);
    const Tensor& b_in = ctx.input(1);
    const DataType dtype = a_in.dtype();
    if (b_in.dtype() != dtype)
      throw Error(ErrorCode::kInvalidArgument, std::string("MatMul input types differ: ") + dtype_name(dtype) + " and " +
                                                   dtype_name(b_in.dtype()));
    if (a_in.rank() < 1 || b_in.rank() < 1)
      throw Error(ErrorCode::kInvalidArgument, "MatMul inputs must have rank >= 1");
    const Shape as = a_in.rank() == 1 ? Shape{1, a_in.dim(0)} : a_in.shape();
    const Shape bs = b_in.rank() == 1 ? Shape{b_in.dim(0), 1} : b_in.shape();
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K)
      throw Error(ErrorCode::kInvalidArgument, "MatMul inner dimensions differ: " + shape_str(a_in.shape()) + " x " +
                                                   shape_str(b_in.shape()));
    const Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    const Shape batch = broadcast_shapes(ba, bb);
    Shape out = batch;
    if (a_in.rank() > 1) out.push_back(M);
    if (b_in.rank() > 1) out.push_back(N);
    checked_numel(out, "MatMul output");
    Tensor& y_out = ctx.allocate(0, dtype, out);
    if (y_out.numel() == 0) return;
    const bool fused = has_bias_ || act_.on;
    if (fused && dtype != DataType::kFloat)
      throw Error(ErrorCode::kInvalidArgument, std::string("FusedMatMul takes float inputs, got ") + dtype_name(dtype));
    Tensor bias;
    if (has_bias_) {
      bias = ctx.input(2);
      if (bias.dtype() != DataType::kFloat || bias.numel() != N || b_in.rank() < 2)
        throw Error(ErrorCode::kInvalidArgument, "FusedMatMul bias must hold one float per output column");
    }
    if (K == 0) {
      std::memset(y_out.raw(), 0, y_out.nbytes());
      if (fused) epilogue_only(bias, N, y_out);
      return;
    }
    if (!is_float_type(dtype)) {
      integer_matmul(ctx, a_in, b_in, ba, bb, batch, M, K, N, y_out);
      return;
    }
    const Tensor a = du::as_float(a_in);
    const bool b_const = packed_.has_source() && b_.matches(b_in);
    const Tensor b = b_const ? b_.f32 : du::as_float(b_in);
    Tensor y = dtype == DataType::kFloat ? y_out : Tensor(DataType::kFloat, out);
    du::ThreadScope ts(ctx.threads());
    if (shape_numel(bb) == 1) {
      // B has no batch: fold A's batch into its rows.
      const int64_t rows = shape_numel(ba) * M;
      auto e = folded_entry(rows, K, N, b_const, ctx.threads());
      dnnl::memory wm = b_const ? packed_.get(e->pd.weights_desc()) : du::wrap(e->pd.weights_desc(), b.raw());
      // (batch == A's batch here: B's batch dims are all 1.)
      du::Args args{{DNNL_ARG_SRC, du::wrap(e->pd.src_desc(), a.raw())}, {DNNL_ARG_WEIGHTS, wm},
                    {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), y.raw())}};
      if (has_bias_) args.emplace(DNNL_ARG_BIAS, du::wrap(e->pd.bias_desc(), bias.raw()));
      du::run(e->prim, e->pd, std::move(args));
    } else {
      auto e = batched_entry(ba, bb, batch, M, K, N, ctx.threads());
      du::Args args{{DNNL_ARG_SRC, du::wrap(e->pd.src_desc(), a.raw())},
                    {DNNL_ARG_WEIGHTS, du::wrap(e->pd.weights_desc(), b.raw())},
                    {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), y.raw())}};
      if (has_bias_) args.emplace(DNNL_ARG_BIAS, du::wrap(e->pd.bias_desc(), bias.raw()));
      du::run(e->prim, e->pd, std::move(args));
    }
    if (dtype != DataType::kFloat) y_out = du::from_float(y, dtype).reshaped(out);
  }

 private:
  // `pack`: B is the constant initializer, packed into oneDNN's layout.
  std::shared_ptr<const MmEntry> folded_entry(int64_t rows, int64_t K, int64_t N, bool pack, int threads) const {
    return cache_.get({threads, 0, rows, K, N, pack}, [&] {
      const auto bias = has_bias_ ? du::plain_md(du::dims{1, N}, du::dt::f32) : dnnl::memory::desc();
      return build_matmul(du::plain_md(du::dims{rows, K}, du::dt::f32), du::plain_md(du::dims{K, N}, du::dt::f32), pack,
                          bias, du::plain_md(du::dims{rows, N}, du::dt::f32), 1.f, false, act_);
    });
  }

  std::shared_ptr<const MmEntry> batched_entry(const Shape& ba, const Shape& bb, const Shape& batch, int64_t M,
                                               int64_t K, int64_t N, int threads) const {
    const size_t r = batch.size() + 2;
    if (r > DNNL_MAX_NDIMS)
      throw Error(ErrorCode::kUnsupported, "MatMul supports at most " + std::to_string(DNNL_MAX_NDIMS - 2) +
                                               " batch dimensions");
    auto pad = [&](const Shape& s, int64_t d0, int64_t d1) {
      du::dims d(batch.size() - s.size(), 1);
      d.insert(d.end(), s.begin(), s.end());
      d.push_back(d0);
      d.push_back(d1);
      return d;
    };
    const du::dims ad = pad(ba, M, K), bd = pad(bb, K, N), cd = pad(batch, M, N);
    std::vector<int64_t> key{threads, 1};
    key.insert(key.end(), ad.begin(), ad.end());
    key.insert(key.end(), bd.begin(), bd.end());
    return cache_.get(key, [&] {
      du::dims bias_d(cd.size(), 1);
      bias_d.back() = N;
      const auto bias = has_bias_ ? du::plain_md(bias_d, du::dt::f32) : dnnl::memory::desc();
      return build_matmul(du::plain_md(ad, du::dt::f32), du::plain_md(bd, du::dt::f32), false, bias,
                          du::plain_md(cd, du::dt::f32), 1.f, false, act_);
    });
  }

  // y (all zeros: K == 0) = act(y + bias).
  void epilogue_only(const Tensor& bias, int64_t N, Tensor& y) const {
    float* py = y.data<float>();
    const float* pb = bias.defined() ? bias.data<float>() : nullptr;
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float v = pb ? pb[i % N] : 0.f;
      py[i] = act_.on ? act_.scalar(v) : v;
    }
  }

  void integer_matmul(KernelContext& ctx, const Tensor& a, const Tensor& b, const Shape& ba, const Shape& bb,
                      const Shape& batch, int64_t M, int64_t K, int64_t N, Tensor& y) const {
    const auto sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
    const int64_t nb = shape_numel(batch);
    dispatch_int(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (sizeof(T) < 4) {
        unsupported_type(a.dtype(), "MatMul");
      } else {
        const T* pa = static_cast<const T*>(a.raw());
        const T* pb = static_cast<const T*>(b.raw());
        T* py = static_cast<T*>(y.raw());
        std::vector<int64_t> idx(batch.size(), 0);
        for (int64_t i = 0; i < nb; ++i) {
          int64_t oa = 0, ob = 0, rem = i;
          for (size_t d = batch.size(); d-- > 0;) {
            const int64_t v = rem % batch[d];
            rem /= batch[d];
            oa += v * sa[d];
            ob += v * sb[d];
          }
          int_gemm<T>(ctx.threads(), M, N, K, pa + oa * M * K, K, 1, pb + ob * K * N, N, 1, py + i * M * N);
        }
      }
    });
  }

  Activation act_;
  bool has_bias_ = false;
  du::ConstantInput b_;
  SharedPackedWeights packed_;
  du::PrimitiveCache<MmEntry> cache_;
};

// ---- Gemm ----------------------------------------------------------------------

class GemmKernel final : public OpKernel {
 public:
  explicit GemmKernel(const KernelInit& init) {
    alpha_ = init.node.attr_float("alpha", 1.f);
    beta_ = init.node.attr_float("beta", 1.f);
    trans_a_ = init.node.attr_int("transA", 0) != 0;
    trans_b_ = init.node.attr_int("transB", 0) != 0;
    act_ = Activation::parse(init.node);  // pier.internal::FusedGemm only
    if (init.node.domain.empty() && init.node.since_version < 11 && !init.node.has_input(2))
      throw Error(ErrorCode::kInvalidModel, "Gemm before opset 11 requires input C");
    b_ = du::ConstantInput(init.constant_input(1));
    if (b_.f32.defined() && b_.f32.rank() == 2 && alpha_ != 0.f) {
      packed_.set_source(b_md(b_.f32.shape()), b_.f32);
      const ValueInfo* ai = init.input_info(0);
      const ValueInfo* ci = init.node.has_input(2) ? init.input_info(2) : nullptr;
      if (ai && ai->has_shape && ai->dims.size() == 2 && ai->dims[0] >= 0 && ai->dims[1] >= 0 &&
          (!init.node.has_input(2) || (ci && ci->has_shape))) {
        try {
          const int threads = du::resolve_threads(init.options.threads);
          du::ThreadScope ts(threads);
          const int64_t M = trans_a_ ? ai->dims[1] : ai->dims[0];
          Shape cs;
          if (ci) cs = ci->dims;
          // Empty products never reach oneDNN (see MatMulKernel).
          bool ok = M > 0 && shape_numel(b_.f32.shape()) > 0;
          for (int64_t v : cs) ok = ok && v >= 0;
          if (ok) {
            auto e = entry(M, b_.f32.shape(), init.node.has_input(2) ? &cs : nullptr, true, threads);
            packed_.get(e->pd.weights_desc());
          }
        } catch (const Error&) {
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& a_in = ctx.input(0);
    const Tensor& b_in = ctx.input(1);
    const DataType dtype = a_in.dtype();
    const bool has_c = ctx.has_input(2);
    if (b_in.dtype() != dtype || (has_c && ctx.input(2).dtype() != dtype))
      throw Error(ErrorCode::kInvalidArgument, "Gemm inputs must all have the same type");
    if (a_in.rank() != 2 || b_in.rank() != 2)
      throw Error(ErrorCode::kInvalidArgument, "Gemm A and B must be 2-D, got " + shape_str(a_in.shape()) + " and " +
                                                   shape_str(b_in.shape()));
    const int64_t M = trans_a_ ? a_in.dim(1) : a_in.dim(0), K = trans_a_ ? a_in.dim(0) : a_in.dim(1);
    const int64_t Kb = trans_b_ ? b_in.dim(1) : b_in.dim(0), N = trans_b_ ? b_in.dim(0) : b_in.dim(1);
    if (K != Kb)
      throw Error(ErrorCode::kInvalidArgument, "Gemm inner dimensions differ: A " + shape_str(a_in.shape()) +
                                                   (trans_a_ ? " (transposed)" : "") + ", B " +
                                                   shape_str(b_in.shape()) + (trans_b_ ? " (transposed)" : ""));
    const Shape out{M, N};
    if (has_c) {
      const Shape& cs = ctx.input(2).shape();
      if (cs.size() > 2 || broadcast_shapes(cs, out) != out)
        throw Error(ErrorCode::kInvalidArgument, "Gemm C " + shape_str(cs) + " cannot be broadcast to " +
                                                     shape_str(out));
    }
    Tensor& y_out = ctx.allocate(0, dtype, out);
    if (y_out.numel() == 0) return;
    if (!is_float_type(dtype)) {
      integer_gemm(ctx, a_in, b_in, has_c ? &ctx.input(2) : nullptr, M, K, N, y_out);
      return;
    }
    Tensor y = dtype == DataType::kFloat ? y_out : Tensor(DataType::kFloat, out);
    float* py = static_cast<float*>(y.raw());
    Tensor c;
    if (has_c) c = du::as_float(ctx.input(2));
    if (act_.on && dtype != DataType::kFloat)
      throw Error(ErrorCode::kInvalidArgument, std::string("FusedGemm takes float inputs, got ") + dtype_name(dtype));
    if (alpha_ == 0.f || K == 0) {
      fill_scaled_c(has_c ? &c : nullptr, M, N, py);
      if (act_.on)
        for (int64_t i = 0; i < M * N; ++i) py[i] = act_.scalar(py[i]);
    } else {
      const Tensor a = du::as_float(a_in);
      const bool b_const = packed_.has_source() && b_.matches(b_in);
      const Tensor b = b_const ? b_.f32 : du::as_float(b_in);
      du::ThreadScope ts(ctx.threads());
      const Shape cs = has_c ? c.shape() : Shape{};
      auto e = entry(M, b.shape(), has_c ? &cs : nullptr, b_const, ctx.threads());
      du::Args args{{DNNL_ARG_SRC, du::wrap(a_md(a.shape()), a.raw())},
                    {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), py)}};
      args.emplace(DNNL_ARG_WEIGHTS,
                   b_const ? packed_.get(e->pd.weights_desc()) : du::wrap(e->pd.weights_desc(), b.raw()));
      std::vector<float> bias;
      if (has_c && beta_ != 0.f) {
        if (row_bias(cs, N)) {
          // dst = alpha * (A B + bias), so bias = beta * C / alpha.
          const float* pc = static_cast<const float*>(c.raw());
          bias.resize(static_cast<size_t>(N));
          const float f = beta_ / alpha_;
          for (int64_t j = 0; j < N; ++j) bias[j] = f * pc[c.numel() == 1 ? 0 : j];
          args.emplace(DNNL_ARG_BIAS, du::wrap(e->pd.bias_desc(), bias.data()));
        } else {
          fill_scaled_c(&c, M, N, py);  // the sum post-op adds it
        }
      }
      du::run(e->prim, e->pd, std::move(args));
    }
    if (dtype != DataType::kFloat) y_out = du::from_float(y, dtype);
  }

 private:
  // C adds along rows only (one value per column, or a scalar).
  static bool row_bias(const Shape& cs, int64_t N) {
    (void)N;
    if (cs.size() == 2 && cs[0] != 1) return false;
    return true;
  }

  dnnl::memory::desc a_md(const Shape& as) const {
    // A is [M,K], or [K,M] when transposed.
    return trans_a_ ? du::strided_md({as[1], as[0]}, du::dt::f32, {1, as[1]}) : du::plain_md(as, du::dt::f32);
  }
  dnnl::memory::desc b_md(const Shape& bs) const {
    return trans_b_ ? du::strided_md({bs[1], bs[0]}, du::dt::f32, {1, bs[1]}) : du::plain_md(bs, du::dt::f32);
  }

  std::shared_ptr<const MmEntry> entry(int64_t M, const Shape& bs, const Shape* cs, bool pack, int threads) const {
    const int64_t K = trans_b_ ? bs[1] : bs[0], N = trans_b_ ? bs[0] : bs[1];
    const bool use_c = cs && beta_ != 0.f;
    const bool bias = use_c && row_bias(*cs, N);
    const bool accumulate = use_c && !bias;
    return cache_.get({threads, M, K, N, bias, accumulate, pack}, [&] {
      const Shape as = trans_a_ ? Shape{K, M} : Shape{M, K};
      const auto bias_md = bias ? du::plain_md(du::dims{1, N}, du::dt::f32) : dnnl::memory::desc();
      return build_matmul(a_md(as), b_md(bs), pack, bias_md, du::plain_md(du::dims{M, N}, du::dt::f32), alpha_,
                          accumulate, act_);
    });
  }

  // out[M,N] = beta * broadcast(C), or 0 without C.
  void fill_scaled_c(const Tensor* c, int64_t M, int64_t N, float* out) const {
    if (!c || beta_ == 0.f) {
      std::fill_n(out, M * N, 0.f);
      return;
    }
    const auto st = broadcast_strides(c->shape(), {M, N});
    const float* pc = static_cast<const float*>(c->raw());
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) out[i * N + j] = beta_ * pc[i * st[0] + j * st[1]];
  }

  void integer_gemm(KernelContext& ctx, const Tensor& a, const Tensor& b, const Tensor* c, int64_t M, int64_t K,
                    int64_t N, Tensor& y) const {
    dispatch_int(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (sizeof(T) < 4) {
        unsupported_type(a.dtype(), "Gemm");
      } else {
        T* py = static_cast<T*>(y.raw());
        int_gemm<T>(ctx.threads(), M, N, K, static_cast<const T*>(a.raw()), trans_a_ ? 1 : K, trans_a_ ? M : 1,
                    static_cast<const T*>(b.raw()), trans_b_ ? 1 : N, trans_b_ ? K : 1, py);
        const T alpha = static_cast<T>(alpha_), beta = static_cast<T>(beta_);
        const T* pc = c ? static_cast<const T*>(c->raw()) : nullptr;
        const auto st = c ? broadcast_strides(c->shape(), {M, N}) : std::vector<int64_t>{0, 0};
        for (int64_t i = 0; i < M; ++i)
          for (int64_t j = 0; j < N; ++j)
            py[i * N + j] = static_cast<T>(alpha * py[i * N + j] + (pc ? beta * pc[i * st[0] + j * st[1]] : T{0}));
      }
    });
  }

  float alpha_ = 1.f, beta_ = 1.f;
  bool trans_a_ = false, trans_b_ = false;
  Activation act_;
  du::ConstantInput b_;
  SharedPackedWeights packed_;
  du::PrimitiveCache<MmEntry> cache_;
};

}  // namespace

void register_kernels_nn_matmul(KernelRegistry& r) {
  r.add("", "MatMul", 1, 8, make_factory<MatMulKernel>());
  r.add("", "MatMul", 9, 12, make_factory<MatMulKernel>());
  r.add("", "MatMul", 13, kOpenEnded, make_factory<MatMulKernel>());
  r.add("", "Gemm", 1, 5, make_factory<GemmKernel>());
  r.add("", "Gemm", 6, 6, make_factory<GemmKernel>());
  r.add("", "Gemm", 7, 8, make_factory<GemmKernel>());
  r.add("", "Gemm", 9, 10, make_factory<GemmKernel>());
  r.add("", "Gemm", 11, 12, make_factory<GemmKernel>());
  r.add("", "Gemm", 13, kOpenEnded, make_factory<GemmKernel>());
  // Created by the fusion passes (passes/fuse_matmul_add.cc).
  r.add("pier.internal", "FusedMatMul", 1, kOpenEnded, make_factory<MatMulKernel>());
  r.add("pier.internal", "FusedGemm", 1, kOpenEnded, make_factory<GemmKernel>());
}

}  // namespace pier::kernels
