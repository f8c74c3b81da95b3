// LayerNormalization (opset 17): normalizes over the dims from `axis` on,
// then applies Scale and optional B (unidirectionally broadcast to those
// dims). Statistics are computed in float (double for double inputs); the
// optional Mean and InvStdDev outputs have the stash type (float or
// bfloat16) and shape X.shape[:axis] + [1] * (rank - axis).
#include <cmath>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/norm_util.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

using namespace math_util;

// Expands `t` (broadcastable to `shape`) into a dense vector of C.
template <typename C>
std::vector<C> expand_to(const Tensor& t, const Shape& shape, const char* what) {
  if (t.rank() > static_cast<int>(shape.size()) || broadcast_shapes(t.shape(), shape) != shape)
    throw Error(ErrorCode::kInvalidArgument, std::string("LayerNormalization ") + what + " shape " +
                                                 shape_str(t.shape()) + " does not broadcast to " + shape_str(shape));
  const Tensor f = cast_tensor(t, DataTypeOf<C>::value);
  const C* src = f.data<C>();
  const int64_t n = shape_numel(shape);
  std::vector<C> out(static_cast<size_t>(n));
  if (f.numel() == n) {
    std::copy(src, src + n, out.begin());
    return out;
  }
  const std::vector<int64_t> st = broadcast_strides(t.shape(), shape);
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = src[off];
    for (size_t d = shape.size(); d-- > 0;) {
      off += st[d];
      if (++idx[d] < shape[d]) break;
      off -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

class LayerNormKernel final : public OpKernel {
 public:
  explicit LayerNormKernel(const KernelInit& init) {
    axis_ = init.node.attr_int("axis", -1);
    epsilon_ = init.node.attr_float("epsilon", 1e-5f);
    const int64_t stash = init.node.attr_int("stash_type", 1);
    stash_ = stash == static_cast<int64_t>(DataType::kBFloat16) ? DataType::kBFloat16 : DataType::kFloat;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t rank = x.rank();
    const int64_t axis = normalize_axis(axis_, rank, "axis");
    const Shape& s = x.shape();
    int64_t rows = 1, n = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? rows : n) *= s[d];
    const Shape norm_shape(s.begin() + axis, s.end());
    Shape stat_shape(s.begin(), s.begin() + axis);
    stat_shape.resize(static_cast<size_t>(rank), 1);

    Tensor& y = ctx.allocate(0, x.dtype(), s);
    Tensor mean(DataType::kFloat, stat_shape), inv(DataType::kFloat, stat_shape);
    Tensor mean_d, inv_d;
    if (x.dtype() == DataType::kDouble) {
      mean_d = Tensor(DataType::kDouble, stat_shape);
      inv_d = Tensor(DataType::kDouble, stat_shape);
    }
    if (y.numel() > 0) {
      dispatch_float(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        using C = compute_t<T>;
        const std::vector<C> scale = expand_to<C>(ctx.input(1), norm_shape, "Scale");
        std::vector<C> bias;
        if (ctx.has_input(2)) bias = expand_to<C>(ctx.input(2), norm_shape, "B");
        C* pm = std::is_same_v<C, double> ? static_cast<C*>(mean_d.raw()) : static_cast<C*>(mean.raw());
        C* pi = std::is_same_v<C, double> ? static_cast<C*>(inv_d.raw()) : static_cast<C*>(inv.raw());
        run<T>(ctx.threads(), static_cast<const T*>(x.raw()), static_cast<T*>(y.raw()), rows, n, scale.data(),
               bias.empty() ? nullptr : bias.data(), pm, pi);
      });
    }
    else {  // empty normalized dims: statistics of nothing
      for (int64_t i = 0; i < mean.numel(); ++i) mean.data<float>()[i] = inv.data<float>()[i] = NAN;
      mean_d = Tensor();
    }
    if (mean_d.defined()) {
      mean = cast_tensor(mean_d, DataType::kFloat);
      inv = cast_tensor(inv_d, DataType::kFloat);
    }
    if (ctx.wants_output(1)) ctx.set_output(1, Value(cast_tensor(mean, stash_)));
    if (ctx.wants_output(2)) ctx.set_output(2, Value(cast_tensor(inv, stash_)));
  }

 private:
  template <typename T>
  void run(int threads, const T* x, T* y, int64_t rows, int64_t n, const compute_t<T>* scale,
           const compute_t<T>* bias, compute_t<T>* mean, compute_t<T>* inv) const {
    using C = compute_t<T>;
    const double eps = epsilon_;
    const int64_t grain = std::max<int64_t>(1, 16384 / n);
    parallel_for(threads, rows, grain, [&](int64_t b, int64_t e) {
      std::vector<C> in_buf, out_buf;
      if constexpr (!std::is_same_v<T, C>) {
        in_buf.resize(static_cast<size_t>(n));
        out_buf.resize(static_cast<size_t>(n));
      }
      for (int64_t r = b; r < e; ++r) {
        const C* xr;
        C* yr;
        if constexpr (std::is_same_v<T, C>) {
          xr = x + r * n;
          yr = y + r * n;
        } else {
          for (int64_t i = 0; i < n; ++i) in_buf[i] = load(x[r * n + i]);
          xr = in_buf.data();
          yr = out_buf.data();
        }
        const RowMoments<C> mo = row_moments(xr, n, eps);
        const C m = mo.mean, is = mo.inv_std;
        if (bias) {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * is * scale[i] + bias[i];
        } else {
          for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - m) * is * scale[i];
        }
        if constexpr (!std::is_same_v<T, C>) {
          for (int64_t i = 0; i < n; ++i) y[r * n + i] = store<T>(out_buf[i]);
        }
        mean[r] = m;
        inv[r] = is;
      }
    });
  }

  int64_t axis_ = -1;
  float epsilon_ = 1e-5f;
  DataType stash_ = DataType::kFloat;
};

}  // namespace

void register_kernels_norm_layer_norm(KernelRegistry& r) {
  r.add("", "LayerNormalization", 17, kOpenEnded, make_factory<LayerNormKernel>());
}

}  // namespace pier::kernels
