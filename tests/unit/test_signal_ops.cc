// Signal ops: DFT, STFT, the window generators and MelWeightMatrix, each
// checked against a direct evaluation of its definition (a naive O(n^2)
// DFT in long double for the transforms).
#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "kernels/util/signal_fft.h"
#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using cld = std::complex<long double>;

std::vector<cld> naive_dft(const std::vector<cld>& x, int64_t n, bool inverse) {
  std::vector<cld> y(static_cast<size_t>(n)), root(static_cast<size_t>(n));
  const long double sign = inverse ? 1 : -1;
  for (int64_t m = 0; m < n; ++m) {
    const long double a = sign * 2 * std::numbers::pi_v<long double> * m / n;
    root[m] = cld(std::cos(a), std::sin(a));
  }
  for (int64_t k = 0; k < n; ++k) {
    cld s = 0;
    for (int64_t j = 0; j < n && j < static_cast<int64_t>(x.size()); ++j) s += x[j] * root[(j * k) % n];
    y[k] = inverse ? s / static_cast<long double>(n) : s;
  }
  return y;
}

// Reference for DFT on a [outer, len, inner, comps] view of x.
Tensor reference_dft(const Tensor& x, int64_t axis, int64_t n, bool inverse, bool onesided) {
  const int r = x.rank();
  const int64_t comps = x.dim(-1), len = x.dim(static_cast<int>(axis));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x.dim(static_cast<int>(i));
  for (int64_t i = axis + 1; i < r - 1; ++i) inner *= x.dim(static_cast<int>(i));
  const int64_t out_len = onesided ? n / 2 + 1 : n;
  Shape s = x.shape();
  s[axis] = out_len;
  s.back() = 2;
  Tensor y(DataType::kFloat, s);
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<cld> col;
      for (int64_t j = 0; j < std::min(len, n); ++j) {
        const float* v = px + ((o * len + j) * inner + i) * comps;
        col.emplace_back(v[0], comps == 2 ? v[1] : 0.f);
      }
      auto f = naive_dft(col, n, inverse);
      for (int64_t k = 0; k < out_len; ++k) {
        float* d = py + ((o * out_len + k) * inner + i) * 2;
        d[0] = static_cast<float>(f[k].real());
        d[1] = static_cast<float>(f[k].imag());
      }
    }
  return y;
}

Tensor i64(int64_t v) { return make<int64_t>({}, {v}); }

}  // namespace

TEST(SignalFft, PlanMatchesNaiveDftForManyLengths) {
  // Powers of two, smooth sizes (mixed radix), primes above the largest
  // radix (Bluestein) and composites with a large prime factor.
  for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 12, 16, 30, 31, 37, 64, 97, 100, 128, 243, 400, 512, 1000, 1024, 2 * 101}) {
    std::mt19937 rng(static_cast<uint32_t>(n));
    std::uniform_real_distribution<double> d(-1, 1);
    std::vector<kernels::fft::cdouble> x(static_cast<size_t>(n));
    std::vector<cld> xl(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      x[i] = {d(rng), d(rng)};
      xl[i] = cld(x[i].real(), x[i].imag());
    }
    kernels::fft::FftPlan plan(n);
    std::vector<kernels::fft::cdouble> scratch(static_cast<size_t>(plan.scratch_size()));
    for (bool inverse : {false, true}) {
      auto y = x;
      plan.run(y.data(), inverse, scratch.data());
      auto want = naive_dft(xl, n, inverse);
      const double scale = inverse ? static_cast<double>(n) : 1.0;  // run() does not scale
      for (int64_t k = 0; k < n; ++k) {
        EXPECT_NEAR(y[k].real(), static_cast<double>(want[k].real()) * scale, 1e-9 * n) << "n=" << n << " k=" << k;
        EXPECT_NEAR(y[k].imag(), static_cast<double>(want[k].imag()) * scale, 1e-9 * n) << "n=" << n << " k=" << k;
      }
    }
  }
}

