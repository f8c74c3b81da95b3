// MatMulInteger and QLinearMatMul (uint8/int8, numpy batch broadcasting,
// per-tensor or per-row/per-column zero points and scales).
//
// The int32 product (A - za)(B - zb) is exact: oneDNN's gemm_u8s8s32 /
// gemm_s8s8s32 (VNNI/AMX) computes A*B' with B' = B as int8 (uint8 B is
// shifted by 128 and its zero point with it), and the zero points enter
// through row/column-sum corrections:
//   sum_k (A_ik - za_i)(B_kj - zb_j) = A B - zb_j rowsum(A)_i
//                                      - za_i colsum(B)_j + K za_i zb_j.
// QLinearMatMul then requantizes: y = sat(round_half_even(acc * sa*sb/sy) + zy).
#include <cmath>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

bool is_q8(DataType t) { return t == DataType::kUInt8 || t == DataType::kInt8; }

// B [K, N] as int8 (uint8 shifted by -128) with its column sums.
struct Int8B {
  std::vector<int8_t> b;
  std::vector<int32_t> colsum;
  int32_t shift = 0;  // 128 when B was uint8: B = b + shift
};

Int8B to_int8_b(const void* data, bool is_unsigned, int64_t K, int64_t N) {
  Int8B r;
  r.b.resize(static_cast<size_t>(K * N));
  r.colsum.assign(static_cast<size_t>(N), 0);
  r.shift = is_unsigned ? 128 : 0;
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) {
      const int32_t v = is_unsigned ? static_cast<int32_t>(static_cast<const uint8_t*>(data)[k * N + n]) - 128
                                    : static_cast<const int8_t*>(data)[k * N + n];
      r.b[k * N + n] = static_cast<int8_t>(v);
      r.colsum[n] += v;
    }
  return r;
}

// C[M,N] = (A - za)(B - zb) for one batch. za: M values or 1; zb: N or 1.
void int8_gemm(int64_t M, int64_t N, int64_t K, const void* a, bool a_unsigned, const Int8B& b, const int32_t* za,
               bool za_per_row, const int32_t* zb, bool zb_per_col, int32_t* c) {
  const int32_t co = 0;
  if (K == 0) {
    std::fill_n(c, M * N, 0);
    return;
  }
  dnnl::status st;
  if (a_unsigned)
    st = dnnl::gemm_u8s8s32('N', 'N', 'F', M, N, K, 1.f, static_cast<const uint8_t*>(a), K, 0, b.b.data(), N, 0, 0.f,
                            c, N, &co);
  else
    st = dnnl::gemm_s8s8s32('N', 'N', 'F', M, N, K, 1.f, static_cast<const int8_t*>(a), K, 0, b.b.data(), N, 0, 0.f,
                            c, N, &co);
  if (st != dnnl::status::success) throw Error(ErrorCode::kRuntime, "oneDNN integer gemm failed");
  // (A - za)(b + shift - zb) = A b + (shift - zb) rowsum(A) - za colsum(b) - za (shift - zb) K
  for (int64_t i = 0; i < M; ++i) {
    int32_t rowsum = 0;
    if (a_unsigned)
      for (int64_t k = 0; k < K; ++k) rowsum += static_cast<const uint8_t*>(a)[i * K + k];
    else
      for (int64_t k = 0; k < K; ++k) rowsum += static_cast<const int8_t*>(a)[i * K + k];
    const int32_t zai = za ? za[za_per_row ? i : 0] : 0;
    int32_t* row = c + i * N;
    for (int64_t j = 0; j < N; ++j) {
      const int32_t d = b.shift - (zb ? zb[zb_per_col ? j : 0] : 0);
      row[j] += d * rowsum - zai * b.colsum[j] - zai * d * static_cast<int32_t>(K);
    }
  }
}

std::vector<int32_t> zero_points(const Tensor* t) {
  std::vector<int32_t> v;
  if (!t) return v;
  if (!is_q8(t->dtype())) throw Error(ErrorCode::kInvalidArgument, "zero point must be uint8 or int8");
  for (int64_t i = 0; i < t->numel(); ++i)
    v.push_back(t->dtype() == DataType::kUInt8 ? static_cast<const uint8_t*>(t->raw())[i]
                                               : static_cast<const int8_t*>(t->raw())[i]);
  return v;
}

