// Window generators and the mel filter bank (opset 17): HannWindow,
// HammingWindow, BlackmanWindow and MelWeightMatrix.
//
// Windows are generalized cosine windows
//   w[k] = a0 - a1 cos(2 pi k / N) + a2 cos(4 pi k / N),  k < size
// with N = size (periodic=1, the default) or size - 1 (periodic=0; a
// symmetric window of size 1 is [1]). Hann: 0.5, 0.5, 0; Hamming: 25/46,
// 21/46, 0; Blackman: 0.42, 0.5, 0.08.
//
// MelWeightMatrix follows the ONNX definition: num_mel_bins + 2 points
// evenly spaced on the mel scale mel(f) = 2595 log10(1 + f/700) between
// the edge frequencies map to DFT bins floor((dft_length + 1) f /
// sample_rate); band i is a triangle rising from point i to point i+1 and
// falling to point i+2, with peak 1. Output [dft_length/2 + 1, num_mel_bins].
//
// Values are computed in double and converted to output_datatype (default
// float) like Cast: integer types truncate.
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

constexpr int64_t kMaxSize = int64_t{1} << 30;

DataType output_type_attr(const KernelInit& init) {
  const int64_t t = init.node.attr_int("output_datatype", static_cast<int64_t>(DataType::kFloat));
  switch (static_cast<DataType>(t)) {
    case DataType::kFloat: case DataType::kDouble: case DataType::kFloat16: case DataType::kBFloat16:
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: case DataType::kInt64:
    case DataType::kUInt8: case DataType::kUInt16: case DataType::kUInt32: case DataType::kUInt64:
      return static_cast<DataType>(t);
    default:
      throw Error(ErrorCode::kInvalidModel, init.node.op_type + ": output_datatype " + std::to_string(t) +
                                                " is not a numeric type");
  }
}

int64_t scalar_int(const Tensor& t, const std::string& op, const char* what) {
  if (t.dtype() != DataType::kInt32 && t.dtype() != DataType::kInt64)
    throw Error(ErrorCode::kInvalidArgument, op + ": " + what + " must be int32 or int64, got " + dtype_name(t.dtype()));
  if (t.numel() != 1)
    throw Error(ErrorCode::kInvalidArgument, op + ": " + what + " must be a scalar, got shape " + shape_str(t.shape()));
  return to_int64_vector(t)[0];
}

double scalar_float(const Tensor& t, const std::string& op, const char* what) {
  if (t.numel() != 1)
    throw Error(ErrorCode::kInvalidArgument, op + ": " + what + " must be a scalar, got shape " + shape_str(t.shape()));
  return scalar_as_double(t);
}

// Writes `v` into a new tensor of type `dt`, converting like Cast.
void write_values(Tensor& out, const std::vector<double>& v) {
  dispatch_numeric(out.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = out.data<T>();
    for (size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        const double t = std::trunc(v[i]);
        // Clamp what cannot be represented instead of invoking UB.
        p[i] = t <= static_cast<double>(std::numeric_limits<T>::min()) ? std::numeric_limits<T>::min()
               : t >= static_cast<double>(std::numeric_limits<T>::max()) ? std::numeric_limits<T>::max()
                                                                         : static_cast<T>(t);
      } else {
        p[i] = store<T>(static_cast<compute_t<T>>(v[i]));
      }
    }
  });
}

struct Cosines {
  double a0, a1, a2;
};

class WindowKernel final : public OpKernel {
 public:
  WindowKernel(const KernelInit& init, Cosines c) : c_(c) {
    out_type_ = output_type_attr(init);
    periodic_ = init.node.attr_int("periodic", 1) != 0;
    op_ = init.node.op_type;
  }

  void compute(KernelContext& ctx) const override {
    const int64_t size = scalar_int(ctx.input(0), op_, "size");
    if (size < 0 || size > kMaxSize)
      throw Error(ErrorCode::kInvalidArgument, op_ + ": size must be in [0, 2^30], got " + std::to_string(size));
    Tensor& y = ctx.allocate(0, out_type_, {size});
    std::vector<double> w(static_cast<size_t>(size));
    const int64_t n = periodic_ ? size : size - 1;
    if (n <= 0) {
      if (size == 1) w[0] = 1.0;
    } else {
      const double step = 2.0 * std::numbers::pi / static_cast<double>(n);
      for (int64_t k = 0; k < size; ++k) {
        const double a = step * static_cast<double>(k);
        w[k] = c_.a0 - c_.a1 * std::cos(a) + c_.a2 * std::cos(2 * a);
      }
    }
    write_values(y, w);
  }

