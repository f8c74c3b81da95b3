#include "kernels/util/nn_rnn.h"

#include <dnnl.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <immintrin.h>
#include <omp.h>

#include "kernels/util/math_vec.h"

namespace pier::kernels::rnn {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void sgemm_nt(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
              float* c, int64_t ldc) {
  // C[M,N] = A[M,K] * B[N,K]^T + beta * C
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) c[i * ldc + j] = beta == 0.f ? 0.f : beta * c[i * ldc + j];
    return;
  }
  const dnnl::status st = dnnl::sgemm('N', 'T', M, N, K, 1.f, a, lda, b, ldb, beta, c, ldc);
  if (st != dnnl::status::success) throw Error(ErrorCode::kRuntime, "oneDNN sgemm failed");
}

}  // namespace

float Activation::operator()(float x) const {
  switch (kind) {
    case Kind::kRelu: return x > 0.f ? x : 0.f;
    case Kind::kTanh: return std::tanh(x);
    case Kind::kSigmoid: return 1.f / (1.f + std::exp(-x));
    case Kind::kAffine: return alpha * x + beta;
    case Kind::kLeakyRelu: return x >= 0.f ? x : alpha * x;
    case Kind::kThresholdedRelu: return x > alpha ? x : 0.f;
    case Kind::kScaledTanh: return alpha * std::tanh(beta * x);
    case Kind::kHardSigmoid: return std::max(0.f, std::min(1.f, alpha * x + beta));
    case Kind::kElu: return x >= 0.f ? x : alpha * (std::exp(x) - 1.f);
    case Kind::kSoftsign: return x / (1.f + std::fabs(x));
    case Kind::kSoftplus: return x > 20.f ? x : std::log1p(std::exp(x));
  }
  return x;
}

Activation Activation::parse(const std::string& name, const std::vector<float>& alphas, size_t& ai,
                             const std::vector<float>& betas, size_t& bi) {
  Activation a;
  const std::string n = lower(name);
  bool uses_alpha = false, uses_beta = false;
  if (n == "relu") a.kind = Kind::kRelu;
  else if (n == "tanh") a.kind = Kind::kTanh;
  else if (n == "sigmoid") a.kind = Kind::kSigmoid;
  else if (n == "affine") a = {Kind::kAffine, 1.f, 0.f}, uses_alpha = uses_beta = true;
  else if (n == "leakyrelu") a = {Kind::kLeakyRelu, 0.01f, 0.f}, uses_alpha = true;
  else if (n == "thresholdedrelu") a = {Kind::kThresholdedRelu, 1.f, 0.f}, uses_alpha = true;
  else if (n == "scaledtanh") a = {Kind::kScaledTanh, 1.f, 1.f}, uses_alpha = uses_beta = true;
  else if (n == "hardsigmoid") a = {Kind::kHardSigmoid, 0.2f, 0.5f}, uses_alpha = uses_beta = true;
  else if (n == "elu") a = {Kind::kElu, 1.f, 0.f}, uses_alpha = true;
  else if (n == "softsign") a.kind = Kind::kSoftsign;
  else if (n == "softplus") a.kind = Kind::kSoftplus;
  else throw Error(ErrorCode::kInvalidModel, "unknown recurrent activation \"" + name + "\"");
  if (uses_alpha && ai < alphas.size()) a.alpha = alphas[ai++];
  if (uses_beta && bi < betas.size()) a.beta = betas[bi++];
  return a;
}

bool Attrs::default_activations() const {
  for (int d = 0; d < dirs(); ++d)
    for (int k = 0; k < funcs(); ++k) {
      const auto want = cell == Cell::kRnn ? Activation::Kind::kTanh
                        : k == 0           ? Activation::Kind::kSigmoid
                                           : Activation::Kind::kTanh;
      if (act(d, k).kind != want) return false;
    }
  return true;
}

