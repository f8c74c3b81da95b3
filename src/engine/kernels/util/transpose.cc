#include "kernels/util/transpose.h"

#include <algorithm>
#if defined(__SSE2__)
#include <xmmintrin.h>
#endif
#include <string>

#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

void check_permutation(const std::vector<int64_t>& perm, int64_t rank) {
  std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 0)), false);
  bool ok = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm) {
    if (!ok) break;
    ok = p >= 0 && p < rank && !seen[p];
    if (ok) seen[p] = true;
  }
  if (!ok) {
    std::string s = "[";
    for (size_t i = 0; i < perm.size(); ++i) {
      if (i) s.push_back(',');
      s.append(std::to_string(perm[i]));
    }
    throw Error(ErrorCode::kInvalidArgument,
                "perm " + s + "] is not a permutation of the " + std::to_string(rank) + " input axes");
  }
}

namespace {

// Tile edge in elements (a multiple of 4 for the SSE micro-kernel):
// reads and writes of one tile stay in L1/L2.
template <typename T>
constexpr int64_t tile_edge() {
  return sizeof(T) <= 4 ? 64 : 32;
}

// One tile: out[i * osq + j] = in[i + j * sl] for i in [q0, q1), j in [l0, l1).
template <typename T>
inline void transpose_tile(const T* s, int64_t sl, T* o, int64_t osq, int64_t q0, int64_t q1, int64_t l0, int64_t l1) {
  int64_t i = q0;
#if defined(__SSE2__)
  if constexpr (sizeof(T) == 4) {
    // 4x4 register transposes over the full blocks of the tile.
    const int64_t l4 = l0 + (l1 - l0) / 4 * 4;
    for (; i + 4 <= q1; i += 4) {
      int64_t j = l0;
      for (; j < l4; j += 4) {
        const float* r = reinterpret_cast<const float*>(s + i + j * sl);
        __m128 a = _mm_loadu_ps(r), b = _mm_loadu_ps(r + sl), c = _mm_loadu_ps(r + 2 * sl), d = _mm_loadu_ps(r + 3 * sl);
        _MM_TRANSPOSE4_PS(a, b, c, d);
        float* w = reinterpret_cast<float*>(o + i * osq + j);
        _mm_storeu_ps(w, a);
        _mm_storeu_ps(w + osq, b);
        _mm_storeu_ps(w + 2 * osq, c);
        _mm_storeu_ps(w + 3 * osq, d);
      }
      for (int64_t ii = i; ii < i + 4; ++ii)
        for (int64_t jj = j; jj < l1; ++jj) o[ii * osq + jj] = s[ii + jj * sl];
    }
  }
#endif
  for (; i < q1; ++i) {
    T* orow = o + i * osq;
    const T* scol = s + i;
    for (int64_t j = l0; j < l1; ++j) orow[j] = scol[j * sl];
  }
}

// View (after simplification) whose innermost output dim L reads input
// with stride sL != 1, and whose dim q reads the input contiguously.
// For every combination of the other dims, out[i_q, j_L] = in[i_q + j_L*sL],
// done in square tiles so reads and writes both stay in cache.
template <typename T>
void tiled_transpose(const T* src, const Shape& shape, const std::vector<int64_t>& st, int64_t q, T* dst,
                     int threads) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t L = rank - 1;
  const auto out_st = strides_of(shape);
  const int64_t nq = shape[q], nl = shape[L], sl = st[L], osq = out_st[q];
  // Other dims (not q, not L) enumerate the outer loop.
  std::vector<int64_t> odims;
  for (int64_t d = 0; d < L; ++d)
    if (d != q) odims.push_back(d);
  int64_t outer = 1;
  for (int64_t d : odims) outer *= shape[d];
  constexpr int64_t B = tile_edge<T>();
  const int64_t tq = (nq + B - 1) / B, tl = (nl + B - 1) / B;
  const int64_t tasks = outer * tq * tl;
  const int64_t grain = std::max<int64_t>(1, 16384 / (B * B));
  parallel_for(threads, tasks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t r = t;
      const int64_t bl = r % tl;
      r /= tl;
      const int64_t bq = r % tq;
      r /= tq;
      int64_t in_off = 0, out_off = 0;
      for (size_t k = odims.size(); k-- > 0;) {
        const int64_t d = odims[k];
        const int64_t i = r % shape[d];
        r /= shape[d];
        in_off += i * st[d];
        out_off += i * out_st[d];
      }
      const int64_t q0 = bq * B, q1 = std::min(nq, q0 + B);
      const int64_t l0 = bl * B, l1 = std::min(nl, l0 + B);
      const T* s = src + in_off;
      T* o = dst + out_off;
      transpose_tile<T>(s, sl, o, osq, q0, q1, l0, l1);
    }
  });
}

}  // namespace

void transpose(const Tensor& in, const std::vector<int64_t>& perm, Tensor& out, int threads) {
  const int64_t rank = in.rank();
  check_permutation(perm, rank);
  if (in.numel() == 0) return;
  const auto in_st = strides_of(in.shape());
  Shape shape(rank);
  std::vector<int64_t> st(rank);
  for (int64_t i = 0; i < rank; ++i) {
    shape[i] = in.shape()[perm[i]];
    st[i] = in_st[perm[i]];
  }
  simplify_view(shape, st);
  if (st.back() == 1 || in.dtype() == DataType::kString) {
    strided_copy(in, 0, shape, st, out, threads);
    return;
  }
  int64_t q = -1;
  for (size_t d = 0; d < st.size(); ++d)
    if (st[d] == 1) q = static_cast<int64_t>(d);
  if (q < 0) {  // cannot happen for a contiguous input; stay correct anyway
    strided_copy(in, 0, shape, st, out, threads);
    return;
  }
  dispatch_bytes(in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    tiled_transpose<T>(static_cast<const T*>(in.raw()), shape, st, q, static_cast<T*>(out.raw()), threads);
  });
}

Tensor transposed(const Tensor& in, const std::vector<int64_t>& perm, int threads) {
  check_permutation(perm, in.rank());
  Shape s(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) s[i] = in.shape()[perm[i]];
  Tensor out(in.dtype(), s);
  transpose(in, perm, out, threads);
  return out;
}

}  // namespace pier::kernels
