// Fourier transforms: DFT and STFT (opset 17).
//
// Signals carry their real/imaginary parts in a trailing dimension of size
// 1 (real) or 2 (complex); outputs are always complex ([..., 2]). Both ops
// run an O(n log n) FFT (util/signal_fft.h) per transformed row, in double.
//
// DFT: `axis` (default 1) picks the transformed dimension (any but the
// trailing one; negative counts from the back of the rank). The optional
// dft_length input zero-pads or truncates the signal to that length.
// `inverse` computes the inverse transform scaled by 1/n. `onesided` keeps
// the n/2+1 non-redundant bins of a real signal's transform.
//
// STFT: frames of frame_length samples, frame_step apart, are multiplied by
// `window` (when given) and transformed. frame_length defaults to the
// window's length; when both are given they must agree. A [batch, length]
// signal is taken as real. onesided (default 1) needs a real signal.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/signal_fft.h"

namespace pier::kernels {

namespace {

using fft::cdouble;
using fft::FftPlan;

// Value of a scalar (or one-element) int32/int64 input.
int64_t scalar_int_input(const Tensor& t, const char* op, const char* what) {
  if (t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": " + what + " must be int32 or int64, got " +
                                                 dtype_name(t.dtype()));
  if (t.numel() != 1)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": " + what + " must be a scalar, got shape " +
                                                 shape_str(t.shape()));
  return to_int64_vector(t)[0];
}

// Rows per parallel chunk so that a chunk holds some 16k points.
int64_t rows_grain(int64_t n) { return std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(n, 1)); }

class DftKernel final : public OpKernel {
 public:
  explicit DftKernel(const KernelInit& init) {
    const auto& node = init.node;
    onesided_ = node.attr_int("onesided", 0) != 0;
    inverse_ = node.attr_int("inverse", 0) != 0;
    axis_ = node.attr_int("axis", 1);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int r = x.rank();
    if (r < 2 || (x.dim(-1) != 1 && x.dim(-1) != 2))
      throw Error(ErrorCode::kInvalidArgument,
                  "DFT: input must be [batch, signal dims..., 1 or 2], got " + shape_str(x.shape()));
    const int64_t comps = x.dim(-1);
    const int64_t axis = axis_ < 0 ? axis_ + r : axis_;
    if (axis < 0 || axis > r - 2)
      throw Error(ErrorCode::kInvalidArgument, "DFT: axis " + std::to_string(axis_) + " out of range for input of rank " +
                                                   std::to_string(r) + " (the last dimension holds the components)");
    if (onesided_ && comps == 2)
      throw Error(ErrorCode::kInvalidArgument, "DFT: onesided output needs a real input (last dimension 1)");
    const int64_t len = x.dim(static_cast<int>(axis));
    int64_t n = len;
    if (ctx.has_input(1)) {
      n = scalar_int_input(ctx.input(1), "DFT", "dft_length");
      if (n < 1 || n > FftPlan::kMaxLength)
        throw Error(ErrorCode::kInvalidArgument, "DFT: dft_length must be in [1, 2^30], got " + std::to_string(n));
    }
    const int64_t out_len = n == 0 ? 0 : (onesided_ ? n / 2 + 1 : n);
    Shape out_shape = x.shape();
    out_shape[axis] = out_len;
    out_shape.back() = 2;
    Tensor& y = ctx.allocate(0, x.dtype(), out_shape);
    if (y.numel() == 0) return;
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
    for (int64_t i = axis + 1; i < r - 1; ++i) inner *= x.dim(static_cast<int>(i));
    const FftPlan plan(n);
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = x.data<T>();
      T* py = y.data<T>();
      const int64_t used = std::min(len, n);
      const double scale = inverse_ ? 1.0 / static_cast<double>(n) : 1.0;
      parallel_for(ctx.threads(), outer * inner, rows_grain(n), [&](int64_t b, int64_t e) {
        std::vector<cdouble> buf(static_cast<size_t>(n)), scratch(static_cast<size_t>(plan.scratch_size()));
        for (int64_t col = b; col < e; ++col) {
          const int64_t o = col / inner, i = col % inner;
          const T* src = px + (o * len * inner + i) * comps;
          const int64_t step = inner * comps;
          for (int64_t j = 0; j < used; ++j) {
            const T* v = src + j * step;
            buf[j] = cdouble(static_cast<double>(load(v[0])), comps == 2 ? static_cast<double>(load(v[1])) : 0.0);
          }
          std::fill(buf.begin() + used, buf.end(), cdouble{});
          plan.run(buf.data(), inverse_, scratch.data());
          T* dst = py + (o * out_len * inner + i) * 2;
          for (int64_t k = 0; k < out_len; ++k) {
            T* d = dst + k * inner * 2;
            d[0] = store<T>(static_cast<compute_t<T>>(buf[k].real() * scale));
            d[1] = store<T>(static_cast<compute_t<T>>(buf[k].imag() * scale));
          }
        }
      });
    });
  }

 private:
  bool onesided_ = false, inverse_ = false;
  int64_t axis_ = 1;
};

