#include "kernels/util/signal_fft.h"

#include <cmath>
#include <numbers>
#include <string>

#include "pier/engine.h"

namespace pier::kernels::fft {

namespace {

// Prime factors of n, 4s first (radix-4 butterflies are the cheapest per
// point), then 2, 3, 5, ... Returns false when one exceeds `max_radix`.
bool factorize(int64_t n, int64_t max_radix, std::vector<int64_t>& out) {
  while (n % 4 == 0) {
    out.push_back(4);
    n /= 4;
  }
  for (int64_t p = 2; p * p <= n; p += (p == 2 ? 1 : 2)) {
    while (n % p == 0) {
      if (p > max_radix) return false;
      out.push_back(p);
      n /= p;
    }
  }
  if (n > 1) {
    if (n > max_radix) return false;
    out.push_back(n);
  }
  return true;
}

// Plain complex product (std::complex's operator* adds NaN/inf recovery
// that the transforms do not need).
inline cdouble cmul(cdouble a, cdouble b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

inline cdouble mul_neg_i(cdouble a) { return {a.imag(), -a.real()}; }  // -i * a

cdouble unit(double turns) {  // exp(-2*pi*i*turns)
  const double a = -2.0 * std::numbers::pi * turns;
  return {std::cos(a), std::sin(a)};
}

}  // namespace

FftPlan::FftPlan(int64_t n) : n_(n) {
  if (n < 1 || n > kMaxLength)
    throw Error(ErrorCode::kInvalidArgument,
                "FFT length must be in [1, 2^30], got " + std::to_string(n));
  if (factorize(n, kMaxRadix, factors_)) {
    twiddle_.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) twiddle_[j] = unit(static_cast<double>(j) / static_cast<double>(n));
    return;
  }
  factors_.clear();
  m_ = 1;
  while (m_ < 2 * n - 1) m_ *= 2;
  sub_ = std::make_unique<FftPlan>(m_);
  chirp_.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    // exp(-pi*i*k^2/n) with k^2 reduced mod 2n to keep the angle small.
    const int64_t k2 = (k * k) % (2 * n);
    chirp_[k] = unit(static_cast<double>(k2) / static_cast<double>(2 * n));
  }
  kernel_.assign(static_cast<size_t>(m_), cdouble{});
  kernel_[0] = std::conj(chirp_[0]);
  for (int64_t k = 1; k < n; ++k) kernel_[k] = kernel_[m_ - k] = std::conj(chirp_[k]);
  std::vector<cdouble> scratch(static_cast<size_t>(sub_->scratch_size()));
  sub_->forward(kernel_.data(), scratch.data());
  const double inv_m = 1.0 / static_cast<double>(m_);
  for (auto& v : kernel_) v *= inv_m;
}

FftPlan::~FftPlan() = default;

int64_t FftPlan::scratch_size() const { return sub_ ? 2 * m_ : n_; }

void FftPlan::run(cdouble* data, bool inverse, cdouble* scratch) const {
  // The inverse transform is conj(forward(conj(x))).
  if (inverse)
    for (int64_t i = 0; i < n_; ++i) data[i] = std::conj(data[i]);
  forward(data, scratch);
  if (inverse)
    for (int64_t i = 0; i < n_; ++i) data[i] = std::conj(data[i]);
}

void FftPlan::forward(cdouble* data, cdouble* scratch) const {
  if (n_ == 1) return;
  if (!sub_) {
    for (int64_t i = 0; i < n_; ++i) scratch[i] = data[i];
    mixed(scratch, 1, data, n_, 0);
    return;
  }
  // Bluestein: X_k = w_k * sum_j (x_j w_j) conj(w_{k-j}), a convolution
  // done with power-of-two FFTs.
  cdouble* a = scratch;
  cdouble* sub_scratch = scratch + m_;
  for (int64_t j = 0; j < n_; ++j) a[j] = cmul(data[j], chirp_[j]);
  for (int64_t j = n_; j < m_; ++j) a[j] = 0;
  sub_->forward(a, sub_scratch);
  // Multiply by the kernel and transform back (inverse = conj/forward/conj).
  for (int64_t k = 0; k < m_; ++k) a[k] = std::conj(cmul(a[k], kernel_[k]));
  sub_->forward(a, sub_scratch);
  for (int64_t k = 0; k < n_; ++k) data[k] = cmul(std::conj(a[k]), chirp_[k]);
}

