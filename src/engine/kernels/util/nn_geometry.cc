#include "kernels/util/nn_geometry.h"

#include <cstdlib>
#include <limits>
#include <string>

namespace pier::kernels {

namespace {
[[noreturn]] void bad_model(const std::string& m) { throw Error(ErrorCode::kInvalidModel, m); }
[[noreturn]] void bad_arg(const std::string& m) { throw Error(ErrorCode::kInvalidArgument, m); }
}  // namespace

std::string dims_str(const std::vector<int64_t>& v) { return shape_str(v); }

WindowAttrs WindowAttrs::parse(const ir::Node& node) {
  WindowAttrs a;
  const std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty()) a.auto_pad = AutoPad::kNotSet;
  else if (ap == "SAME_UPPER") a.auto_pad = AutoPad::kSameUpper;
  else if (ap == "SAME_LOWER") a.auto_pad = AutoPad::kSameLower;
  else if (ap == "VALID") a.auto_pad = AutoPad::kValid;
  else bad_model("auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got \"" + ap + "\"");
  a.kernel = node.attr_ints("kernel_shape");
  a.strides = node.attr_ints("strides");
  a.dilations = node.attr_ints("dilations");
  a.pads = node.attr_ints("pads");
  a.ceil_mode = node.attr_int("ceil_mode", 0) != 0;
  for (int64_t k : a.kernel)
    if (k < 1) bad_model("kernel_shape must be positive, got " + dims_str(a.kernel));
  for (int64_t s : a.strides)
    if (s < 1) bad_model("strides must be positive, got " + dims_str(a.strides));
  for (int64_t d : a.dilations)
    if (d < 1) bad_model("dilations must be positive, got " + dims_str(a.dilations));
  for (int64_t p : a.pads)
    if (p < 0) bad_model("pads must be non-negative, got " + dims_str(a.pads));
  if (a.pads.size() % 2) bad_model("pads must have two entries per spatial dim, got " + dims_str(a.pads));
  return a;
}

WindowGeometry window_geometry(const WindowAttrs& a, const std::vector<int64_t>& in,
                               const std::vector<int64_t>& kernel) {
  const size_t n = in.size();
  WindowGeometry g;
  auto per_dim = [&](const std::vector<int64_t>& v, const char* what) {
    if (v.empty()) return std::vector<int64_t>(n, 1);
    if (v.size() != n)
      bad_arg(std::string(what) + " has " + std::to_string(v.size()) + " entries but the input has " +
              std::to_string(n) + " spatial dims");
    return v;
  };
  if (kernel.size() != n)
    bad_arg("kernel has " + std::to_string(kernel.size()) + " dims but the input has " + std::to_string(n) +
            " spatial dims");
  g.kernel = kernel;
  g.strides = per_dim(a.strides, "strides");
  g.dilations = per_dim(a.dilations, "dilations");
  if (!a.pads.empty() && a.pads.size() != 2 * n)
    bad_arg("pads has " + std::to_string(a.pads.size()) + " entries, expected " + std::to_string(2 * n));
  g.pad_begin.assign(n, 0);
  g.pad_end.assign(n, 0);
  g.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t k_eff = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t s = g.strides[i];
    if (in[i] < 0) bad_arg("negative input dim");
    switch (a.auto_pad) {
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        g.out[i] = (in[i] + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * s + k_eff - in[i]);
        const int64_t small = total / 2, big = total - small;
        g.pad_begin[i] = a.auto_pad == AutoPad::kSameUpper ? small : big;
        g.pad_end[i] = a.auto_pad == AutoPad::kSameUpper ? big : small;
        break;
      }
      case AutoPad::kValid: {
        const int64_t span = in[i] - k_eff;
        if (span < 0)
          bad_arg("window " + std::to_string(k_eff) + " is larger than input dim " + std::to_string(in[i]));
        g.out[i] = span / s + 1;
        if (a.ceil_mode) g.out[i] = (span + s - 1) / s + 1;
        break;
      }
      case AutoPad::kNotSet: {
        if (!a.pads.empty()) {
          g.pad_begin[i] = a.pads[i];
          g.pad_end[i] = a.pads[i + n];
        }
        const int64_t span = in[i] + g.pad_begin[i] + g.pad_end[i] - k_eff;
        if (span < 0)
          bad_arg("window " + std::to_string(k_eff) + " is larger than padded input dim " +
                  std::to_string(in[i] + g.pad_begin[i] + g.pad_end[i]));
        g.out[i] = (a.ceil_mode ? (span + s - 1) / s : span / s) + 1;
        break;
      }
    }
  }
  return g;
}