TEST(SignalFft, LargePrimeUsesBluesteinAndLargeSizesAreAccurate) {
  EXPECT_TRUE(kernels::fft::FftPlan(1009).uses_bluestein());
  EXPECT_FALSE(kernels::fft::FftPlan(4096).uses_bluestein());
  EXPECT_FALSE(kernels::fft::FftPlan(3 * 5 * 7 * 11 * 13).uses_bluestein());
  // Round trip of a large transform.
  for (int64_t n : {int64_t{1} << 16, int64_t{65537}}) {
    kernels::fft::FftPlan plan(n);
    std::vector<kernels::fft::cdouble> x(static_cast<size_t>(n)), scratch(static_cast<size_t>(plan.scratch_size()));
    std::mt19937 rng(7);
    std::uniform_real_distribution<double> d(-1, 1);
    for (auto& v : x) v = {d(rng), d(rng)};
    auto y = x;
    plan.run(y.data(), false, scratch.data());
    // Parseval: sum |x|^2 = sum |X|^2 / n.
    double ex = 0, ey = 0;
    for (int64_t i = 0; i < n; ++i) ex += std::norm(x[i]), ey += std::norm(y[i]);
    EXPECT_NEAR(ey / static_cast<double>(n), ex, 1e-9 * ex);
    plan.run(y.data(), true, scratch.data());
    double err = 0;
    for (int64_t i = 0; i < n; ++i) err = std::max(err, std::abs(y[i] / static_cast<double>(n) - x[i]));
    EXPECT_LT(err, 1e-12) << n;
  }
  EXPECT_THROW(kernels::fft::FftPlan(0), Error);
}

TEST(SignalDft, RealAndComplexAlongEachAxis) {
  Tensor real = random_float({2, 6, 5, 1}, 1);
  Tensor cplx = random_float({2, 6, 5, 2}, 2);
  for (const Tensor* x : {&real, &cplx})
    for (int64_t axis : {1, 2, -2, 0}) {
      const int64_t a = axis < 0 ? axis + 4 : axis;
      auto out = run_node("DFT", {*x}, {DataType::kFloat}, {attr("axis", axis)});
      EXPECT_TRUE(tensors_near(out[0].tensor(), reference_dft(*x, a, x->dim(static_cast<int>(a)), false, false), 1e-4,
                               1e-5))
          << "axis " << axis;
    }
}

TEST(SignalDft, InverseOnesidedAndDftLength) {
  Tensor x = random_float({3, 20, 2}, 3);
  auto inv = run_node("DFT", {x}, {DataType::kFloat}, {attr("inverse", 1)});
  EXPECT_TRUE(tensors_near(inv[0].tensor(), reference_dft(x, 1, 20, true, false), 1e-4, 1e-6));
  Tensor r = random_float({3, 37, 1}, 4);
  auto one = run_node("DFT", {r}, {DataType::kFloat}, {attr("onesided", 1)});
  EXPECT_EQ(one[0].tensor().shape(), (Shape{3, 19, 2}));
  EXPECT_TRUE(tensors_near(one[0].tensor(), reference_dft(r, 1, 37, false, true), 1e-4, 1e-5));
  // dft_length longer (zero padding) and shorter (truncation) than the axis.
  for (int64_t n : {50, 16, 1}) {
    auto out = run_node("DFT", {r, i64(n)}, {DataType::kFloat});
    EXPECT_TRUE(tensors_near(out[0].tensor(), reference_dft(r, 1, n, false, false), 1e-4, 1e-5)) << n;
  }
  auto pad32 = run_node("DFT", {x, make<int32_t>({1}, {32})}, {DataType::kFloat}, {attr("inverse", 1)});
  EXPECT_TRUE(tensors_near(pad32[0].tensor(), reference_dft(x, 1, 32, true, false), 1e-4, 1e-6));
}

TEST(SignalDft, DoubleAndHalfInputs) {
  Tensor xf = random_float({1, 12, 1}, 5);
  Tensor xd(DataType::kDouble, xf.shape());
  for (int64_t i = 0; i < xf.numel(); ++i) xd.data<double>()[i] = xf.data<float>()[i];
  auto d = run_node("DFT", {xd}, {DataType::kDouble});
  EXPECT_EQ(d[0].tensor().dtype(), DataType::kDouble);
  const Tensor want = reference_dft(xf, 1, 12, false, false);
  EXPECT_TRUE(tensors_near(make<float>(want.shape(), to_floats(d[0].tensor())), want, 1e-5, 1e-5));
  Tensor xh(DataType::kFloat16, xf.shape());
  for (int64_t i = 0; i < xf.numel(); ++i) xh.data<Float16>()[i] = Float16(xf.data<float>()[i]);
  auto h = run_node("DFT", {xh}, {DataType::kFloat16});
  EXPECT_EQ(h[0].tensor().dtype(), DataType::kFloat16);
  EXPECT_TRUE(tensors_near(make<float>(want.shape(), to_floats(h[0].tensor())), want, 1e-2, 1e-2));
}

TEST(SignalDft, LargeTransformMatchesNaiveAndThreadsAgree) {
  Tensor x = random_float({4, 3001, 2}, 6);  // 3001 is prime: Bluestein
  auto one = run_node("DFT", {x}, {DataType::kFloat}, {}, 17, "", 1);
  auto four = run_node("DFT", {x}, {DataType::kFloat}, {}, 17, "", 4);
  EXPECT_TRUE(tensors_near(one[0].tensor(), four[0].tensor(), 0, 0));
  EXPECT_TRUE(tensors_near(one[0].tensor(), reference_dft(x, 1, 3001, false, false), 1e-3, 1e-3));
}

