// Naive reference implementations for the NN kernel tests (test_nn_*.cc).
// Written straight from the ONNX definitions, in double precision, with no
// attention to speed.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "pier/engine.h"
#include "test_util.h"

namespace pier::test::nnref {

}  // namespace pier::test::nnref

namespace pier::test {
// A copy of float-typed `t` in float type `to` (float, double, float16, bfloat16).
inline Tensor cast_to(const Tensor& t, DataType to) {
  const std::vector<float> v = to_floats(t);
  Tensor r(to, t.shape());
  for (size_t i = 0; i < v.size(); ++i) {
    switch (to) {
      case DataType::kFloat: r.data<float>()[i] = v[i]; break;
      case DataType::kDouble: r.data<double>()[i] = v[i]; break;
      case DataType::kFloat16: r.data<Float16>()[i] = Float16(v[i]); break;
      case DataType::kBFloat16: r.data<BFloat16>()[i] = BFloat16(v[i]); break;
      default: throw Error(ErrorCode::kInvalidArgument, "cast_to: not a float type");
    }
  }
  return r;
}
}  // namespace pier::test

namespace pier::test::nnref {

// Spatial geometry normalised to three dims (leading dims of size 1).
struct Dims3 {
  int64_t d[3] = {1, 1, 1};
};

inline Dims3 spatial3(const Shape& s) {  // s: N, C, spatial...
  Dims3 r;
  const size_t n = s.size() - 2;
  for (size_t i = 0; i < n; ++i) r.d[3 - n + i] = s[2 + i];
  return r;
}
inline Dims3 attr3(const std::vector<int64_t>& v, int64_t def, size_t n) {
  Dims3 r;
  for (int i = 0; i < 3; ++i) r.d[i] = def;
  for (size_t i = 0; i < n; ++i) r.d[3 - n + i] = v.empty() ? def : v[i];
  return r;
}

// Forward convolution. pads: begins then ends (may be empty).
inline Tensor conv(const Tensor& x, const Tensor& w, const Tensor* b, std::vector<int64_t> strides,
                   std::vector<int64_t> dil, std::vector<int64_t> pads, int64_t group) {
  const size_t n = x.rank() - 2;
  if (pads.empty()) pads.assign(2 * n, 0);
  const Dims3 in = spatial3(x.shape()), k = spatial3(w.shape());
  const Dims3 s = attr3(strides, 1, n), d = attr3(dil, 1, n);
  const Dims3 pb = attr3(std::vector<int64_t>(pads.begin(), pads.begin() + n), 0, n);
  const Dims3 pe = attr3(std::vector<int64_t>(pads.begin() + n, pads.end()), 0, n);
  Dims3 out;
  for (int i = 0; i < 3; ++i) out.d[i] = (in.d[i] + pb.d[i] + pe.d[i] - ((k.d[i] - 1) * d.d[i] + 1)) / s.d[i] + 1;
  const int64_t N = x.dim(0), C = x.dim(1), M = w.dim(0), cg = C / group, mg = M / group;
  Shape ys{N, M};
  for (size_t i = 0; i < n; ++i) ys.push_back(out.d[3 - n + i]);
  std::vector<float> X = to_floats(x), W = to_floats(w), B = b ? to_floats(*b) : std::vector<float>();
  std::vector<float> Y;
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o0 = 0; o0 < out.d[0]; ++o0)
        for (int64_t o1 = 0; o1 < out.d[1]; ++o1)
          for (int64_t o2 = 0; o2 < out.d[2]; ++o2) {
            double acc = b ? B[m] : 0.0;
            const int64_t g = m / mg;
            for (int64_t c = 0; c < cg; ++c)
              for (int64_t k0 = 0; k0 < k.d[0]; ++k0)
                for (int64_t k1 = 0; k1 < k.d[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k.d[2]; ++k2) {
                    const int64_t i0 = o0 * s.d[0] - pb.d[0] + k0 * d.d[0];
                    const int64_t i1 = o1 * s.d[1] - pb.d[1] + k1 * d.d[1];
                    const int64_t i2 = o2 * s.d[2] - pb.d[2] + k2 * d.d[2];
                    if (i0 < 0 || i0 >= in.d[0] || i1 < 0 || i1 >= in.d[1] || i2 < 0 || i2 >= in.d[2]) continue;
                    const int64_t xi = (((nn * C + g * cg + c) * in.d[0] + i0) * in.d[1] + i1) * in.d[2] + i2;
                    const int64_t wi = (((m * cg + c) * k.d[0] + k0) * k.d[1] + k1) * k.d[2] + k2;
                    acc += double(X[xi]) * W[wi];
                  }
            Y.push_back(static_cast<float>(acc));
          }
  return Tensor::from_vector(Y, ys);
}

// Transposed convolution by scattering each input element; `out` gives the
// output spatial dims and `pb` the leading pads (negative allowed).
inline Tensor conv_transpose(const Tensor& x, const Tensor& w, const Tensor* b, std::vector<int64_t> strides,
                             std::vector<int64_t> dil, std::vector<int64_t> pb_v, std::vector<int64_t> out_v,
                             int64_t group) {
  const size_t n = x.rank() - 2;
  const Dims3 in = spatial3(x.shape()), k = spatial3(w.shape());
  const Dims3 s = attr3(strides, 1, n), d = attr3(dil, 1, n), pb = attr3(pb_v, 0, n), out = attr3(out_v, 1, n);
  const int64_t N = x.dim(0), C = x.dim(1), cg = C / group, mg = w.dim(1), M = mg * group;
  Shape ys{N, M};
  for (size_t i = 0; i < n; ++i) ys.push_back(out.d[3 - n + i]);
  const int64_t osz = out.d[0] * out.d[1] * out.d[2];
  std::vector<double> acc(static_cast<size_t>(N * M * osz), 0.0);
  std::vector<float> X = to_floats(x), W = to_floats(w);
  for (int64_t nn = 0; nn < N; ++nn)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i0 = 0; i0 < in.d[0]; ++i0)
        for (int64_t i1 = 0; i1 < in.d[1]; ++i1)
          for (int64_t i2 = 0; i2 < in.d[2]; ++i2) {
            const double xv = X[(((nn * C + c) * in.d[0] + i0) * in.d[1] + i1) * in.d[2] + i2];
            const int64_t g = c / cg;
            for (int64_t m = 0; m < mg; ++m)
              for (int64_t k0 = 0; k0 < k.d[0]; ++k0)
                for (int64_t k1 = 0; k1 < k.d[1]; ++k1)
                  for (int64_t k2 = 0; k2 < k.d[2]; ++k2) {
                    const int64_t o0 = i0 * s.d[0] + k0 * d.d[0] - pb.d[0];
                    const int64_t o1 = i1 * s.d[1] + k1 * d.d[1] - pb.d[1];
                    const int64_t o2 = i2 * s.d[2] + k2 * d.d[2] - pb.d[2];
                    if (o0 < 0 || o0 >= out.d[0] || o1 < 0 || o1 >= out.d[1] || o2 < 0 || o2 >= out.d[2]) continue;
                    const double wv = W[(((c * mg + m) * k.d[0] + k0) * k.d[1] + k1) * k.d[2] + k2];
                    acc[((nn * M + g * mg + m) * out.d[0] + o0) * out.d[1] * out.d[2] + o1 * out.d[2] + o2] += xv * wv;
                  }
          }
  std::vector<float> Y(acc.size());
  const std::vector<float> B = b ? to_floats(*b) : std::vector<float>();
  for (size_t i = 0; i < acc.size(); ++i) Y[i] = static_cast<float>(acc[i] + (b ? B[(i / osz) % M] : 0.0));
  return Tensor::from_vector(Y, ys);
}

// Row-major matrix product of float matrices: [m,k] x [k,n].
inline std::vector<double> matmul(const std::vector<float>& a, const std::vector<float>& b, int64_t m, int64_t k,
                                  int64_t n) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) c[i * n + j] += double(a[i * k + p]) * b[p * n + j];
  return c;
}

}  // namespace pier::test::nnref
