#include "kernels/util/resize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

ResizeMode parse_resize_mode(const std::string& s) {
  if (s == "nearest") return ResizeMode::kNearest;
  if (s == "linear" || s == "bilinear") return ResizeMode::kLinear;
  if (s == "cubic") return ResizeMode::kCubic;
  throw Error(ErrorCode::kInvalidModel, "Resize: unknown mode \"" + s + "\"");
}

CoordMode parse_coord_mode(const std::string& s) {
  if (s == "half_pixel") return CoordMode::kHalfPixel;
  if (s == "pytorch_half_pixel") return CoordMode::kPytorchHalfPixel;
  if (s == "align_corners") return CoordMode::kAlignCorners;
  if (s == "asymmetric") return CoordMode::kAsymmetric;
  if (s == "tf_half_pixel_for_nn") return CoordMode::kTfHalfPixelForNN;
  if (s == "tf_crop_and_resize") return CoordMode::kTfCropAndResize;
  throw Error(ErrorCode::kInvalidModel, "Resize: unknown coordinate_transformation_mode \"" + s + "\"");
}

NearestMode parse_nearest_mode(const std::string& s) {
  if (s == "round_prefer_floor") return NearestMode::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return NearestMode::kRoundPreferCeil;
  if (s == "floor") return NearestMode::kFloor;
  if (s == "ceil") return NearestMode::kCeil;
  throw Error(ErrorCode::kInvalidModel, "Resize: unknown nearest_mode \"" + s + "\"");
}

