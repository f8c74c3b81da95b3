#include "kernels/util/reduce_util.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/util/dispatch.h"
#include "kernels/util/math_vec.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

constexpr size_t kMaxGroups = 32;

// Collapsed view of the input: kept and reduced groups, outer to inner.
struct Plan {
  std::vector<int64_t> kdims, kstrides;
  std::vector<int64_t> rdims, rstrides;
  bool last_reduced = false;
  int64_t out_numel = 1, count = 1;
};

Plan make_plan(const Shape& shape, const std::vector<int64_t>& axes) {
  std::vector<bool> red(shape.size(), false);
  for (int64_t a : axes) red[static_cast<size_t>(a)] = true;
  const std::vector<int64_t> strides = strides_of(shape);
  std::vector<int64_t> gd, gs;
  std::vector<bool> gr;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!gd.empty() && gr.back() == red[d]) {
      gd.back() *= shape[d];
      gs.back() = strides[d];
    } else {
      gd.push_back(shape[d]);
      gs.push_back(strides[d]);
      gr.push_back(red[d]);
    }
  }
  if (gd.size() > kMaxGroups)
    throw Error(ErrorCode::kInvalidArgument, "reduction over " + std::to_string(gd.size()) +
                                                 " alternating axis groups is not supported");
  Plan p;
  for (size_t g = 0; g < gd.size(); ++g) {
    (gr[g] ? p.rdims : p.kdims).push_back(gd[g]);
    (gr[g] ? p.rstrides : p.kstrides).push_back(gs[g]);
    (gr[g] ? p.count : p.out_numel) *= gd[g];
  }
  p.last_reduced = !gr.empty() && gr.back();
  if (p.kdims.empty() && !p.last_reduced) {  // a scalar or all-ones shape
    p.kdims.push_back(1);
    p.kstrides.push_back(1);
  }
  return p;
}

// Walks a multi-index over (dims, strides), tracking the element offset.
struct Walker {
  const std::vector<int64_t>& dims;
  const std::vector<int64_t>& strides;
  size_t n;
  int64_t idx[kMaxGroups];
  int64_t off = 0;
  Walker(const std::vector<int64_t>& d, const std::vector<int64_t>& s, size_t count, int64_t flat)
      : dims(d), strides(s), n(count) {
    for (size_t k = n; k-- > 0;) {
      idx[k] = flat % dims[k];
      flat /= dims[k];
      off += idx[k] * strides[k];
    }
  }
  void next() {
    for (size_t k = n; k-- > 0;) {
      off += strides[k];
      if (++idx[k] < dims[k]) return;
      off -= strides[k] * dims[k];
      idx[k] = 0;
    }
  }
};

template <typename A, ReduceOp OP>
constexpr A init_of() {
  if constexpr (OP == ReduceOp::kProd) return A(1);
  else if constexpr (OP == ReduceOp::kMax)
    return std::is_floating_point_v<A> ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest();
  else if constexpr (OP == ReduceOp::kMin)
    return std::is_floating_point_v<A> ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max();
  else return A(0);
}

template <typename A, ReduceOp OP>
inline A pre(A v, A shift) {
  if constexpr (OP == ReduceOp::kL1) {
    if constexpr (std::is_floating_point_v<A>) return std::fabs(v);
    else if constexpr (std::is_signed_v<A>) return v < 0 ? static_cast<A>(-v) : v;
    else return v;
  } else if constexpr (OP == ReduceOp::kL2 || OP == ReduceOp::kSumSquare) {
    return static_cast<A>(v * v);
  } else if constexpr (OP == ReduceOp::kLogSumExp) {
    return vmath::vexp(v - shift);
  } else {
    return v;
  }
}