Attrs Attrs::parse(const ir::Node& node, Cell cell) {
  Attrs a;
  a.cell = cell;
  const std::string dir = node.attr_string("direction", "forward");
  if (dir == "forward") a.direction = Direction::kForward;
  else if (dir == "reverse") a.direction = Direction::kReverse;
  else if (dir == "bidirectional") a.direction = Direction::kBidirectional;
  else throw Error(ErrorCode::kInvalidModel, "direction must be forward, reverse or bidirectional, got \"" + dir + "\"");
  a.hidden = node.attr_int("hidden_size", 0);
  if (a.hidden < 0) throw Error(ErrorCode::kInvalidModel, "hidden_size must be positive");
  a.clip = node.attr_float("clip", 0.f);
  if (a.clip < 0.f) throw Error(ErrorCode::kInvalidModel, "clip must be positive");
  a.layout = node.attr_int("layout", 0);
  if (a.layout != 0 && a.layout != 1) throw Error(ErrorCode::kInvalidModel, "layout must be 0 or 1");
  a.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  a.input_forget = node.attr_int("input_forget", 0) != 0;
  std::vector<std::string> names = node.attr_strings("activations");
  if (names.empty()) {
    for (int d = 0; d < a.dirs(); ++d) {
      if (cell == Cell::kRnn) names.push_back("Tanh");
      else if (cell == Cell::kGru) names.insert(names.end(), {"Sigmoid", "Tanh"});
      else names.insert(names.end(), {"Sigmoid", "Tanh", "Tanh"});
    }
  } else if (names.size() == static_cast<size_t>(a.funcs()) && a.dirs() == 2) {
    const auto once = names;
    names.insert(names.end(), once.begin(), once.end());
  }
  if (names.size() != static_cast<size_t>(a.funcs() * a.dirs()))
    throw Error(ErrorCode::kInvalidModel, "expected " + std::to_string(a.funcs() * a.dirs()) + " activations, got " +
                                              std::to_string(names.size()));
  const auto alphas = node.attr_floats("activation_alpha"), betas = node.attr_floats("activation_beta");
  size_t ai = 0, bi = 0;
  for (const auto& n : names) a.acts.push_back(Activation::parse(n, alphas, ai, betas, bi));
  return a;
}