std::vector<float> scales(const Tensor& t, const char* what) {
  if (t.dtype() != DataType::kFloat) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must be float");
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

class QMatMulKernel final : public OpKernel {
 public:
  QMatMulKernel(const KernelInit& init, bool qlinear) : qlinear_(qlinear) {
    const Tensor* b = init.constant_input(qlinear ? 3 : 1);
    if (b && b->rank() == 2 && is_q8(b->dtype())) {
      b_orig_ = *b;
      b_packed_ = to_int8_b(b->raw(), b->dtype() == DataType::kUInt8, b->dim(0), b->dim(1));
    }
  }

  void compute(KernelContext& ctx) const override {
    const int bi = qlinear_ ? 3 : 1;
    const Tensor& a = ctx.input(0);
    const Tensor& b = ctx.input(bi);
    if (!is_q8(a.dtype()) || !is_q8(b.dtype()))
      throw Error(ErrorCode::kUnsupported, "integer matmul inputs must be uint8 or int8");
    if (a.rank() < 1 || b.rank() < 1) throw Error(ErrorCode::kInvalidArgument, "matmul inputs must have rank >= 1");
    const Shape as = a.rank() == 1 ? Shape{1, a.dim(0)} : a.shape();
    const Shape bs = b.rank() == 1 ? Shape{b.dim(0), 1} : b.shape();
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K)
      throw Error(ErrorCode::kInvalidArgument, "matmul inner dimensions differ: " + shape_str(a.shape()) + " x " +
                                                   shape_str(b.shape()));
    const Shape ba(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
    const Shape batch = broadcast_shapes(ba, bb);
    Shape out = batch;
    if (a.rank() > 1) out.push_back(M);
    if (b.rank() > 1) out.push_back(N);
    checked_numel(out, "matmul output");
    const int azi = 2, bzi = qlinear_ ? 5 : 3;
    const std::vector<int32_t> za = zero_points(ctx.has_input(azi) ? &ctx.input(azi) : nullptr);
    const std::vector<int32_t> zb = zero_points(ctx.has_input(bzi) ? &ctx.input(bzi) : nullptr);
    const int64_t nba = shape_numel(ba), nbb = shape_numel(bb), nb = shape_numel(batch);
    // Zero points: one value, one per row (column), or one per row (column)
    // of every batch matrix.
    auto zp_mode = [&](const std::vector<int32_t>& z, int64_t per, int64_t batches, const char* what) {
      if (z.size() <= 1) return 0;
      if (static_cast<int64_t>(z.size()) == per) return 1;
      if (static_cast<int64_t>(z.size()) == per * batches) return 2;
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + " zero point has " + std::to_string(z.size()) +
                                                   " values, which fits neither per-tensor nor per-" +
                                                   (per == M ? "row" : "column") + " quantization");
    };
    const int za_mode = zp_mode(za, M, nba, "A"), zb_mode = zp_mode(zb, N, nbb, "B");
    Tensor acc = qlinear_ ? Tensor(DataType::kInt32, out) : ctx.allocate(0, DataType::kInt32, out);
    int32_t* pc = acc.data<int32_t>();
    const auto sa = broadcast_strides(ba, batch), sb = broadcast_strides(bb, batch);
    const size_t esz = 1;
    const bool b_const = b_orig_.defined() && b.storage_id() == b_orig_.storage_id() && b.shape() == b_orig_.shape() &&
                         b.dtype() == b_orig_.dtype();
    dnnl_util::ThreadScope ts(ctx.threads());
    for (int64_t i = 0; i < (acc.numel() ? nb : 0); ++i) {
      int64_t oa = 0, ob = 0, rem = i;
      for (size_t d = batch.size(); d-- > 0;) {
        const int64_t v = rem % batch[d];
        rem /= batch[d];
        oa += v * sa[d];
        ob += v * sb[d];
      }
      const char* pa = static_cast<const char*>(a.raw()) + oa * M * K * esz;
      Int8B local;
      const Int8B* pb = &b_packed_;
      if (!b_const) {
        local = to_int8_b(static_cast<const char*>(b.raw()) + ob * K * N * esz, b.dtype() == DataType::kUInt8, K, N);
        pb = &local;
      }
      const int32_t* zap = za.empty() ? nullptr : za.data() + (za_mode == 2 ? oa * M : 0);
      const int32_t* zbp = zb.empty() ? nullptr : zb.data() + (zb_mode == 2 ? ob * N : 0);
      int8_gemm(M, N, K, pa, a.dtype() == DataType::kUInt8, *pb, zap, za_mode != 0, zbp, zb_mode != 0,
                pc + i * M * N);
    }
    if (!qlinear_) return;
    // Requantize.
    const auto s_a = scales(ctx.input(1), "a_scale"), s_b = scales(ctx.input(4), "b_scale"),
               s_y = scales(ctx.input(6), "y_scale");
    if (s_y.size() != 1) throw Error(ErrorCode::kInvalidArgument, "y_scale must be a scalar");
    if (s_a.size() != 1 && static_cast<int64_t>(s_a.size()) != M)
      throw Error(ErrorCode::kInvalidArgument, "a_scale must be a scalar or per row");
    if (s_b.size() != 1 && static_cast<int64_t>(s_b.size()) != N)
      throw Error(ErrorCode::kInvalidArgument, "b_scale must be a scalar or per column");
    const Tensor* yz = ctx.has_input(7) ? &ctx.input(7) : nullptr;
    const DataType yt = yz ? yz->dtype() : DataType::kUInt8;
    const std::vector<int32_t> zy = zero_points(yz);
    const int32_t zyv = zy.empty() ? 0 : zy[0];
    Tensor& y = ctx.allocate(0, yt, out);
    const int32_t lo = yt == DataType::kUInt8 ? 0 : -128, hi = yt == DataType::kUInt8 ? 255 : 127;
    const int64_t total = acc.numel();
    for (int64_t e = 0; e < total; ++e) {
      const int64_t j = e % N, i = (e / N) % M;
      const float m = s_a[s_a.size() == 1 ? 0 : i] * s_b[s_b.size() == 1 ? 0 : j] / s_y[0];
      const float v = std::nearbyint(static_cast<float>(pc[e]) * m) + static_cast<float>(zyv);
      const int32_t q = static_cast<int32_t>(std::max<float>(lo, std::min<float>(hi, v)));
      if (yt == DataType::kUInt8) static_cast<uint8_t*>(y.raw())[e] = static_cast<uint8_t>(q);
      else static_cast<int8_t*>(y.raw())[e] = static_cast<int8_t>(q);
    }
  }

 private:
  bool qlinear_;
  Tensor b_orig_;
  Int8B b_packed_;
};

KernelFactory qmatmul(bool qlinear) {
  return [qlinear](const KernelInit& init) -> std::unique_ptr<OpKernel> {
    return std::make_unique<QMatMulKernel>(init, qlinear);
  };
}

}  // namespace

void register_kernels_nn_quant_matmul(KernelRegistry& r) {
  r.add("", "MatMulInteger", 10, kOpenEnded, qmatmul(false));
  r.add("", "QLinearMatMul", 10, kOpenEnded, qmatmul(true));
}

}  // namespace pier::kernels