// NaN propagates through max/min, as in numpy.
template <typename A, ReduceOp OP>
inline A comb(A a, A b) {
  if constexpr (OP == ReduceOp::kProd) {
    return static_cast<A>(a * b);
  } else if constexpr (OP == ReduceOp::kMax) {
    if constexpr (std::is_floating_point_v<A>) return vmath::sel((b > a) | (b != b), b, a);
    else return b > a ? b : a;
  } else if constexpr (OP == ReduceOp::kMin) {
    if constexpr (std::is_floating_point_v<A>) return vmath::sel((b < a) | (b != b), b, a);
    else return b < a ? b : a;
  } else {
    return static_cast<A>(a + b);
  }
}

// The same for scalar code (tails, combining lanes): a branch is cheaper
// there than the bitwise select, which round-trips through integer registers.
// The max/min ternaries compile to maxss/minss; the NaN test is a branch
// that is always predicted.
template <typename A, ReduceOp OP>
inline A comb_s(A a, A b) {
  if constexpr (std::is_floating_point_v<A> && OP == ReduceOp::kMax) {
    const A r = b > a ? b : a;
    return b != b ? b : r;
  } else if constexpr (std::is_floating_point_v<A> && OP == ReduceOp::kMin) {
    const A r = b < a ? b : a;
    return b != b ? b : r;
  } else {
    return comb<A, OP>(a, b);
  }
}

template <typename A, ReduceOp OP>
inline A post(A acc, int64_t count, A shift) {
  if constexpr (OP == ReduceOp::kMean) return acc / static_cast<A>(count);
  else if constexpr (OP == ReduceOp::kL2) return std::sqrt(acc);
  else if constexpr (OP == ReduceOp::kLogSum) return std::log(acc);
  else if constexpr (OP == ReduceOp::kLogSumExp) return std::isfinite(shift) ? std::log(acc) + shift : shift;
  else return acc;
}

template <typename A, typename T>
inline A cvt(T v) {
  return static_cast<A>(load(v));
}

// Reduces one contiguous row into `acc`.
template <typename T, typename A, ReduceOp OP>
inline A reduce_row(const T* x, int64_t n, A shift, A acc) {
  constexpr int kLanes = 16;
  if (n >= kLanes) {
    A lane[kLanes];
    for (int k = 0; k < kLanes; ++k) lane[k] = init_of<A, OP>();
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      // Keeps GCC from fully unrolling the lane loop before the loop
      // vectorizer sees it (SLP on the unrolled body fails for max/min).
#pragma GCC unroll 1
      for (int k = 0; k < kLanes; ++k) lane[k] = comb<A, OP>(lane[k], pre<A, OP>(cvt<A>(x[i + k]), shift));
    }
    for (; i < n; ++i) acc = comb_s<A, OP>(acc, pre<A, OP>(cvt<A>(x[i]), shift));
    for (int k = 0; k < kLanes; ++k) acc = comb_s<A, OP>(acc, lane[k]);
    return acc;
  }
  for (int64_t i = 0; i < n; ++i) acc = comb_s<A, OP>(acc, pre<A, OP>(cvt<A>(x[i]), shift));
  return acc;
}

constexpr int64_t kGrainElems = 32768;

