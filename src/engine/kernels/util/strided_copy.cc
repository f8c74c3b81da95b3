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
      T* d = dst + row * inner;
      const T* s = src + off;
      if (is == 1) {
        std::copy_n(s, inner, d);
      } else if (is == 0) {
        std::fill_n(d, inner, *s);
      } else {
        for (int64_t i = 0; i < inner; ++i) d[i] = s[i * is];
      }
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