 private:
  Cosines c_;
  DataType out_type_ = DataType::kFloat;
  bool periodic_ = true;
  std::string op_;
};

class MelWeightMatrixKernel final : public OpKernel {
 public:
  explicit MelWeightMatrixKernel(const KernelInit& init) { out_type_ = output_type_attr(init); }

  void compute(KernelContext& ctx) const override {
    const std::string op = "MelWeightMatrix";
    const int64_t mel_bins = scalar_int(ctx.input(0), op, "num_mel_bins");
    const int64_t dft_length = scalar_int(ctx.input(1), op, "dft_length");
    const int64_t rate = scalar_int(ctx.input(2), op, "sample_rate");
    const double lower = scalar_float(ctx.input(3), op, "lower_edge_hertz");
    const double upper = scalar_float(ctx.input(4), op, "upper_edge_hertz");
    if (mel_bins < 1 || mel_bins > (1 << 20))
      throw Error(ErrorCode::kInvalidArgument, op + ": num_mel_bins must be in [1, 2^20], got " + std::to_string(mel_bins));
    if (dft_length < 1 || dft_length > (1 << 24))
      throw Error(ErrorCode::kInvalidArgument, op + ": dft_length must be in [1, 2^24], got " + std::to_string(dft_length));
    if (rate < 1) throw Error(ErrorCode::kInvalidArgument, op + ": sample_rate must be positive");
    if (!(lower >= 0) || !(upper >= lower) || !std::isfinite(upper))
      throw Error(ErrorCode::kInvalidArgument, op + ": need 0 <= lower_edge_hertz <= upper_edge_hertz, got " +
                                                   std::to_string(lower) + " and " + std::to_string(upper));
    const int64_t spec_bins = dft_length / 2 + 1;
    if (spec_bins * mel_bins > kMaxSize)
      throw Error(ErrorCode::kInvalidArgument, op + ": output of " + std::to_string(spec_bins) + " x " +
                                                   std::to_string(mel_bins) + " elements is too large");
    auto mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
    const double lo_mel = mel(lower), hi_mel = mel(upper);
    const int64_t points = mel_bins + 2;
    const double mel_step = (hi_mel - lo_mel) / static_cast<double>(points);
    std::vector<int64_t> bin(static_cast<size_t>(points));
    for (int64_t i = 0; i < points; ++i) {
      const double hz = 700.0 * (std::pow(10.0, (static_cast<double>(i) * mel_step + lo_mel) / 2595.0) - 1.0);
      bin[i] = static_cast<int64_t>(std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate)));
      if (bin[i] < 0 || bin[i] >= spec_bins)
        throw Error(ErrorCode::kInvalidArgument, op + ": upper_edge_hertz " + std::to_string(upper) +
                                                     " is above the Nyquist frequency of sample_rate " +
                                                     std::to_string(rate));
    }
    std::vector<double> w(static_cast<size_t>(spec_bins * mel_bins), 0.0);
    for (int64_t i = 0; i < mel_bins; ++i) {
      const int64_t left = bin[i], center = bin[i + 1], right = bin[i + 2];
      if (center == left) {
        w[center * mel_bins + i] = 1.0;
      } else {
        for (int64_t j = left; j <= center; ++j)
          w[j * mel_bins + i] = static_cast<double>(j - left) / static_cast<double>(center - left);
      }
      for (int64_t j = center; j < right; ++j)
        w[j * mel_bins + i] = static_cast<double>(right - j) / static_cast<double>(right - center);
    }
    Tensor& y = ctx.allocate(0, out_type_, {spec_bins, mel_bins});
    write_values(y, w);
  }

 private:
  DataType out_type_ = DataType::kFloat;
};

template <Cosines C>
KernelFactory window_factory() {
  return [](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<WindowKernel>(init, C); };
}

}  // namespace

void register_kernels_signal_window(KernelRegistry& r) {
  r.add("", "HannWindow", 17, kOpenEnded, window_factory<Cosines{0.5, 0.5, 0.0}>());
  r.add("", "HammingWindow", 17, kOpenEnded, window_factory<Cosines{25.0 / 46.0, 21.0 / 46.0, 0.0}>());
  r.add("", "BlackmanWindow", 17, kOpenEnded, window_factory<Cosines{0.42, 0.5, 0.08}>());
  r.add("", "MelWeightMatrix", 17, kOpenEnded, make_factory<MelWeightMatrixKernel>());
}

}  // namespace pier::kernels