void reference(const Attrs& a, const Inputs& in, const Outputs& out) {
  const int64_t T = in.T, N = in.N, I = in.I, H = a.hidden, G = a.gates(), GH = G * H, D = a.dirs();
  const bool gru = a.cell == Cell::kGru, lstm = a.cell == Cell::kLstm;
  const bool lbr = gru && a.linear_before_reset;
  const float clip = a.clip;
  auto clipped = [clip](float v) { return clip > 0.f ? std::max(-clip, std::min(clip, v)) : v; };
  std::vector<float> xw(static_cast<size_t>(std::max<int64_t>(T * N * GH, 1)));
  std::vector<float> hr(static_cast<size_t>(std::max<int64_t>(N * GH, 1)));
  std::vector<float> h(static_cast<size_t>(N * H)), c(static_cast<size_t>(N * H)), hn(h.size()), rh(h.size());
  if (out.y) std::fill_n(out.y, T * D * N * H, 0.f);
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = a.direction == Direction::kReverse || d == 1;
    const float* w = in.w + d * GH * I;
    const float* r = in.r + d * GH * H;
    const float* wb = in.b ? in.b + d * 2 * GH : nullptr;
    const float* rb = in.b ? wb + GH : nullptr;
    const float* p = in.p ? in.p + d * 3 * H : nullptr;
    // X W^T for all steps, plus the biases that add outside any gate product.
    sgemm_nt(T * N, GH, I, in.x, I, w, I, 0.f, xw.data(), GH);
    if (wb)
      for (int64_t row = 0; row < T * N; ++row)
        for (int64_t j = 0; j < GH; ++j)
          xw[row * GH + j] += wb[j] + (lbr && j >= 2 * H ? 0.f : rb[j]);
    for (int64_t i = 0; i < N * H; ++i) {
      h[i] = in.h0 ? in.h0[d * N * H + i] : 0.f;
      c[i] = in.c0 ? in.c0[d * N * H + i] : 0.f;
    }
    const Activation& f = a.act(static_cast<int>(d), 0);
    const Activation& g = a.act(static_cast<int>(d), a.funcs() > 1 ? 1 : 0);
    const Activation& hf = a.act(static_cast<int>(d), a.funcs() > 2 ? 2 : 0);
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = reverse ? T - 1 - s : s;
      // H R^T (for GRU without linear_before_reset, only the z and r gates).
      const int64_t cols = gru && !lbr ? 2 * H : GH;
      sgemm_nt(N, cols, H, h.data(), H, r, H, 0.f, hr.data(), GH);
      const float* xt = xw.data() + t * N * GH;
      auto active = [&](int64_t b) { return !in.seq || t < in.seq[b]; };
      if (gru) {
        // z and r first (the candidate gate may need r * H).
        for (int64_t b = 0; b < N; ++b)
          for (int64_t j = 0; j < 2 * H; ++j)
            hr[b * GH + j] = f(clipped(xt[b * GH + j] + hr[b * GH + j]));  // now z | r
        if (!lbr) {
          for (int64_t b = 0; b < N; ++b)
            for (int64_t j = 0; j < H; ++j) rh[b * H + j] = hr[b * GH + H + j] * h[b * H + j];
          sgemm_nt(N, H, H, rh.data(), H, r + 2 * H * H, H, 0.f, hr.data() + 2 * H, GH);
        }
        for (int64_t b = 0; b < N; ++b) {
          if (!active(b)) continue;
          for (int64_t j = 0; j < H; ++j) {
            const float z = hr[b * GH + j], rr = hr[b * GH + H + j];
            const float lin = lbr ? rr * (hr[b * GH + 2 * H + j] + (rb ? rb[2 * H + j] : 0.f)) : hr[b * GH + 2 * H + j];
            const float cand = g(clipped(xt[b * GH + 2 * H + j] + lin));
            hn[b * H + j] = (1.f - z) * cand + z * h[b * H + j];
          }
        }
      } else if (lstm) {
        for (int64_t b = 0; b < N; ++b) {
          if (!active(b)) continue;
          for (int64_t j = 0; j < H; ++j) {
            const float* xg = xt + b * GH;
            const float* hg = hr.data() + b * GH;
            const float cp = c[b * H + j];
            const float ig = f(clipped(xg[j] + hg[j] + (p ? p[j] * cp : 0.f)));
            const float fg = a.input_forget ? 1.f - ig
                                            : f(clipped(xg[2 * H + j] + hg[2 * H + j] + (p ? p[2 * H + j] * cp : 0.f)));
            const float cand = g(clipped(xg[3 * H + j] + hg[3 * H + j]));
            const float cn = fg * cp + ig * cand;
            const float og = f(clipped(xg[H + j] + hg[H + j] + (p ? p[H + j] * cn : 0.f)));
            rh[b * H + j] = cn;  // new cell state
            hn[b * H + j] = og * hf(cn);
          }
        }
      } else {
        for (int64_t b = 0; b < N; ++b) {
          if (!active(b)) continue;
          for (int64_t j = 0; j < H; ++j) hn[b * H + j] = f(clipped(xt[b * GH + j] + hr[b * GH + j]));
        }
      }
      for (int64_t b = 0; b < N; ++b) {
        if (!active(b)) continue;
        std::copy_n(hn.data() + b * H, H, h.data() + b * H);
        if (lstm) std::copy_n(rh.data() + b * H, H, c.data() + b * H);
        if (out.y) std::copy_n(hn.data() + b * H, H, out.y + ((t * D + d) * N + b) * H);
      }
    }
    if (out.yh) std::copy(h.begin(), h.end(), out.yh + d * N * H);
    if (out.yc) std::copy(c.begin(), c.end(), out.yc + d * N * H);
  }
}

}  // namespace pier::kernels::rnn

namespace pier::kernels::rnn {

namespace {
constexpr int64_t kUnits = 16;  // hidden units per packed block
}

Tensor pack_recurrent_lstm(const float* r, int64_t D, int64_t H) {
  const int64_t nb = (H + kUnits - 1) / kUnits, GH = 4 * H;
  Tensor packed = Tensor::zeros(DataType::kFloat, {D * nb * H * 4 * kUnits});  // 64-byte aligned rows
  float* out = packed.data<float>();
  for (int64_t d = 0; d < D; ++d)
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t k = 0; k < H; ++k) {
        float* dst = out + ((d * nb + b) * H + k) * 4 * kUnits;
        for (int64_t g = 0; g < 4; ++g)
          for (int64_t u = 0; u < kUnits && b * kUnits + u < H; ++u)
            dst[g * kUnits + u] = r[(d * GH + g * H + b * kUnits + u) * H + k];
      }
  return packed;
}

