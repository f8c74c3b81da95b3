// BatchNormalization, all opset revisions.
//
// Inference: y = x * a[c] + b[c] with a = scale / sqrt(var + eps) and
// b = B - mean * a, folded once per run (per creation when the parameters
// are initializers). Parameters may be per channel [C] or, for the old
// spatial=0 mode, per activation [C, D1, ...].
//
// Training mode (training_mode=1 from opset 14; before that, requesting
// more than one output): normalizes with the batch statistics (population
// variance) and outputs running_mean/var = input * momentum + batch *
// (1 - momentum); opsets < 14 also output the batch mean and variance as
// saved_mean/saved_var.
#include <array>
#include <cmath>
#include <type_traits>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

std::vector<double> as_doubles(const Tensor& t) {
  const Tensor f = cast_tensor(t, DataType::kDouble);
  const double* p = f.data<double>();
  return std::vector<double>(p, p + f.numel());
}

class BatchNormKernel final : public OpKernel {
 public:
  explicit BatchNormKernel(const KernelInit& init) {
    const int v = init.node.since_version;
    epsilon_ = init.node.attr_float("epsilon", 1e-5f);
    momentum_ = init.node.attr_float("momentum", 0.9f);
    if (v >= 14) training_ = init.node.attr_int("training_mode", 0) != 0;
    else training_ = init.node.num_outputs() > 1 && init.node.has_output(1) && init.node.attr_int("is_test", 0) == 0;
    legacy_outputs_ = v < 14;
    // Fold the parameters now when they are all initializers.
    if (!training_) {
      const Tensor* s = init.constant_input(1);
      const Tensor* b = init.constant_input(2);
      const Tensor* m = init.constant_input(3);
      const Tensor* var = init.constant_input(4);
      if (s && b && m && var) {
        try {
          fold(*s, *b, *m, *var, folded_a_, folded_b_);
          folded_from_ = {s->storage_id(), b->storage_id(), m->storage_id(), var->storage_id()};
        } catch (const Error&) {
          folded_a_.clear();
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() < 2)
      throw Error(ErrorCode::kInvalidArgument, "BatchNormalization input must have rank >= 2, got " +
                                                   shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), inner = C ? x.numel() / std::max<int64_t>(N * C, 1) : 0;
    const Tensor &s = ctx.input(1), &b = ctx.input(2), &m = ctx.input(3), &var = ctx.input(4);
    for (const Tensor* p : {&s, &b, &m, &var})
      if (p->numel() != C && p->numel() != C * inner)
        throw Error(ErrorCode::kInvalidArgument, "BatchNormalization parameter of shape " + shape_str(p->shape()) +
                                                     " does not match " + std::to_string(C) + " channels of input " +
                                                     shape_str(x.shape()));
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    std::vector<double> a, c;
    std::vector<double> bmean, bvar;
    if (training_) {
      batch_stats(x, N, C, inner, bmean, bvar);
      fold_values(as_doubles(s), as_doubles(b), bmean, bvar, C, inner, a, c);
    } else if (!folded_a_.empty() && folded_from_[0] == s.storage_id() && folded_from_[1] == b.storage_id() &&
               folded_from_[2] == m.storage_id() && folded_from_[3] == var.storage_id() &&
               static_cast<int64_t>(folded_a_.size()) == s.numel()) {
      apply(ctx, x, y, N, C, inner, folded_a_, folded_b_);
      return;
    } else {
      fold(s, b, m, var, a, c);
    }
    apply(ctx, x, y, N, C, inner, a, c);
    if (!training_) return;
    // Running statistics.
    const auto in_mean = as_doubles(m), in_var = as_doubles(var);
    auto running = [&](int out, const std::vector<double>& input, const std::vector<double>& batch, const Tensor& like) {
      if (!ctx.wants_output(out)) return;
      Tensor r(DataType::kDouble, like.shape());
      for (int64_t i = 0; i < like.numel(); ++i) {
        const int64_t ch = like.numel() == C ? i : i / inner;
        r.data<double>()[i] = input[i] * momentum_ + batch[ch] * (1.0 - momentum_);
      }
      ctx.allocate(out, like.dtype(), like.shape()) = cast_tensor(r, like.dtype());
    };
    running(1, in_mean, bmean, m);
    running(2, in_var, bvar, var);
    if (legacy_outputs_) {
      auto saved = [&](int out, const std::vector<double>& v) {
        if (!ctx.wants_output(out)) return;
        Tensor r = Tensor::from_vector(v, {C});
        ctx.allocate(out, m.dtype(), {C}) = cast_tensor(r, m.dtype());
      };
      saved(3, bmean);
      saved(4, bvar);
    }
  }

 private:
  void fold(const Tensor& s, const Tensor& b, const Tensor& m, const Tensor& var, std::vector<double>& a,
            std::vector<double>& c) const {
    const auto sv = as_doubles(s), bv = as_doubles(b), mv = as_doubles(m), vv = as_doubles(var);
    const size_t n = sv.size();
    if (bv.size() != n || mv.size() != n || vv.size() != n)
      throw Error(ErrorCode::kInvalidArgument, "BatchNormalization parameters differ in size");
    a.resize(n);
    c.resize(n);
    for (size_t i = 0; i < n; ++i) {
      a[i] = sv[i] / std::sqrt(vv[i] + epsilon_);
      c[i] = bv[i] - mv[i] * a[i];
    }
  }

  // Per-channel batch statistics expanded to the parameters' layout.
  void fold_values(const std::vector<double>& sv, const std::vector<double>& bv, const std::vector<double>& mean,
                   const std::vector<double>& var, int64_t C, int64_t inner, std::vector<double>& a,
                   std::vector<double>& c) const {
    const size_t n = sv.size();
    a.resize(n);
    c.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t ch = static_cast<int64_t>(n) == C ? static_cast<int64_t>(i) : static_cast<int64_t>(i) / inner;
      a[i] = sv[i] / std::sqrt(var[ch] + epsilon_);
      c[i] = bv[i % bv.size()] - mean[ch] * a[i];
    }
  }

  static void batch_stats(const Tensor& x, int64_t N, int64_t C, int64_t inner, std::vector<double>& mean,
                          std::vector<double>& var) {
    const auto X = as_doubles(x);
    mean.assign(C, 0.0);
    var.assign(C, 0.0);
    const double cnt = static_cast<double>(N * inner);
    if (cnt == 0) return;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < inner; ++i) mean[c] += X[(n * C + c) * inner + i];
    for (auto& v : mean) v /= cnt;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < inner; ++i) {
          const double d = X[(n * C + c) * inner + i] - mean[c];
          var[c] += d * d;
        }
    for (auto& v : var) v /= cnt;
  }

  static void apply(KernelContext& ctx, const Tensor& x, Tensor& y, int64_t N, int64_t C, int64_t inner,
                    const std::vector<double>& a, const std::vector<double>& c) {
    const bool per_channel = static_cast<int64_t>(a.size()) == C;
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using F = std::conditional_t<std::is_same_v<T, double>, double, float>;
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      const int64_t planes = N * C;
      parallel_for(ctx.threads(), planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                   [&](int64_t b0, int64_t b1) {
                     for (int64_t p = b0; p < b1; ++p) {
                       const int64_t ch = p % C;
                       const T* xi = px + p * inner;
                       T* yi = py + p * inner;
                       if (per_channel) {
                         const F av = static_cast<F>(a[ch]), cv = static_cast<F>(c[ch]);
                         for (int64_t i = 0; i < inner; ++i) yi[i] = store<T>(static_cast<F>(load(xi[i])) * av + cv);
                       } else {
                         const double* ap = a.data() + ch * inner;
                         const double* cp = c.data() + ch * inner;
                         for (int64_t i = 0; i < inner; ++i)
                           yi[i] = store<T>(static_cast<compute_t<T>>(static_cast<double>(load(xi[i])) * ap[i] + cp[i]));
                       }
                     }
                   });
    });
  }

  float epsilon_ = 1e-5f, momentum_ = 0.9f;
  bool training_ = false, legacy_outputs_ = false;
  std::vector<double> folded_a_, folded_b_;
  std::array<const void*, 4> folded_from_{};
};

}  // namespace

void register_kernels_nn_batchnorm(KernelRegistry& r) {
  r.add("", "BatchNormalization", 1, 5, make_factory<BatchNormKernel>());
  r.add("", "BatchNormalization", 6, 6, make_factory<BatchNormKernel>());
  r.add("", "BatchNormalization", 7, 8, make_factory<BatchNormKernel>());
  r.add("", "BatchNormalization", 9, 13, make_factory<BatchNormKernel>());
  r.add("", "BatchNormalization", 14, 14, make_factory<BatchNormKernel>());
  r.add("", "BatchNormalization", 15, kOpenEnded, make_factory<BatchNormKernel>());
}

}  // namespace pier::kernels