namespace {

double cubic_weight(double d, double a) {  // d = distance in [0, 2]
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

}  // namespace

AxisTaps make_axis_taps(int64_t in, int64_t out, double scale, double roi_start, double roi_end,
                        const ResizeParams& p) {
  AxisTaps t;
  t.K = p.mode == ResizeMode::kNearest ? 1 : p.mode == ResizeMode::kLinear ? 2 : 4;
  t.idx.assign(static_cast<size_t>(out * t.K), 0);
  t.w.assign(static_cast<size_t>(out * t.K), 0.f);
  t.extrap.assign(static_cast<size_t>(out), 0);
  // The resized length as a real number (scale * in): align_corners maps
  // the ends of that length onto the ends of the input.
  double out_len = scale * static_cast<double>(in);
  if (std::abs(out_len - std::round(out_len)) < 1e-9 * std::max(1.0, out_len)) out_len = std::round(out_len);
  const double last = static_cast<double>(in - 1);
  bool identity = in == out;
  for (int64_t o = 0; o < out; ++o) {
    const double xo = static_cast<double>(o);
    double x = 0;
    switch (p.coord) {
      case CoordMode::kHalfPixel: x = (xo + 0.5) / scale - 0.5; break;
      case CoordMode::kPytorchHalfPixel: x = out > 1 ? (xo + 0.5) / scale - 0.5 : 0.0; break;
      case CoordMode::kAlignCorners: x = out_len == 1 ? 0.0 : xo * last / (out_len - 1); break;
      case CoordMode::kAsymmetric: x = xo / scale; break;
      case CoordMode::kTfHalfPixelForNN: x = (xo + 0.5) / scale; break;
      case CoordMode::kTfCropAndResize:
        x = out == 1 ? (roi_end - roi_start) * last / 2 : xo * (roi_end - roi_start) * last / static_cast<double>(out - 1);
        x += roi_start * last;
        if (x < 0 || x > last) {
          t.extrap[o] = 1;
          identity = false;
          continue;
        }
        break;
    }
    int64_t* idx = &t.idx[o * t.K];
    float* w = &t.w[o * t.K];
    const double fl = std::floor(x), r = x - fl;
    const auto clamp = [in](double v) {
      return static_cast<int64_t>(std::clamp(v, 0.0, static_cast<double>(in - 1)));
    };
    if (p.mode == ResizeMode::kNearest) {
      double i = fl;
      switch (p.nearest) {
        case NearestMode::kRoundPreferFloor: i = r <= 0.5 ? fl : fl + 1; break;
        case NearestMode::kRoundPreferCeil: i = r < 0.5 ? fl : fl + 1; break;
        case NearestMode::kFloor: i = fl; break;
        case NearestMode::kCeil: i = r == 0 ? fl : fl + 1; break;
        case NearestMode::kLegacy: i = scale < 1 ? std::ceil(x) : fl; break;
      }
      idx[0] = clamp(i);
      w[0] = 1.f;
      identity = identity && idx[0] == o;
      continue;
    }
    double ws[4];
    double pos[4];
    if (p.mode == ResizeMode::kLinear) {
      pos[0] = fl;
      pos[1] = fl + 1;
      ws[0] = 1 - r;
      ws[1] = r;
    } else {
      for (int k = 0; k < 4; ++k) {
        pos[k] = fl - 1 + k;
        ws[k] = cubic_weight(std::abs(x - pos[k]), p.cubic_a);
      }
    }
    if (p.exclude_outside) {
      double sum = 0;
      for (int k = 0; k < t.K; ++k) {
        if (pos[k] < 0 || pos[k] > last) ws[k] = 0;
        sum += ws[k];
      }
      if (sum != 0)
        for (int k = 0; k < t.K; ++k) ws[k] /= sum;
    }
    for (int k = 0; k < t.K; ++k) {
      idx[k] = clamp(pos[k]);
      w[k] = static_cast<float>(ws[k]);
      if (w[k] != 0 && (idx[k] != o || w[k] != 1.f)) identity = false;
    }
  }
  t.identity = identity;
  return t;
}

namespace {

template <typename C>
struct Taps {
  int K;
  const int64_t* idx;
  std::vector<C> w;
  const uint8_t* ex;
  bool id;
  explicit Taps(const AxisTaps& a) : K(a.K), idx(a.idx.data()), w(a.w.begin(), a.w.end()), ex(a.extrap.data()), id(a.identity) {}
};

// One 1-D pass over an outer axis: [outer, n_in, inner] -> [outer, n_out, inner].
template <typename C>
void pass_axis(const C* src, C* dst, int64_t outer, int64_t n_in, int64_t n_out, int64_t inner, const Taps<C>& t,
               C ev, int threads) {
  parallel_for(threads, outer * n_out, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
               [&](int64_t b, int64_t e) {
                 for (int64_t k = b; k < e; ++k) {
                   const int64_t o = k / n_out, j = k % n_out;
                   C* d = dst + k * inner;
                   if (t.ex[j]) {
                     std::fill_n(d, inner, ev);
                     continue;
                   }
                   const C* base = src + o * n_in * inner;
                   const C* s0 = base + t.idx[j * t.K] * inner;
                   const C w0 = t.w[j * t.K];
                   for (int64_t i = 0; i < inner; ++i) d[i] = w0 * s0[i];
                   for (int kk = 1; kk < t.K; ++kk) {
                     const C wk = t.w[j * t.K + kk];
                     if (wk == 0) continue;
                     const C* sk = base + t.idx[j * t.K + kk] * inner;
                     for (int64_t i = 0; i < inner; ++i) d[i] += wk * sk[i];
                   }
                 }
               });
}

template <typename C, int K>
void horizontal(const C* row, C* d, int64_t wout, const Taps<C>& t, C ev) {
  const int64_t* idx = t.idx;
  const C* w = t.w.data();
  for (int64_t x = 0; x < wout; ++x) {
    C acc = 0;
    for (int k = 0; k < K; ++k) acc += w[x * K + k] * row[idx[x * K + k]];
    d[x] = t.ex[x] ? ev : acc;
  }
}

// One output row of the horizontal pass (or a copy when W is not resized).
template <typename C>
void horizontal_row(const C* row, C* d, int64_t wout, const Taps<C>& tw, C ev) {
  if (tw.id) {
    std::copy_n(row, wout, d);
    return;
  }
  switch (tw.K) {
    case 1: horizontal<C, 1>(row, d, wout, tw, ev); break;
    case 2: horizontal<C, 2>(row, d, wout, tw, ev); break;
    default: horizontal<C, 4>(row, d, wout, tw, ev); break;
  }
}

// Horizontally resized input rows, most recent first out. Output rows read
// source rows in non-decreasing order, so K + 1 slots never evict a row
// that is still needed.
template <typename C>
class RowCache {
 public:
  RowCache(int slots, int64_t wout) : wout_(wout), buf_(static_cast<size_t>(slots * wout)), key_(slots, -1) {}
  const C* get(int64_t key, const C* src_row, const Taps<C>& tw, C ev) {
    for (size_t s = 0; s < key_.size(); ++s)
      if (key_[s] == key) return &buf_[s * wout_];
    const size_t s = next_;
    next_ = (next_ + 1) % key_.size();
    key_[s] = key;
    horizontal_row(src_row, &buf_[s * wout_], wout_, tw, ev);
    return &buf_[s * wout_];
  }