namespace {

// acc[64] += sum over k of h[k] * rp[k][64]: one block's four gates.
// The step is bound by streaming R from L2; 512-bit loads stream it about
// twice as fast as 256-bit ones, so CPUs with AVX-512 take that path
// (Pier's own code is otherwise built for AVX2).
__attribute__((target("avx512f"))) void block_gemv_avx512(const float* h, const float* rp, int64_t K, float* acc) {
  static_assert(kUnits == 16, "one zmm register per gate");
  __m512 a0 = _mm512_loadu_ps(acc), a1 = _mm512_loadu_ps(acc + 16);
  __m512 a2 = _mm512_loadu_ps(acc + 32), a3 = _mm512_loadu_ps(acc + 48);
  for (int64_t k = 0; k < K; ++k, rp += 4 * kUnits) {
    const __m512 hk = _mm512_set1_ps(h[k]);
    a0 = _mm512_fmadd_ps(hk, _mm512_load_ps(rp), a0);
    a1 = _mm512_fmadd_ps(hk, _mm512_load_ps(rp + 16), a1);
    a2 = _mm512_fmadd_ps(hk, _mm512_load_ps(rp + 32), a2);
    a3 = _mm512_fmadd_ps(hk, _mm512_load_ps(rp + 48), a3);
  }
  _mm512_storeu_ps(acc, a0);
  _mm512_storeu_ps(acc + 16, a1);
  _mm512_storeu_ps(acc + 32, a2);
  _mm512_storeu_ps(acc + 48, a3);
}

const bool kHaveAvx512 = __builtin_cpu_supports("avx512f");

void block_gemv(const float* h, const float* rp, int64_t K, float* acc) {
  if (kHaveAvx512) {
    block_gemv_avx512(h, rp, K, acc);
    return;
  }
  float a[4 * kUnits];
  for (int j = 0; j < 4 * kUnits; ++j) a[j] = acc[j];
  for (int64_t k = 0; k < K; ++k, rp += 4 * kUnits) {
    const float hk = h[k];
    __builtin_prefetch(rp + 16 * 4 * kUnits);
    __builtin_prefetch(rp + 16 * 4 * kUnits + 16);
    __builtin_prefetch(rp + 16 * 4 * kUnits + 32);
    __builtin_prefetch(rp + 16 * 4 * kUnits + 48);
    for (int j = 0; j < 4 * kUnits; ++j) a[j] = std::fma(hk, rp[j], a[j]);
  }
  for (int j = 0; j < 4 * kUnits; ++j) acc[j] = a[j];
}

// The cell update of `m` units from their gate sums (i, o, f, c blocks of
// kUnits); p: peepholes of these units (i, o, f rows with stride H) or null.
// tanh(v) = 2 sigmoid(2v) - 1 (one exp instead of tanh_f's two branches;
// absolute error ~1e-7).
inline float tanh_s(float v) { return 2.f * vmath::sigmoid_f(2.f * v) - 1.f; }

void lstm_cell(const float* acc, const float* p, int64_t H, int64_t m, float* c, float* h) {
  const float* gi = acc;
  const float* go = acc + kUnits;
  const float* gf = acc + 2 * kUnits;
  const float* gc = acc + 3 * kUnits;
  if (p) {
    for (int64_t j = 0; j < m; ++j) {
      const float cp = c[j];
      const float ig = vmath::sigmoid_f(gi[j] + p[j] * cp);
      const float fg = vmath::sigmoid_f(gf[j] + p[2 * H + j] * cp);
      const float cn = fg * cp + ig * tanh_s(gc[j]);
      const float og = vmath::sigmoid_f(go[j] + p[H + j] * cn);
      c[j] = cn;
      h[j] = og * tanh_s(cn);
    }
  } else {
    for (int64_t j = 0; j < m; ++j) {
      const float cn = vmath::sigmoid_f(gf[j]) * c[j] + vmath::sigmoid_f(gi[j]) * tanh_s(gc[j]);
      c[j] = cn;
      h[j] = vmath::sigmoid_f(go[j]) * tanh_s(cn);
    }
  }
}

}  // namespace

