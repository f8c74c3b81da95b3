// Complex FFT of any length for the signal ops (DFT, STFT).
//
// Lengths whose prime factors are all small use a recursive mixed-radix
// Cooley-Tukey transform (radix 4, 2, 3, 5, ... up to kMaxRadix); other
// lengths use Bluestein's chirp-z algorithm on a power-of-two transform.
// Both are O(n log n). Arithmetic is in double.
//
// A plan is immutable after construction, so one plan may be used by
// several threads at once, each with its own scratch buffer.
#pragma once

#include <complex>
#include <cstdint>
#include <memory>
#include <vector>

namespace pier::kernels::fft {

using cdouble = std::complex<double>;

class FftPlan {
 public:
  // Largest prime factor handled by the mixed-radix path.
  static constexpr int64_t kMaxRadix = 31;
  // Largest length accepted (so index arithmetic cannot overflow).
  static constexpr int64_t kMaxLength = int64_t{1} << 30;

  // Raises pier::Error (kInvalidArgument) unless 1 <= n <= kMaxLength.
  explicit FftPlan(int64_t n);
  ~FftPlan();
  FftPlan(const FftPlan&) = delete;
  FftPlan& operator=(const FftPlan&) = delete;

  int64_t size() const { return n_; }
  bool uses_bluestein() const { return sub_ != nullptr; }
  // Complex elements of scratch that run() needs.
  int64_t scratch_size() const;

  // In place: data[k] = sum_j data[j] * exp(-+2*pi*i*j*k/n), the sign being
  // + for the inverse. The inverse is not scaled by 1/n.
  void run(cdouble* data, bool inverse, cdouble* scratch) const;

 private:
  void forward(cdouble* data, cdouble* scratch) const;
  void mixed(const cdouble* in, int64_t stride, cdouble* out, int64_t n, size_t level) const;

  int64_t n_ = 0;
  std::vector<int64_t> factors_;   // mixed radix: product is n_
  std::vector<cdouble> twiddle_;   // mixed radix: exp(-2*pi*i*j/n), j < n
  // Bluestein
  int64_t m_ = 0;                  // power of two >= 2n-1
  std::unique_ptr<FftPlan> sub_;   // plan of size m_
  std::vector<cdouble> chirp_;     // exp(-pi*i*k^2/n), k < n
  std::vector<cdouble> kernel_;    // FFT of the conjugate chirp, zero padded to m_, scaled by 1/m_
};

}  // namespace pier::kernels::fft