 private:
  int64_t wout_;
  std::vector<C> buf_;
  std::vector<int64_t> key_;
  size_t next_ = 0;
};

// Fused pass over the last two axes: [planes, hin, win] -> [planes, hout, wout].
// Blends rows vertically then resizes horizontally, or (cheaper when H
// grows) resizes each needed input row horizontally once and blends those.
template <typename C>
void pass_2d(const C* src, C* dst, int64_t planes, int64_t hin, int64_t win, int64_t hout, int64_t wout,
             const Taps<C>& th, const Taps<C>& tw, C ev, int threads) {
  const double kv = th.id ? 0 : th.K, kh = tw.id ? 0 : tw.K;
  const double cost_vfirst = static_cast<double>(hout) * (static_cast<double>(win) * kv + static_cast<double>(wout) * kh);
  const double cost_hfirst = static_cast<double>(hin) * static_cast<double>(wout) * kh +
                             static_cast<double>(hout) * static_cast<double>(wout) * kv;
  const bool hfirst = !th.id && !tw.id && cost_hfirst < cost_vfirst;
  parallel_for(threads, planes * hout, std::max<int64_t>(1, 8192 / std::max<int64_t>(wout + win, 1)),
               [&](int64_t b, int64_t e) {
                 std::vector<C> tmp(th.id || hfirst ? 0 : static_cast<size_t>(win));
                 RowCache<C> cache(hfirst ? th.K + 1 : 0, wout);
                 for (int64_t k = b; k < e; ++k) {
                   const int64_t p = k / hout, y = k % hout;
                   C* d = dst + k * wout;
                   if (th.ex[y]) {
                     std::fill_n(d, wout, ev);
                     continue;
                   }
                   const C* plane = src + p * hin * win;
                   if (th.id) {
                     horizontal_row(plane + y * win, d, wout, tw, ev);
                     continue;
                   }
                   const int64_t* iy = th.idx + y * th.K;
                   const C* wy = th.w.data() + y * th.K;
                   if (hfirst) {
                     const C* r0 = cache.get(p * hin + iy[0], plane + iy[0] * win, tw, ev);
                     for (int64_t x = 0; x < wout; ++x) d[x] = wy[0] * r0[x];
                     for (int kk = 1; kk < th.K; ++kk) {
                       if (wy[kk] == 0) continue;
                       const C* rk = cache.get(p * hin + iy[kk], plane + iy[kk] * win, tw, ev);
                       const C wk = wy[kk];
                       for (int64_t x = 0; x < wout; ++x) d[x] += wk * rk[x];
                     }
                     continue;
                   }
                   // Vertical blend into tmp (or straight into d when W is kept).
                   C* t = tw.id ? d : tmp.data();
                   const C* r0 = plane + iy[0] * win;
                   for (int64_t x = 0; x < win; ++x) t[x] = wy[0] * r0[x];
                   for (int kk = 1; kk < th.K; ++kk) {
                     if (wy[kk] == 0) continue;
                     const C* rk = plane + iy[kk] * win;
                     const C wk = wy[kk];
                     for (int64_t x = 0; x < win; ++x) t[x] += wk * rk[x];
                   }
                   if (!tw.id) horizontal_row(t, d, wout, tw, ev);
                 }
               });
}

// Element-wise conversion to and from the compute type. Integers round to
// nearest and saturate.
template <typename C>
void to_compute(const Tensor& x, C* dst) {
  dispatch_numeric(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* s = static_cast<const T*>(x.raw());
    for (int64_t i = 0; i < x.numel(); ++i) dst[i] = static_cast<C>(load(s[i]));
  });
}

template <typename C>
void from_compute(const C* src, Tensor& y) {
  dispatch_numeric(y.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* d = static_cast<T*>(y.raw());
    for (int64_t i = 0; i < y.numel(); ++i) {
      if constexpr (std::is_integral_v<T>) {
        const double v = std::nearbyint(static_cast<double>(src[i]));
        const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<T>::max());
        d[i] = std::isnan(v) ? T{0} : v <= lo ? std::numeric_limits<T>::lowest() : v >= hi ? std::numeric_limits<T>::max() : static_cast<T>(v);
      } else {
        d[i] = store<T>(static_cast<compute_t<T>>(src[i]));
      }
    }
  });
}

