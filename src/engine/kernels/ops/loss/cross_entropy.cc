// Classification losses: NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss (opsets 12 and 13).
//
// input/scores [N, C, d1..dk], target/labels [N, d1..dk] (int32/int64),
// optional per-class weight [C]. Per sample:
//   loss = -logp[n, t, d...] * weight[t]     (0 where t == ignore_index)
// where logp is the input itself (NLL) or log_softmax(scores, axis 1)
// (SCE, which can also return it as its second output). reduction "none"
// keeps the per-sample losses, "sum" adds them, "mean" (default) divides
// the sum by the summed weights of the samples used (by the sample count
// when there are neither weights nor ignore_index), as the ONNX reference
// does: a mean over no samples is NaN. Targets outside [0, C) other than
// ignore_index are an error. Accumulation is in double.
#include <algorithm>
#include <cmath>
#include <memory>
#include <limits>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

enum class Reduction { kNone, kSum, kMean };

class LossKernel final : public OpKernel {
 public:
  LossKernel(const KernelInit& init, bool softmax) : softmax_(softmax) {
    const auto& n = init.node;
    name_ = n.op_type;
    const std::string red = n.attr_string("reduction", "mean");
    if (red == "none") reduction_ = Reduction::kNone;
    else if (red == "sum") reduction_ = Reduction::kSum;
    else if (red == "mean") reduction_ = Reduction::kMean;
    else throw Error(ErrorCode::kInvalidModel, name_ + " reduction must be none, sum or mean, got \"" + red + "\"");
    has_ignore_ = n.has_attr("ignore_index");
    ignore_ = n.attr_int("ignore_index", 0);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& target = ctx.input(1);
    const Tensor* weight = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    if (x.rank() < 2)
      throw Error(ErrorCode::kInvalidArgument, name_ + ": input must be [N, C, d1...], got " + shape_str(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1);
    int64_t D = 1;
    Shape tshape{N};
    for (int i = 2; i < x.rank(); ++i) tshape.push_back(x.dim(i)), D *= x.dim(i);
    if (target.shape() != tshape)
      throw Error(ErrorCode::kInvalidArgument, name_ + ": target shape " + shape_str(target.shape()) +
                                                   " does not match input shape " + shape_str(x.shape()) +
                                                   " (expected " + shape_str(tshape) + ")");
    if (target.dtype() != DataType::kInt32 && target.dtype() != DataType::kInt64)
      throw Error(ErrorCode::kInvalidArgument, name_ + ": target must be int32 or int64");
    if (weight && (weight->rank() != 1 || weight->dim(0) != C || weight->dtype() != x.dtype()))
      throw Error(ErrorCode::kInvalidArgument, name_ + ": weight must be a 1-D tensor of " + std::to_string(C) +
                                                   " elements of the input's type, got " + shape_str(weight->shape()));
    const std::vector<int64_t> t = to_int64_vector(target);
    for (int64_t v : t)
      if (!(has_ignore_ && v == ignore_) && (v < 0 || v >= C))
        throw Error(ErrorCode::kInvalidArgument, name_ + ": target value " + std::to_string(v) + " out of range [0, " +
                                                     std::to_string(C) + ")");
    dispatch_float(x.dtype(), [&](auto tag) { run<decltype(tag)>(ctx, x, t, weight, N, C, D, tshape); });
  }

 private:
  template <typename T>
  void run(KernelContext& ctx, const Tensor& x, const std::vector<int64_t>& t, const Tensor* weight, int64_t N,
           int64_t C, int64_t D, const Shape& tshape) const {
    using CT = compute_t<T>;
    const T* px = x.data<T>();
    std::vector<double> w;
    if (weight) {
      const T* pw = weight->data<T>();
      for (int64_t c = 0; c < C; ++c) w.push_back(static_cast<double>(load(pw[c])));
    }
    // Log-probabilities: the input, or its log_softmax along axis 1.
    std::vector<double> lp;
    if (softmax_) {
      lp.resize(static_cast<size_t>(x.numel()));
      parallel_for(ctx.threads(), N, std::max<int64_t>(1, 8192 / std::max<int64_t>(C * D, 1)), [&](int64_t b, int64_t e) {
        std::vector<double> m(static_cast<size_t>(D)), s(static_cast<size_t>(D));
        for (int64_t n = b; n < e; ++n) {
          const T* xn = px + n * C * D;
          double* ln = lp.data() + n * C * D;
          std::fill(m.begin(), m.end(), -std::numeric_limits<double>::infinity());
          std::fill(s.begin(), s.end(), 0.0);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t d = 0; d < D; ++d) m[d] = std::max(m[d], static_cast<double>(load(xn[c * D + d])));
          for (int64_t c = 0; c < C; ++c)
            for (int64_t d = 0; d < D; ++d) s[d] += std::exp(static_cast<double>(load(xn[c * D + d])) - m[d]);
          for (int64_t d = 0; d < D; ++d) s[d] = m[d] + std::log(s[d]);
          for (int64_t c = 0; c < C; ++c)
            for (int64_t d = 0; d < D; ++d) ln[c * D + d] = static_cast<double>(load(xn[c * D + d])) - s[d];
        }
      });
      if (ctx.num_outputs() > 1 && ctx.wants_output(1)) {
        Tensor& out = ctx.allocate(1, x.dtype(), x.shape());
        T* po = out.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i) po[i] = store<T>(static_cast<CT>(lp[i]));
      }
    }
    auto logp = [&](int64_t i) { return softmax_ ? lp[i] : static_cast<double>(load(px[i])); };
    const int64_t samples = N * D;
    std::vector<double> loss(static_cast<size_t>(samples));
    double sum = 0, wsum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t d = 0; d < D; ++d) {
        const int64_t i = n * D + d, c = t[i];
        if (has_ignore_ && c == ignore_) {
          loss[i] = 0;
          continue;
        }
        const double wc = weight ? w[c] : 1.0;
        loss[i] = -logp((n * C + c) * D + d) * wc;
        sum += loss[i];
        wsum += wc;
      }
    if (reduction_ == Reduction::kNone) {
      Tensor& y = ctx.allocate(0, x.dtype(), tshape);
      T* py = y.data<T>();
      for (int64_t i = 0; i < samples; ++i) py[i] = store<T>(static_cast<CT>(loss[i]));
      return;
    }
    double r = sum;
    if (reduction_ == Reduction::kMean) {
      // 0 / 0 (no sample used) gives NaN, like the reference.
      r = weight || has_ignore_ ? sum / wsum : sum / static_cast<double>(samples);
    }
    Tensor& y = ctx.allocate(0, x.dtype(), {});
    y.data<T>()[0] = store<T>(static_cast<CT>(r));
  }

  bool softmax_;
  std::string name_;
  Reduction reduction_ = Reduction::kMean;
  bool has_ignore_ = false;
  int64_t ignore_ = 0;
};

KernelFactory loss_factory(bool softmax) {
  return [softmax](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<LossKernel>(init, softmax);
  };
}

}  // namespace

void register_kernels_loss_cross_entropy(KernelRegistry& r) {
  r.add("", "NegativeLogLikelihoodLoss", 12, 12, loss_factory(false));
  r.add("", "NegativeLogLikelihoodLoss", 13, kOpenEnded, loss_factory(false));
  r.add("", "SoftmaxCrossEntropyLoss", 12, 12, loss_factory(true));
  r.add("", "SoftmaxCrossEntropyLoss", 13, kOpenEnded, loss_factory(true));
}

}  // namespace pier::kernels