TEST(SignalDft, BadInputsAreErrors) {
  EXPECT_THROW(run_node("DFT", {random_float({2, 4, 3}, 1)}, {DataType::kFloat}), Error);          // last dim 3
  EXPECT_THROW(run_node("DFT", {random_float({2, 4, 1}, 1)}, {DataType::kFloat}, {attr("axis", 2)}), Error);
  EXPECT_THROW(run_node("DFT", {random_float({2, 4, 2}, 1)}, {DataType::kFloat}, {attr("onesided", 1)}), Error);
  EXPECT_THROW(run_node("DFT", {random_float({2, 4, 1}, 1), i64(0)}, {DataType::kFloat}), Error);
  EXPECT_THROW(run_node("DFT", {random_float({2, 4, 1}, 1), i64(int64_t{1} << 40)}, {DataType::kFloat}), Error);
}

TEST(SignalStft, FramesWindowAndOnesided) {
  Tensor sig = random_float({2, 100, 1}, 7);
  Tensor win = random_float({16}, 8, 0.f, 1.f);
  for (int onesided : {1, 0}) {
    auto out = run_node("STFT", {sig, i64(6), win}, {DataType::kFloat}, {attr("onesided", onesided)});
    const int64_t frames = (100 - 16) / 6 + 1, bins = onesided ? 9 : 16;
    ASSERT_EQ(out[0].tensor().shape(), (Shape{2, frames, bins, 2}));
    Tensor want(DataType::kFloat, {2, frames, bins, 2});
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t f = 0; f < frames; ++f) {
        std::vector<cld> fr;
        for (int64_t j = 0; j < 16; ++j)
          fr.emplace_back(sig.data<float>()[b * 100 + f * 6 + j] * win.data<float>()[j], 0);
        auto y = naive_dft(fr, 16, false);
        for (int64_t k = 0; k < bins; ++k) {
          want.data<float>()[((b * frames + f) * bins + k) * 2] = static_cast<float>(y[k].real());
          want.data<float>()[((b * frames + f) * bins + k) * 2 + 1] = static_cast<float>(y[k].imag());
        }
      }
    EXPECT_TRUE(tensors_near(out[0].tensor(), want, 1e-4, 1e-5));
  }
}

TEST(SignalStft, FrameLengthWithoutWindowAndComplexSignal) {
  Tensor sig = random_float({1, 30, 2}, 9);
  auto out = run_node("STFT", {sig, i64(10), Tensor(), i64(10)}, {DataType::kFloat}, {attr("onesided", 0)});
  ASSERT_EQ(out[0].tensor().shape(), (Shape{1, 3, 10, 2}));
  for (int64_t f = 0; f < 3; ++f) {
    std::vector<cld> fr;
    for (int64_t j = 0; j < 10; ++j)
      fr.emplace_back(sig.data<float>()[(f * 10 + j) * 2], sig.data<float>()[(f * 10 + j) * 2 + 1]);
    auto y = naive_dft(fr, 10, false);
    for (int64_t k = 0; k < 10; ++k) {
      EXPECT_NEAR(out[0].tensor().data<float>()[(f * 10 + k) * 2], static_cast<float>(y[k].real()), 1e-4);
      EXPECT_NEAR(out[0].tensor().data<float>()[(f * 10 + k) * 2 + 1], static_cast<float>(y[k].imag()), 1e-4);
    }
  }
}

TEST(SignalStft, BadInputsAreErrors) {
  Tensor sig = random_float({1, 30, 1}, 9);
  EXPECT_THROW(run_node("STFT", {sig, i64(0), Tensor(), i64(10)}, {DataType::kFloat}), Error);       // step 0
  EXPECT_THROW(run_node("STFT", {sig, i64(1), Tensor(), i64(31)}, {DataType::kFloat}), Error);       // too long
  EXPECT_THROW(run_node("STFT", {sig, i64(1), random_float({8}, 1), i64(10)}, {DataType::kFloat}), Error);
  EXPECT_THROW(run_node("STFT", {random_float({1, 30, 2}, 1), i64(1), Tensor(), i64(10)}, {DataType::kFloat}),
               Error);  // complex signal, onesided default 1
}