class StftKernel final : public OpKernel {
 public:
  explicit StftKernel(const KernelInit& init) { onesided_ = init.node.attr_int("onesided", 1) != 0; }

  void compute(KernelContext& ctx) const override {
    const Tensor& sig = ctx.input(0);
    if (!(sig.rank() == 2 || (sig.rank() == 3 && (sig.dim(2) == 1 || sig.dim(2) == 2))))
      throw Error(ErrorCode::kInvalidArgument,
                  "STFT: signal must be [batch, length] or [batch, length, 1 or 2], got " + shape_str(sig.shape()));
    const int64_t comps = sig.rank() == 3 ? sig.dim(2) : 1;
    if (onesided_ && comps == 2)
      throw Error(ErrorCode::kInvalidArgument,
                  "STFT: onesided output needs a real signal; set onesided=0 for a complex one");
    const int64_t batch = sig.dim(0), length = sig.dim(1);
    const int64_t step = scalar_int_input(ctx.input(1), "STFT", "frame_step");
    if (step < 1) throw Error(ErrorCode::kInvalidArgument, "STFT: frame_step must be positive, got " + std::to_string(step));
    const Tensor* window = ctx.has_input(2) ? &ctx.input(2) : nullptr;
    if (window) {
      if (window->rank() != 1)
        throw Error(ErrorCode::kInvalidArgument, "STFT: window must be 1-D, got " + shape_str(window->shape()));
      if (window->dtype() != sig.dtype())
        throw Error(ErrorCode::kInvalidArgument, "STFT: window type differs from the signal's");
    }
    int64_t frame = -1;
    if (ctx.has_input(3)) {
      frame = scalar_int_input(ctx.input(3), "STFT", "frame_length");
      if (frame < 1 || frame > FftPlan::kMaxLength)
        throw Error(ErrorCode::kInvalidArgument, "STFT: frame_length must be in [1, 2^30], got " + std::to_string(frame));
      if (window && window->dim(0) != frame)
        throw Error(ErrorCode::kInvalidArgument, "STFT: window length " + std::to_string(window->dim(0)) +
                                                     " differs from frame_length " + std::to_string(frame));
    } else if (window) {
      frame = window->dim(0);
      if (frame < 1) throw Error(ErrorCode::kInvalidArgument, "STFT: window is empty");
    } else {
      throw Error(ErrorCode::kInvalidArgument, "STFT: needs a window or a frame_length");
    }
    if (length < frame)
      throw Error(ErrorCode::kInvalidArgument, "STFT: signal length " + std::to_string(length) +
                                                   " is shorter than the frame length " + std::to_string(frame));
    const int64_t frames = (length - frame) / step + 1;
    const int64_t bins = onesided_ ? frame / 2 + 1 : frame;
    Tensor& y = ctx.allocate(0, sig.dtype(), {batch, frames, bins, 2});
    if (y.numel() == 0) return;
    const FftPlan plan(frame);
    dispatch_float(sig.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* ps = sig.data<T>();
      const T* pw = window ? window->data<T>() : nullptr;
      T* py = y.data<T>();
      std::vector<double> w(static_cast<size_t>(frame), 1.0);
      if (pw)
        for (int64_t j = 0; j < frame; ++j) w[j] = static_cast<double>(load(pw[j]));
      parallel_for(ctx.threads(), batch * frames, rows_grain(frame), [&](int64_t b, int64_t e) {
        std::vector<cdouble> buf(static_cast<size_t>(frame)), scratch(static_cast<size_t>(plan.scratch_size()));
        for (int64_t row = b; row < e; ++row) {
          const int64_t bi = row / frames, f = row % frames;
          const T* src = ps + (bi * length + f * step) * comps;
          for (int64_t j = 0; j < frame; ++j) {
            const T* v = src + j * comps;
            const double re = static_cast<double>(load(v[0]));
            const double im = comps == 2 ? static_cast<double>(load(v[1])) : 0.0;
            buf[j] = cdouble(re * w[j], im * w[j]);
          }
          plan.run(buf.data(), false, scratch.data());
          T* dst = py + row * bins * 2;
          for (int64_t k = 0; k < bins; ++k) {
            dst[2 * k] = store<T>(static_cast<compute_t<T>>(buf[k].real()));
            dst[2 * k + 1] = store<T>(static_cast<compute_t<T>>(buf[k].imag()));
          }
        }
      });
    });
  }

 private:
  bool onesided_ = true;
};

}  // namespace

void register_kernels_signal_dft(KernelRegistry& r) {
  r.add("", "DFT", 17, kOpenEnded, make_factory<DftKernel>());
  r.add("", "STFT", 17, kOpenEnded, make_factory<StftKernel>());
}

}  // namespace pier::kernels