// Decimation in time: the n points in[0], in[stride], ... are split into p
// interleaved sub-sequences whose transforms land in out[r*m .. r*m+m), then
// combined with p-point butterflies in place.
void FftPlan::mixed(const cdouble* in, int64_t stride, cdouble* out, int64_t n, size_t level) const {
  const int64_t p = factors_[level];
  const int64_t m = n / p;
  if (m == 1) {
    for (int64_t r = 0; r < p; ++r) out[r] = in[r * stride];
  } else {
    for (int64_t r = 0; r < p; ++r) mixed(in + r * stride, stride * p, out + r * m, m, level + 1);
  }
  const int64_t ts = n_ / n;  // twiddle index step: exp(-2*pi*i*j/n) = twiddle_[j*ts]
  const cdouble* tw = twiddle_.data();
  if (p == 2) {
    for (int64_t k = 0; k < m; ++k) {
      const cdouble a = out[k], b = cmul(out[k + m], tw[k * ts]);
      out[k] = a + b;
      out[k + m] = a - b;
    }
  } else if (p == 4) {
    for (int64_t k = 0; k < m; ++k) {
      const cdouble a0 = out[k];
      const cdouble a1 = cmul(out[k + m], tw[k * ts]);
      const cdouble a2 = cmul(out[k + 2 * m], tw[2 * k * ts]);
      const cdouble a3 = cmul(out[k + 3 * m], tw[3 * k * ts]);
      const cdouble t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3;
      const cdouble t3 = mul_neg_i(a1 - a3);
      out[k] = t0 + t2;
      out[k + m] = t1 + t3;
      out[k + 2 * m] = t0 - t2;
      out[k + 3 * m] = t1 - t3;
    }
  } else if (p == 3) {
    const double s = std::sqrt(3.0) / 2;  // sin(2*pi/3)
    for (int64_t k = 0; k < m; ++k) {
      const cdouble a0 = out[k];
      const cdouble a1 = cmul(out[k + m], tw[k * ts]);
      const cdouble a2 = cmul(out[k + 2 * m], tw[2 * k * ts]);
      const cdouble t1 = a1 + a2;
      const cdouble t2 = a0 - 0.5 * t1;
      const cdouble t3 = mul_neg_i(s * (a1 - a2));
      out[k] = a0 + t1;
      out[k + m] = t2 + t3;
      out[k + 2 * m] = t2 - t3;
    }
  } else if (p == 5) {
    const double c1 = std::cos(2 * std::numbers::pi / 5), c2 = std::cos(4 * std::numbers::pi / 5);
    const double s1 = std::sin(2 * std::numbers::pi / 5), s2 = std::sin(4 * std::numbers::pi / 5);
    for (int64_t k = 0; k < m; ++k) {
      const cdouble a0 = out[k];
      const cdouble a1 = cmul(out[k + m], tw[k * ts]);
      const cdouble a2 = cmul(out[k + 2 * m], tw[2 * k * ts]);
      const cdouble a3 = cmul(out[k + 3 * m], tw[3 * k * ts]);
      const cdouble a4 = cmul(out[k + 4 * m], tw[4 * k * ts]);
      const cdouble b1 = a1 + a4, b2 = a2 + a3, d1 = a1 - a4, d2 = a2 - a3;
      const cdouble r1 = a0 + c1 * b1 + c2 * b2, r2 = a0 + c2 * b1 + c1 * b2;
      const cdouble i1 = mul_neg_i(s1 * d1 + s2 * d2), i2 = mul_neg_i(s2 * d1 - s1 * d2);
      out[k] = a0 + b1 + b2;
      out[k + m] = r1 + i1;
      out[k + 4 * m] = r1 - i1;
      out[k + 2 * m] = r2 + i2;
      out[k + 3 * m] = r2 - i2;
    }
  } else {
    cdouble t[kMaxRadix];
    const int64_t root = n_ / p;  // exp(-2*pi*i/p) = twiddle_[root]
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t r = 0; r < p; ++r) t[r] = cmul(out[k + r * m], tw[r * k * ts]);
      for (int64_t q = 0; q < p; ++q) {
        cdouble s = t[0];
        int64_t e = 0;
        for (int64_t r = 1; r < p; ++r) {
          e += q;
          if (e >= p) e -= p;
          s += cmul(t[r], tw[e * root]);
        }
        out[k + q * m] = s;
      }
    }
  }
}

}  // namespace pier::kernels::fft