TEST(SignalWindow, HannHammingBlackmanPeriodicAndSymmetric) {
  struct W {
    const char* op;
    double a0, a1, a2;
  };
  for (W w : {W{"HannWindow", 0.5, 0.5, 0}, W{"HammingWindow", 25.0 / 46, 21.0 / 46, 0},
              W{"BlackmanWindow", 0.42, 0.5, 0.08}})
    for (int periodic : {1, 0})
      for (int64_t size : {1, 2, 10, 33}) {
        auto out = run_node(w.op, {make<int32_t>({}, {static_cast<int32_t>(size)})}, {DataType::kFloat},
                            {attr("periodic", periodic)});
        std::vector<float> want(static_cast<size_t>(size));
        const double n = periodic ? size : size - 1;
        for (int64_t k = 0; k < size; ++k) {
          const double a = 2 * std::numbers::pi * k / n;
          want[k] = n == 0 ? 1.f : static_cast<float>(w.a0 - w.a1 * std::cos(a) + w.a2 * std::cos(2 * a));
        }
        EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({size}, want), 1e-6, 1e-6))
            << w.op << " periodic=" << periodic << " size=" << size;
      }
}

TEST(SignalWindow, OutputDatatypeAndErrors) {
  auto d = run_node("HannWindow", {i64(8)}, {DataType::kDouble}, {attr("output_datatype", 11)});
  EXPECT_EQ(d[0].tensor().dtype(), DataType::kDouble);
  EXPECT_NEAR(d[0].tensor().data<double>()[4], 1.0, 1e-15);
  EXPECT_NEAR(d[0].tensor().data<double>()[2], 0.5, 1e-15);
  auto u = run_node("HannWindow", {i64(8)}, {DataType::kUInt8}, {attr("output_datatype", 2)});
  EXPECT_TRUE(tensors_near(u[0].tensor(), make<uint8_t>({8}, {0, 0, 0, 0, 1, 0, 0, 0})));
  auto empty = run_node("BlackmanWindow", {i64(0)}, {DataType::kFloat});
  EXPECT_EQ(empty[0].tensor().numel(), 0);
  EXPECT_THROW(run_node("HannWindow", {i64(-1)}, {DataType::kFloat}), Error);
  EXPECT_THROW(run_node("HannWindow", {i64(4)}, {DataType::kString}, {attr("output_datatype", 8)}), Error);
}

TEST(SignalMel, MatchesDefinition) {
  for (auto [bins, dft, rate, lo, hi] : {std::tuple{8, 16, 8192, 0.f, 4096.f}, std::tuple{20, 512, 16000, 20.f, 7600.f},
                                         std::tuple{5, 63, 1000, 100.f, 400.f}}) {
    auto out = run_node("MelWeightMatrix",
                        {make<int64_t>({}, {bins}), make<int64_t>({}, {dft}), make<int32_t>({}, {rate}),
                         make<float>({}, {lo}), make<float>({}, {hi})},
                        {DataType::kFloat});
    const int64_t spec = dft / 2 + 1;
    std::vector<float> want(static_cast<size_t>(spec * bins), 0.f);
    auto mel = [](double f) { return 2595 * std::log10(1 + f / 700); };
    const double step = (mel(hi) - mel(lo)) / (bins + 2);
    std::vector<int64_t> pt;
    for (int i = 0; i < bins + 2; ++i) {
      const double hz = 700 * (std::pow(10.0, (i * step + mel(lo)) / 2595) - 1);
      pt.push_back(static_cast<int64_t>(std::floor((dft + 1) * hz / rate)));
    }
    for (int i = 0; i < bins; ++i) {
      for (int64_t j = pt[i]; j <= pt[i + 1]; ++j)
        want[j * bins + i] = pt[i + 1] == pt[i] ? 1.f : float(j - pt[i]) / float(pt[i + 1] - pt[i]);
      for (int64_t j = pt[i + 1]; j < pt[i + 2]; ++j) want[j * bins + i] = float(pt[i + 2] - j) / float(pt[i + 2] - pt[i + 1]);
    }
    EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({spec, bins}, want), 1e-6, 1e-7)) << bins << " " << dft;
  }
}

TEST(SignalMel, BadInputsAreErrors) {
  auto run = [](int64_t bins, int64_t dft, int64_t rate, float lo, float hi) {
    return run_node("MelWeightMatrix",
                    {i64(bins), i64(dft), i64(rate), make<float>({}, {lo}), make<float>({}, {hi})}, {DataType::kFloat});
  };
  EXPECT_THROW(run(0, 16, 8000, 0, 4000), Error);
  EXPECT_THROW(run(4, 0, 8000, 0, 4000), Error);
  EXPECT_THROW(run(4, 16, 0, 0, 4000), Error);
  EXPECT_THROW(run(4, 16, 8000, 100, 50), Error);
  EXPECT_THROW(run(4, 16, 8000, 0, 9000), Error);  // above Nyquist
}
