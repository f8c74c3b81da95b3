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
  for (int64_t j = 0; j < n_; ++j) a[j] = data[j] * chirp_[j];
  for (int64_t j = n_; j < m_; ++j) a[j] = 0;
  sub_->forward(a, sub_scratch);
  // Multiply by the kernel and transform back (inverse = conj/forward/conj).
  for (int64_t k = 0; k < m_; ++k) a[k] = std::conj(a[k] * kernel_[k]);
  sub_->forward(a, sub_scratch);
  for (int64_t k = 0; k < n_; ++k) data[k] = std::conj(a[k]) * chirp_[k];
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
      const cdouble a = out[k], b = out[k + m] * tw[k * ts];
      out[k] = a + b;
      out[k + m] = a - b;
    }
  } else if (p == 4) {
    for (int64_t k = 0; k < m; ++k) {
      const cdouble a0 = out[k];
      const cdouble a1 = out[k + m] * tw[k * ts];
      const cdouble a2 = out[k + 2 * m] * tw[2 * k * ts];
      const cdouble a3 = out[k + 3 * m] * tw[3 * k * ts];
      const cdouble t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3;
      const cdouble d = a1 - a3;
      const cdouble t3(d.imag(), -d.real());  // -i * (a1 - a3)
      out[k] = t0 + t2;
      out[k + m] = t1 + t3;
      out[k + 2 * m] = t0 - t2;
      out[k + 3 * m] = t1 - t3;
    }
  } else {
    cdouble t[kMaxRadix];
    const int64_t root = n_ / p;  // exp(-2*pi*i/p) = twiddle_[root]
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t r = 0; r < p; ++r) t[r] = out[k + r * m] * tw[r * k * ts];
      for (int64_t q = 0; q < p; ++q) {
        cdouble s = t[0];
        int64_t e = 0;
        for (int64_t r = 1; r < p; ++r) {
          e += q;
          if (e >= p) e -= p;
          s += t[r] * tw[e * root];
        }
        out[k + q * m] = s;
      }
    }
  }
}

}  // namespace pier::kernels::fft