template <typename C>
void interpolate(const Tensor& x, Tensor& y, const std::vector<AxisTaps>& taps, const ResizeParams& p, int threads) {
  constexpr DataType kC = DataTypeOf<C>::value;
  const int64_t r = x.rank();
  const C ev = static_cast<C>(p.extrapolation);
  Tensor in_buf;
  const C* src;
  if (x.dtype() == kC) {
    src = x.data<C>();
  } else {
    in_buf = Tensor(kC, x.shape());
    to_compute<C>(x, in_buf.data<C>());
    src = in_buf.data<C>();
  }
  Shape cur = x.shape();
  Tensor stage;
  // Outer axes (all but the last two), one pass each.
  for (int64_t d = 0; d + 2 < r; ++d) {
    if (taps[d].identity) continue;
    Shape next = cur;
    next[d] = y.shape()[d];
    Tensor buf(kC, next);
    int64_t outer = 1, inner = 1;
    for (int64_t k = 0; k < d; ++k) outer *= cur[k];
    for (int64_t k = d + 1; k < r; ++k) inner *= cur[k];
    pass_axis<C>(src, buf.data<C>(), outer, cur[d], next[d], inner, Taps<C>(taps[d]), ev, threads);
    stage = buf;
    src = stage.data<C>();
    cur = next;
  }
  // The last two axes (a leading 1 for rank 1).
  AxisTaps unit;
  unit.idx = {0};
  unit.w = {1.f};
  unit.extrap = {0};
  unit.identity = true;
  const AxisTaps& ah = r >= 2 ? taps[r - 2] : unit;
  const AxisTaps& aw = taps[r - 1];
  const int64_t hin = r >= 2 ? cur[r - 2] : 1, win = cur[r - 1];
  const int64_t hout = r >= 2 ? y.shape()[r - 2] : 1, wout = y.shape()[r - 1];
  const int64_t planes = y.numel() / std::max<int64_t>(hout * wout, 1);
  Tensor out_buf;
  C* dst;
  if (y.dtype() == kC) {
    dst = y.data<C>();
  } else {
    out_buf = Tensor(kC, y.shape());
    dst = out_buf.data<C>();
  }
  pass_2d<C>(src, dst, planes, hin, win, hout, wout, Taps<C>(ah), Taps<C>(aw), ev, threads);
  if (y.dtype() != kC) from_compute<C>(dst, y);
}

void nearest(const Tensor& x, Tensor& y, const std::vector<AxisTaps>& taps, double extrapolation, int threads) {
  const int64_t r = x.rank();
  const auto in_st = strides_of(x.shape());
  const Shape& os = y.shape();
  const int64_t inner = os[r - 1];
  const int64_t rows = y.numel() / std::max<int64_t>(inner, 1);
  bool any_extrap = false;
  for (const auto& t : taps)
    for (uint8_t e : t.extrap) any_extrap = any_extrap || e;
  Tensor ev(x.dtype(), {});
  if (x.dtype() != DataType::kString && any_extrap)
    ev = cast_tensor(Tensor::from_vector<double>({extrapolation}, {}), x.dtype());
  const AxisTaps& tw = taps[r - 1];
  dispatch_elements(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = static_cast<const T*>(x.raw());
    T* dst = static_cast<T*>(y.raw());
    const T e = *static_cast<const T*>(ev.raw());
    parallel_for(threads, rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t end) {
      int64_t prev_base = -1;  // source row of the previous output row
      for (int64_t row = b; row < end; ++row) {
        T* d = dst + row * inner;
        int64_t rem = row, base = 0;
        bool out = false;
        for (int64_t k = r - 2; k >= 0; --k) {
          const int64_t o = rem % os[k];
          rem /= os[k];
          out = out || taps[k].extrap[o];
          base += taps[k].idx[o] * in_st[k];
        }
        if (out) {
          std::fill_n(d, inner, e);
          prev_base = -1;
          continue;
        }
        if (base == prev_base) {  // upsampling repeats rows: copy the one just written
          std::copy_n(d - inner, inner, d);
          continue;
        }
        prev_base = base;
        const T* s = src + base;
        if (tw.identity) {
          std::copy_n(s, inner, d);
        } else if (!any_extrap) {
          for (int64_t i = 0; i < inner; ++i) d[i] = s[tw.idx[i]];
        } else {
          for (int64_t i = 0; i < inner; ++i) d[i] = tw.extrap[i] ? e : s[tw.idx[i]];
        }
      }
    });
  });
}

}  // namespace

void resize_tensor(const Tensor& x, Tensor& y, const std::vector<double>& scales, const std::vector<double>& roi,
                   const ResizeParams& p, int threads) {
  const int64_t r = x.rank();
  if (y.numel() == 0) return;
  if (r == 0 || x.numel() == 0) {
    if (x.numel() == 0) throw Error(ErrorCode::kInvalidArgument, "Resize: cannot resize an empty input to a non-empty output");
    strided_copy(x, 0, {}, {}, y, threads);
    return;
  }
  std::vector<AxisTaps> taps;
  for (int64_t d = 0; d < r; ++d) {
    const double rs = roi.empty() ? 0.0 : roi[d], re = roi.empty() ? 1.0 : roi[r + d];
    taps.push_back(make_axis_taps(x.shape()[d], y.shape()[d], scales[d], rs, re, p));
  }
  if (p.mode == ResizeMode::kNearest) {
    nearest(x, y, taps, p.extrapolation, threads);
  } else if (x.dtype() == DataType::kDouble) {
    interpolate<double>(x, y, taps, p, threads);
  } else if (x.dtype() == DataType::kString || x.dtype() == DataType::kBool || x.dtype() == DataType::kComplex64 ||
             x.dtype() == DataType::kComplex128) {
    unsupported_type(x.dtype(), "Resize in linear or cubic mode");
  } else {
    interpolate<float>(x, y, taps, p, threads);
  }
}

}  // namespace pier::kernels