// Innermost group reduced: each output reduces rows of L contiguous elements.
template <typename T, typename A, ReduceOp OP>
void core_rows(const Plan& p, const T* x, const A* shift, A* res, int threads) {
  const int64_t L = p.rdims.back();
  const size_t nr = p.rdims.size() - 1;
  const int64_t combos = p.count / L;
  const int64_t O = p.out_numel;
  auto partial = [&](int64_t o, int64_t base, int64_t cb, int64_t ce, int64_t lb, int64_t le, A acc) {
    const A sh = shift ? shift[o] : A(0);
    if (nr == 0) return reduce_row<T, A, OP>(x + base + lb, le - lb, sh, acc);
    Walker w(p.rdims, p.rstrides, nr, cb);
    for (int64_t c = cb; c < ce; ++c, w.next()) acc = reduce_row<T, A, OP>(x + base + w.off + lb, le - lb, sh, acc);
    return acc;
  };
  const int64_t work = O * p.count;
  if (O >= threads || work < 4 * kGrainElems) {
    const int64_t grain = std::max<int64_t>(1, kGrainElems / p.count);
    parallel_for(threads, O, grain, [&](int64_t b, int64_t e) {
      Walker kw(p.kdims, p.kstrides, p.kdims.size(), b);
      for (int64_t o = b; o < e; ++o, kw.next()) res[o] = partial(o, kw.off, 0, combos, 0, L, init_of<A, OP>());
    });
    return;
  }
  // Few outputs: split each one's range (whole rows when there are enough).
  const int64_t parts = std::min<int64_t>(threads, std::max<int64_t>(1, p.count / kGrainElems));
  std::vector<A> part(static_cast<size_t>(parts));
  for (int64_t o = 0; o < O; ++o) {
    const int64_t base = Walker(p.kdims, p.kstrides, p.kdims.size(), o).off;
    parallel_for(threads, parts, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        if (combos >= parts) {
          part[k] = partial(o, base, combos * k / parts, combos * (k + 1) / parts, 0, L, init_of<A, OP>());
        } else {
          part[k] = partial(o, base, 0, combos, L * k / parts, L * (k + 1) / parts, init_of<A, OP>());
        }
      }
    });
    A acc = init_of<A, OP>();
    for (int64_t k = 0; k < parts; ++k) acc = comb_s<A, OP>(acc, part[k]);
    res[o] = acc;
  }
}

// Innermost group kept: rows of K outputs accumulate element-wise over every
// reduced position.
template <typename T, typename A, ReduceOp OP>
void core_cols(const Plan& p, const T* x, const A* shift, A* res, int threads) {
  constexpr int64_t kChunk = 512;
  const int64_t K = p.kdims.back();
  const size_t nk = p.kdims.size() - 1;
  const int64_t Q = p.out_numel / K;
  const int64_t chunks = (K + kChunk - 1) / kChunk;
  const int64_t tiles = Q * chunks;
  // Accumulates reduced positions [rb, re) of tile t into out (its K-slice).
  auto tile = [&](int64_t t, int64_t rb, int64_t re, A* out) {
    const int64_t q = t / chunks, jb = (t % chunks) * kChunk, n = std::min(kChunk, K - jb);
    const int64_t base = Walker(p.kdims, p.kstrides, nk, q).off + jb;
    A acc[kChunk];
    for (int64_t j = 0; j < n; ++j) acc[j] = init_of<A, OP>();
    const A* sh = shift ? shift + q * K + jb : nullptr;
    Walker w(p.rdims, p.rstrides, p.rdims.size(), rb);
    for (int64_t r = rb; r < re; ++r, w.next()) {
      const T* row = x + base + w.off;
      if constexpr (OP == ReduceOp::kLogSumExp) {
        for (int64_t j = 0; j < n; ++j) acc[j] = comb<A, OP>(acc[j], pre<A, OP>(cvt<A>(row[j]), sh[j]));
      } else {
        for (int64_t j = 0; j < n; ++j) acc[j] = comb<A, OP>(acc[j], pre<A, OP>(cvt<A>(row[j]), A(0)));
      }
    }
    A* dst = out + q * K + jb;
    for (int64_t j = 0; j < n; ++j) dst[j] = acc[j];
  };
  const int64_t R = p.count;
  if (tiles >= threads || tiles * std::min(K, kChunk) * R < 4 * kGrainElems || R < 2) {
    const int64_t grain = std::max<int64_t>(1, kGrainElems / (std::min(K, kChunk) * R));
    parallel_for(threads, tiles, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) tile(t, 0, R, res);
    });
    return;
  }
  // Few output tiles: split the reduced range, then combine the partials.
  const int64_t parts = std::min<int64_t>(threads, R);
  const int64_t O = p.out_numel;
  std::vector<A> part(static_cast<size_t>(parts * O));
  parallel_for(threads, parts, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k)
      for (int64_t t = 0; t < tiles; ++t) tile(t, R * k / parts, R * (k + 1) / parts, part.data() + k * O);
  });
  for (int64_t o = 0; o < O; ++o) {
    A acc = part[o];
    for (int64_t k = 1; k < parts; ++k) acc = comb_s<A, OP>(acc, part[k * O + o]);
    res[o] = acc;
  }
}

