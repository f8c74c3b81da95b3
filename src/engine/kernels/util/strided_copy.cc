#include "kernels/util/strided_copy.h"

#include <algorithm>

#include "kernels/util/parallel.h"

namespace pier::kernels {

void simplify_view(Shape& shape, std::vector<int64_t>& strides) {
  Shape s;
  std::vector<int64_t> st;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!s.empty() && st.back() == strides[d] * shape[d]) {
      s.back() *= shape[d];
      st.back() = strides[d];
      continue;
    }
    s.push_back(shape[d]);
    st.push_back(strides[d]);
  }
  if (s.empty()) {
    s.push_back(1);
    st.push_back(1);
  }
  shape = std::move(s);
  strides = std::move(st);
}

namespace {

template <typename T>
void copy_rows(const T* src, const Shape& shape, const std::vector<int64_t>& st, T* dst, int threads) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t inner = shape.back(), is = st.back();
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < rank; ++d) rows *= shape[d];
  auto copy_run = [is](const T* s, T* d, int64_t n) {
    if (is == 1) std::copy_n(s, n, d);
    else if (is == 0) std::fill_n(d, n, *s);
    else
      for (int64_t i = 0; i < n; ++i) d[i] = s[i * is];
  };
  constexpr int64_t kPiece = 1 << 15;
  if (threads > 1 && rows < threads && inner >= 2 * kPiece) {
    // Few long rows (a contiguous copy is one row): split the rows too.
    const int64_t pieces = (inner + kPiece - 1) / kPiece;
    parallel_for(threads, rows * pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        int64_t r = t / pieces, off = 0;
        const int64_t i0 = (t % pieces) * kPiece, n = std::min(kPiece, inner - i0);
        T* d0 = dst + (t / pieces) * inner + i0;
        for (int64_t d = rank - 2; d >= 0; --d) {
          off += (r % shape[d]) * st[d];
          r /= shape[d];
        }
        copy_run(src + off + i0 * is, d0, n);
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  parallel_for(threads, rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> idx(rank, 0);
    int64_t off = 0, r = begin;
    for (int64_t d = rank - 2; d >= 0; --d) {
      idx[d] = r % shape[d];
      r /= shape[d];
      off += idx[d] * st[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      copy_run(src + off, dst + row * inner, inner);
      for (int64_t k = rank - 2; k >= 0; --k) {
        off += st[k];
        if (++idx[k] < shape[k]) break;
        off -= st[k] * shape[k];
        idx[k] = 0;
      }
    }
  });
}

}  // namespace

void strided_copy(const Tensor& src, int64_t offset, Shape shape, std::vector<int64_t> strides, Tensor& dst,
                  int threads) {
  if (shape_numel(shape) == 0) return;
  simplify_view(shape, strides);
  dispatch_elements(src.dtype(), [&](auto tag) {
    using T = decltype(tag);
    copy_rows<T>(static_cast<const T*>(src.raw()) + offset, shape, strides, static_cast<T*>(dst.raw()), threads);
  });
}

}  // namespace pier::kernels