void lstm_small_batch(const Attrs& a, const float* rp, const Inputs& in, const Outputs& out, int threads,
                      const InputProduct& input_product) {
  const int64_t T = in.T, N = in.N, I = in.I, H = a.hidden, GH = 4 * H, D = a.dirs();
  const int64_t nb = (H + kUnits - 1) / kUnits;
  std::vector<float> xw(static_cast<size_t>(std::max<int64_t>(T * N * GH, 1)));
  // Ping-pong hidden states (all of one is read while the other is
  // written) and the cell state, which each thread owns for its blocks.
  std::vector<float> hbuf(static_cast<size_t>(2 * N * H)), c(static_cast<size_t>(N * H));
  // At least 4 blocks (64 units) per thread: a step is a few microseconds.
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, nb / 4)));
  for (int64_t d = 0; d < D; ++d) {
    const bool reverse = a.direction == Direction::kReverse || d == 1;
    const float* w = in.w + d * GH * I;
    const float* rd = rp + d * nb * H * 4 * kUnits;
    const float* p = in.p ? in.p + d * 3 * H : nullptr;
    if (input_product) {
      input_product(d, xw.data());
    } else {
      sgemm_nt(T * N, GH, I, in.x, I, w, I, 0.f, xw.data(), GH);
    }
    if (in.b && !input_product) {
      const float* wb = in.b + d * 2 * GH;
      std::vector<float> bias(static_cast<size_t>(GH));
      for (int64_t j = 0; j < GH; ++j) bias[j] = wb[j] + wb[GH + j];
      for (int64_t row = 0; row < T * N; ++row)
        for (int64_t j = 0; j < GH; ++j) xw[row * GH + j] += bias[j];
    }
    for (int64_t i = 0; i < N * H; ++i) {
      hbuf[i] = in.h0 ? in.h0[d * N * H + i] : 0.f;
      c[i] = in.c0 ? in.c0[d * N * H + i] : 0.f;
    }
    // Step s for blocks [b0, b1) of every sequence.
    auto step = [&](int64_t s, int64_t b0, int64_t b1) {
      const int64_t t = reverse ? T - 1 - s : s;
      const float* hp = hbuf.data() + (s % 2) * N * H;
      float* hn = hbuf.data() + ((s + 1) % 2) * N * H;
      float acc[4 * kUnits];
      for (int64_t n = 0; n < N; ++n) {
        const float* xg = xw.data() + (t * N + n) * GH;
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t j0 = b * kUnits, m = std::min(kUnits, H - j0);
          for (int64_t g = 0; g < 4; ++g) {
            std::copy_n(xg + g * H + j0, m, acc + g * kUnits);
            std::fill(acc + g * kUnits + m, acc + (g + 1) * kUnits, 0.f);
          }
          block_gemv(hp + n * H, rd + b * H * 4 * kUnits, H, acc);
          lstm_cell(acc, p ? p + j0 : nullptr, H, m, c.data() + n * H + j0, hn + n * H + j0);
          if (out.y) std::copy_n(hn + n * H + j0, m, out.y + ((t * D + d) * N + n) * H + j0);
        }
      }
    };
    if (nt <= 1) {
      for (int64_t s = 0; s < T; ++s) step(s, 0, nb);
    } else {
#pragma omp parallel num_threads(nt)
      {
        const int tid = omp_get_thread_num(), team = omp_get_num_threads();
        const int64_t per = nb / team, extra = nb % team;
        const int64_t b0 = tid * per + std::min<int64_t>(tid, extra);
        const int64_t b1 = b0 + per + (tid < extra ? 1 : 0);
        for (int64_t s = 0; s < T; ++s) {
          step(s, b0, b1);
#pragma omp barrier
        }
      }
    }
    const float* hl = hbuf.data() + (T % 2) * N * H;
    if (out.yh) std::copy_n(hl, N * H, out.yh + d * N * H);
    if (out.yc) std::copy(c.begin(), c.end(), out.yc + d * N * H);
  }
}

}  // namespace pier::kernels::rnn