template <typename T, typename A, ReduceOp OP>
void reduce_into(const Plan& p, const T* x, const A* shift, A* res, int threads) {
  if (p.count == 0) {
    for (int64_t o = 0; o < p.out_numel; ++o) res[o] = init_of<A, OP>();
  } else if (p.last_reduced) {
    core_rows<T, A, OP>(p, x, shift, res, threads);
  } else {
    core_cols<T, A, OP>(p, x, shift, res, threads);
  }
}

// Integers accumulate in their own type (wrapping) except for ops whose
// result is not an integer function of integer sums.
template <typename T, ReduceOp OP>
using acc_t = std::conditional_t<std::is_integral_v<T> && (OP == ReduceOp::kMean || OP == ReduceOp::kL2 ||
                                                            OP == ReduceOp::kLogSum || OP == ReduceOp::kLogSumExp),
                                 double, compute_t<T>>;

template <typename T, ReduceOp OP>
void run(const Plan& p, const Tensor& x, Tensor& out, int threads) {
  using A = acc_t<T, OP>;
  const T* px = static_cast<const T*>(x.raw());
  std::vector<A> res(static_cast<size_t>(p.out_numel));
  std::vector<A> shift;
  if constexpr (OP == ReduceOp::kLogSumExp) {
    shift.resize(res.size());
    reduce_into<T, A, ReduceOp::kMax>(p, px, nullptr, shift.data(), threads);
  }
  reduce_into<T, A, OP>(p, px, shift.empty() ? nullptr : shift.data(), res.data(), threads);
  T* po = static_cast<T*>(out.raw());
  for (int64_t o = 0; o < p.out_numel; ++o) {
    const A v = post<A, OP>(res[o], p.count, shift.empty() ? A(0) : shift[o]);
    if constexpr (std::is_integral_v<T> && !std::is_integral_v<A>) {
      po[o] = std::isfinite(v) ? static_cast<T>(v) : T(0);
    } else {
      po[o] = store<T>(static_cast<compute_t<T>>(v));
    }
  }
}

}  // namespace

Tensor reduce_tensor(const Tensor& x, const std::vector<int64_t>& axes, ReduceOp op, int threads) {
  Shape out_shape = x.shape();
  for (int64_t a : axes) out_shape[static_cast<size_t>(a)] = 1;
  Tensor out(x.dtype(), out_shape);
  if (out.numel() == 0) return out;
  const Plan p = make_plan(x.shape(), axes);
  dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case ReduceOp::kSum: run<T, ReduceOp::kSum>(p, x, out, threads); break;
      case ReduceOp::kMean: run<T, ReduceOp::kMean>(p, x, out, threads); break;
      case ReduceOp::kMax: run<T, ReduceOp::kMax>(p, x, out, threads); break;
      case ReduceOp::kMin: run<T, ReduceOp::kMin>(p, x, out, threads); break;
      case ReduceOp::kProd: run<T, ReduceOp::kProd>(p, x, out, threads); break;
      case ReduceOp::kL1: run<T, ReduceOp::kL1>(p, x, out, threads); break;
      case ReduceOp::kL2: run<T, ReduceOp::kL2>(p, x, out, threads); break;
      case ReduceOp::kLogSum: run<T, ReduceOp::kLogSum>(p, x, out, threads); break;
      case ReduceOp::kLogSumExp: run<T, ReduceOp::kLogSumExp>(p, x, out, threads); break;
      case ReduceOp::kSumSquare: run<T, ReduceOp::kSumSquare>(p, x, out, threads); break;
    }
  });
  return out;
}

}  // namespace pier::kernels