namespace {
enum class Layout { kAuto, kPlain, kBlocked };

Layout layout_override() {
  static const Layout l = [] {
    const char* e = std::getenv("PIER_CONV_LAYOUT");
    if (!e) return Layout::kAuto;
    const std::string v(e);
    if (v == "plain") return Layout::kPlain;
    if (v == "blocked") return Layout::kBlocked;
    return Layout::kAuto;
  }();
  return l;
}
}  // namespace

// Measured with oneDNN 2.6 on AVX-512 (AMX-capable Xeon), 1 thread, Conv
// end to end (reorders included): the brgemm/JIT path wins for spatial
// kernels (3x3 64->64 56x56: 212 vs 106 GFLOP/s; 3x3 8->16: 131 vs 41),
// depthwise (16 vs 3) and small images (1x1 512->2048 7x7: 183 vs 144);
// plain wins for 1x1 stride 1 on larger images (64->256 56x56: 169 vs 108;
// 512->128 28x28: 219 vs 166), where the reorders cost as much as the
// convolution, and for a 3-channel first layer (3->64 224x224: 89 vs 55).
bool prefer_blocked_conv(int64_t icg, int64_t ocg, int64_t group, const std::vector<int64_t>& kernel,
                         const std::vector<int64_t>& strides, const std::vector<int64_t>& out) {
  switch (layout_override()) {
    case Layout::kPlain: return false;
    case Layout::kBlocked: return true;
    default: break;
  }
  if (group > 1 && icg == 1 && ocg == 1) return true;  // depthwise
  int64_t kprod = 1, sprod = 1, oprod = 1;
  for (size_t i = 0; i < kernel.size(); ++i) {
    kprod *= kernel[i];
    sprod *= i < strides.size() ? strides[i] : 1;
    oprod *= i < out.size() ? out[i] : 1;
  }
  if (icg * kprod < 32) return false;                          // little work per output
  if (kprod == 1 && sprod == 1 && oprod >= 196) return false;  // 1x1 on a large image
  return true;
}

Winograd prefer_winograd_conv(int64_t ic, int64_t oc, int64_t group, const std::vector<int64_t>& kernel,
                              const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations,
                              const std::vector<int64_t>& out, bool pier_possible) {
  static const std::string forced = [] {
    const char* e = std::getenv("PIER_CONV_WINOGRAD");
    return std::string(e ? e : "");
  }();
  if (forced == "0") return Winograd::kNone;
  if (group != 1 || kernel.size() != 2 || kernel[0] != 3 || kernel[1] != 3) return Winograd::kNone;
  for (size_t i = 0; i < 2; ++i)
    if (strides[i] != 1 || dilations[i] != 1) return Winograd::kNone;
  if (ic % 16 != 0 || oc % 16 != 0) return Winograd::kNone;
  const int64_t pixels = out[0] * out[1];
  const bool any_size = forced == "1";
  if (pier_possible && forced != "onednn") {
    if (forced == "f4" || forced == "f2") return forced == "f4" ? Winograd::kF4 : Winograd::kF2;
    if (pixels >= 28 * 28) return Winograd::kF4;
    if (pixels >= 14 * 14 || any_size) return Winograd::kF2;
    return Winograd::kNone;
  }
  return any_size || pixels >= 28 * 28 ? Winograd::kOneDnnF2 : Winograd::kNone;
}

int64_t checked_numel(const Shape& s, const char* what) {
  constexpr int64_t kLimit = int64_t{1} << 40;
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) bad_arg(std::string(what) + " has a negative dim: " + shape_str(s));
    if (d != 0 && n > kLimit / d) bad_arg(std::string(what) + " is too large: " + shape_str(s));
    n *= d;
  }
  return n;
}

}  // namespace pier::kernels
