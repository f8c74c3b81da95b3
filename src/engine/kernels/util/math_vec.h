// Branch-free float versions of exp, expm1, log, tanh, sigmoid and erf that GCC can
// auto-vectorize (no calls, no data-dependent branches: every path is
// computed and blended). Relative error is a few float ulps (< 1e-6) over the
// whole range; NaN propagates, +-inf and overflow/underflow saturate like
// the libm functions. Double inputs use <cmath> instead (see vexp() etc.).
//
// Polynomial coefficients were fitted for Pier (weighted least squares
// iterated toward minimax, mpmath reference) on the ranges noted below.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace pier::kernels::vmath {

// c ? a : b computed without a branch. Both a and b are always evaluated;
// GCC (with its default -ftrapping-math) refuses to if-convert a ternary
// whose arms do float arithmetic, which blocks vectorization, but it does
// vectorize this bitwise blend.
inline float sel(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & m) | (std::bit_cast<uint32_t>(b) & ~m));
}
inline double sel(bool c, double a, double b) {
  const uint64_t m = uint64_t{0} - static_cast<uint64_t>(c);
  return std::bit_cast<double>((std::bit_cast<uint64_t>(a) & m) | (std::bit_cast<uint64_t>(b) & ~m));
}

// exp(x) for float. Range reduction x = n*ln2 + r with |r| <= ln2/2, a degree
// 7 Taylor polynomial for exp(r), and 2^n applied in two halves so that
// results up to FLT_MAX come out right. Results below FLT_MIN (x < -87.33)
// are flushed to +0: subnormal arithmetic costs ~100 cycles per operation on
// x86 without flush-to-zero, and softmax/sigmoid over masked or very
// negative logits would hit it constantly. The absolute error is < 1.2e-38.
inline float exp_f(float x) {
  constexpr float kLow = -87.33f;  // exp(kLow) = 1.183e-38 > FLT_MIN
  const float xc = sel(x < kLow, kLow, sel(x > 88.8f, 88.8f, x));  // NaN passes through
  const float shifter = 12582912.f;                                 // 1.5 * 2^23: rounds to integer
  const float t = xc * 1.44269504088896341f + shifter;
  const float nf = t - shifter;
  const float r = (xc - nf * 0.693359375f) - nf * -2.12194440e-4f;
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t n = static_cast<int32_t>(sel(nf == nf, nf, 0.f));  // in [-126, 129]
  const int32_t n1 = n >> 1, n2 = n - n1;
  const float s1 = std::bit_cast<float>(static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = std::bit_cast<float>(static_cast<uint32_t>(n2 + 127) << 23);
  const float y = sel(x < kLow, 0.f, p * s1 * s2);
  return sel(x == x, y, x);
}

// tanh(x): odd polynomial below 0.55 (fitted to tanh(x)/x in x^2, rel. error
// 1e-9), 1 - 2 / (exp(2|x|) + 1) above, sign restored.
inline float tanh_f(float x) {
  const float a = std::fabs(x);
  const float z = a * a;
  float p = -6.253639815e-03f;
  p = p * z + 2.105436424e-02f;
  p = p * z + -5.384700003e-02f;
  p = p * z + 1.333251454e-01f;
  p = p * z + -3.333331359e-01f;
  p = p * z + 9.999999994e-01f;
  const float small = p * a;
  const float e = exp_f(2.f * a);
  const float big = 1.f - 2.f / (e + 1.f);
  const float m = sel(a < 0.55f, small, big);
  const float y = std::copysign(m, x);
  return sel(x == x, y, x);
}

// exp(x) - 1, accurate near 0: Taylor series of degree 8 for |x| < ln2/2.
inline float expm1_f(float x) {
  float p = 1.f / 40320.f;
  p = p * x + 1.f / 5040.f;
  p = p * x + 1.f / 720.f;
  p = p * x + 1.f / 120.f;
  p = p * x + 1.f / 24.f;
  p = p * x + 1.f / 6.f;
  p = p * x + 0.5f;
  p = p * x + 1.f;
  return sel(std::fabs(x) < 0.3466f, p * x, exp_f(x) - 1.f);
}

// log(x) for float: x = 2^e * m with m in [sqrt(1/2), sqrt(2)), then
// log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to
// s^9. Subnormals are scaled up first; 0, negatives, inf and NaN follow libm.
inline float log_f(float x) {
  const bool sub = x < 1.17549435e-38f;
  const float xs = sel(sub, x * 8388608.f, x);
  const uint32_t bits = std::bit_cast<uint32_t>(xs);
  int32_t e = static_cast<int32_t>((bits >> 23) & 0xffu) - 127 - (sub ? 23 : 0);
  float m = std::bit_cast<float>((bits & 0x007fffffu) | 0x3f800000u);
  const bool big = m > 1.41421356f;
  m = sel(big, m * 0.5f, m);
  e += big ? 1 : 0;
  const float s = (m - 1.f) / (m + 1.f);
  const float z = s * s;
  float p = 2.f / 9.f;
  p = p * z + 2.f / 7.f;
  p = p * z + 2.f / 5.f;
  p = p * z + 2.f / 3.f;
  p = p * z + 2.f;
  const float ef = static_cast<float>(e);
  float y = ef * 0.693359375f + (p * s + ef * -2.12194440e-4f);
  y = sel(x == 0.f, -std::numeric_limits<float>::infinity(), y);
  y = sel(x < 0.f, std::numeric_limits<float>::quiet_NaN(), y);
  y = sel(x == std::numeric_limits<float>::infinity(), x, y);
  return sel(x == x, y, x);
}

// log(1 + x) for x >= 0 (used by softplus), accurate for tiny x.
inline float log1p_pos_f(float x) {
  const float u = 1.f + x;
  const float d = u - 1.f;
  return sel(d == 0.f, x, log_f(u) * (x / sel(d == 0.f, 1.f, d)));
}

// 1 / (1 + exp(-x)).
inline float sigmoid_f(float x) { return 1.f / (1.f + exp_f(-x)); }

// erf(x): x * P(x^2) below 1 (rel. error 1.3e-9); above,
// 1 - exp(-x^2) * Q(1/x) with Q fitted to erfc(x) * exp(x^2) on [1, 3.95]
// (rel. error 6e-8); 1 beyond 3.95, where erf rounds to 1 in float.
inline float erf_f(float x) {
  const float a = std::fabs(x);
  const float z = a * a;
  float p = 7.877468425e-05f;
  p = p * z + -8.017764392e-04f;
  p = p * z + 5.189255922e-03f;
  p = p * z + -2.685435256e-02f;
  p = p * z + 1.128360015e-01f;
  p = p * z + -3.761262753e-01f;
  p = p * z + 1.128379166e+00f;
  const float small = p * a;
  const float ac = sel(a < 1.f, 1.f, sel(a > 3.95f, 3.95f, a));
  const float u = 1.f / ac;
  float q = -1.107413349e-02f;
  q = q * u + 3.644537820e-02f;
  q = q * u + 7.464465617e-03f;
  q = q * u + -2.233084731e-01f;
  q = q * u + 4.841218923e-01f;
  q = q * u + -4.661536441e-01f;
  q = q * u + 4.058083197e-02f;
  q = q * u + 5.592497508e-01f;
  q = q * u + 2.574805225e-04f;
  const float big = 1.f - exp_f(-ac * ac) * q;
  const float m = sel(a < 1.f, small, sel(a >= 3.95f, 1.f, big));
  const float y = std::copysign(m, x);
  return sel(x == x, y, x);
}

// Rounding without libm calls (SSE2 has no round instruction): adding and
// subtracting 2^23 (2^52 for double) rounds to an integer, ties to even, in
// the default rounding mode. Values at or above that are integers already.
template <typename C>
inline C round_even(C x) {
  constexpr C big = sizeof(C) == 4 ? C(8388608.0) : C(4503599627370496.0);
  const C a = std::fabs(x);
  return sel(a < big, std::copysign((a + big) - big, x), x);
}
// floor and ceil keep the sign of x (floor(-0.) = -0., ceil(-0.5) = -0.).
template <typename C>
inline C floor_v(C x) {
  const C r = round_even(x);
  return std::copysign(sel(r > x, r - C(1), r), x);
}
template <typename C>
inline C ceil_v(C x) {
  const C r = round_even(x);
  return std::copysign(sel(r < x, r + C(1), r), x);
}

// Overloads used by templated kernels: float goes through the fast
// versions, double through libm.
inline float vexp(float x) { return exp_f(x); }
inline double vexp(double x) { return std::exp(x); }
inline float vtanh(float x) { return tanh_f(x); }
inline double vtanh(double x) { return std::tanh(x); }
inline float vsigmoid(float x) { return sigmoid_f(x); }
inline double vsigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline float verf(float x) { return erf_f(x); }
inline float vexpm1(float x) { return expm1_f(x); }
inline double vexpm1(double x) { return std::expm1(x); }
inline float vlog(float x) { return log_f(x); }
inline double vlog(double x) { return std::log(x); }
inline double verf(double x) { return std::erf(x); }

}  // namespace pier::kernels::vmath
