// pier.internal::Attention, created by passes/fuse_attention.cc from
//   MatMul(Q, Kt) [* scale] [+ mask] -> Softmax(last axis) -> MatMul(., V)
// with the Transposes/Reshapes/Slices around Q, K, V and the output folded
// into strides:
//
//   inputs: q_src, k_src, v_src (dense tensors the operands are views of),
//           optional mask (broadcast to the scores [B..., Sq, Sk])
//   attrs:  scale, mask_scale: scores = scale * Q Kt + mask_scale * mask,
//           {q,k,v}_offset / _shape / _strides: the logical operands
//             Q [B..., Sq, D], Kt [B..., D, Sk], V [B..., Sk, Dv] as
//             (element offset, dims, element strides) into their sources,
//           {q,k,v}_src_shape: the sources' shapes (checked at run time),
//           out_shape: the output tensor; out_strides: where O [B..., Sq, Dv]
//             lives in it.
//
// Per batch index: S = Q Kt (sgemm, reading Q and Kt in place through
// their leading dimensions), S = softmax(scale * S + mask) row by row, then
// O = S V written straight into the output. Batches run in parallel, each
// with its own scores buffer.
#include <dnnl.hpp>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/broadcast.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/math_vec.h"
#include "kernels/util/parallel.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;

struct Operand {
  int64_t offset = 0;
  Shape shape, src_shape;
  std::vector<int64_t> strides;

  static Operand parse(const ir::Node& n, const std::string& p) {
    Operand o;
    o.offset = n.attr_int(p + "_offset", 0);
    o.shape = n.attr_ints(p + "_shape");
    o.strides = n.attr_ints(p + "_strides");
    o.src_shape = n.attr_ints(p + "_src_shape");
    if (o.shape.size() < 2 || o.shape.size() != o.strides.size())
      throw Error(ErrorCode::kInvalidModel, "Attention: bad " + p + " view");
    // Every element of the view must lie inside the source (an empty view
    // has none: its source may be empty too).
    if (shape_numel(o.shape) == 0) return o;
    int64_t lo = o.offset, hi = o.offset;
    for (size_t d = 0; d < o.shape.size(); ++d) {
      if (o.shape[d] <= 0) continue;
      const int64_t span = (o.shape[d] - 1) * o.strides[d];
      (span < 0 ? lo : hi) += span;
    }
    if (lo < 0 || hi >= std::max<int64_t>(shape_numel(o.src_shape), 1))
      throw Error(ErrorCode::kInvalidModel, "Attention: " + p + " view exceeds its source");
    return o;
  }
  int64_t rows() const { return shape[shape.size() - 2]; }
  int64_t cols() const { return shape.back(); }
  int64_t rs() const { return strides[strides.size() - 2]; }
  int64_t cs() const { return strides.back(); }
};

// How sgemm reads a rows x cols matrix with strides (rs, cs): transposed
// or not, and the leading dimension; ok = false when neither stride is 1.
struct MatLayout {
  bool ok = false;
  char trans = 'N';
  int64_t ld = 1;
};

MatLayout layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  MatLayout m;
  // The stride of a size-1 dim is never used: pick one sgemm accepts.
  if (rows == 1) rs = cs == 1 ? std::max<int64_t>(cols, 1) : 1;
  if (cols == 1) cs = rs == 1 ? std::max<int64_t>(rows, 1) : 1;
  if (cs == 1 && rs >= std::max<int64_t>(cols, 1)) {
    m = {true, 'N', rs};
  } else if (rs == 1 && cs >= std::max<int64_t>(rows, 1)) {
    m = {true, 'T', cs};
  }
  return m;
}

// Copies a strided rows x cols matrix into a dense row-major buffer.
void gather(const float* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* dst) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) dst[i * cols + j] = src[i * rs + j * cs];
}

void sgemm(char ta, char tb, int64_t M, int64_t N, int64_t K, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  if (dnnl::sgemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, 0.f, c, ldc) != dnnl::status::success)
    throw Error(ErrorCode::kRuntime, "Attention: oneDNN sgemm failed");
}

// exp(x) for x <= 0 (softmax after subtracting the row max): x = n ln2 + r,
// a degree-7 Taylor polynomial for exp(r) (|r| <= ln2/2, rel. error 6e-9)
// and 2^n put into the exponent bits. Results below FLT_MIN (x < -87.33)
// are 0; NaN stays NaN. About three times cheaper than vmath::exp_f, which
// must also handle large positive x.
inline float exp_nonpos(float x) {
  constexpr float kLow = -87.33f;
  const float xc = x < kLow ? kLow : x;
  const float shifter = 12582912.f;  // 1.5 * 2^23: rounds to an integer
  const float nf = std::fma(xc, 1.44269504088896341f, shifter) - shifter;
  const float r = std::fma(nf, 2.12194440e-4f, std::fma(nf, -0.693359375f, xc));
  float p = 1.f / 5040.f;
  p = std::fma(p, r, 1.f / 720.f);
  p = std::fma(p, r, 1.f / 120.f);
  p = std::fma(p, r, 1.f / 24.f);
  p = std::fma(p, r, 1.f / 6.f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.f);
  p = std::fma(p, r, 1.f);
  const int32_t n = static_cast<int32_t>(nf);  // in [-126, 0]
  const float y = p * std::bit_cast<float>(static_cast<uint32_t>(n + 127) << 23);
  return vmath::sel(x < kLow, 0.f, y);
}

// row = softmax(row + mask_scale * mask), mask read with stride ms (0 or
// 1) or absent (the scale is applied by the sgemm). The max and the sum use
// 16 partial lanes so the loops vectorize (a single running max/sum is a
// serial dependency chain).
void softmax_row(float* row, int64_t n, const float* mask, int64_t ms, float mask_scale) {
  if (mask && ms == 1) {
    for (int64_t j = 0; j < n; ++j) row[j] = row[j] + mask[j] * mask_scale;
  } else if (mask) {
    const float m0 = mask[0] * mask_scale;
    for (int64_t j = 0; j < n; ++j) row[j] = row[j] + m0;
  }
  constexpr int kLanes = 16;
  float lane[kLanes];
  std::fill_n(lane, kLanes, -INFINITY);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lane[l] = vmath::sel(row[j + l] > lane[l], row[j + l], lane[l]);
  float mx = -INFINITY;
  for (int l = 0; l < kLanes; ++l) mx = std::max(mx, lane[l]);
  for (; j < n; ++j) mx = std::max(mx, row[j]);
  // A NaN anywhere makes the row NaN (as the unfused Softmax does).
  std::fill_n(lane, kLanes, 0.f);
  j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float e = exp_nonpos(row[j + l] - mx);
      row[j + l] = e;
      lane[l] += e;
    }
  float sum = 0.f;
  for (; j < n; ++j) {
    row[j] = exp_nonpos(row[j] - mx);
    sum += row[j];
  }
  for (int l = 0; l < kLanes; ++l) sum += lane[l];
  const float inv = 1.f / sum;
  for (j = 0; j < n; ++j) row[j] *= inv;
}

class AttentionKernel final : public OpKernel {
 public:
  explicit AttentionKernel(const KernelInit& init) {
    const auto& n = init.node;
    scale_ = n.attr_float("scale", 1.f);
    mask_scale_ = n.attr_float("mask_scale", 1.f);
    q_ = Operand::parse(n, "q");
    k_ = Operand::parse(n, "k");
    v_ = Operand::parse(n, "v");
    out_shape_ = n.attr_ints("out_shape");
    out_strides_ = n.attr_ints("out_strides");
    const size_t r = q_.shape.size();
    if (k_.shape.size() != r || v_.shape.size() != r || out_strides_.size() != r)
      throw Error(ErrorCode::kInvalidModel, "Attention: operand ranks differ");
    batch_.assign(q_.shape.begin(), q_.shape.end() - 2);
    for (size_t d = 0; d + 2 < r; ++d)
      if (k_.shape[d] != batch_[d] || v_.shape[d] != batch_[d])
        throw Error(ErrorCode::kInvalidModel, "Attention: batch dims differ");
    sq_ = q_.rows();
    dk_ = q_.cols();
    sk_ = k_.cols();
    dv_ = v_.cols();
    if (k_.rows() != dk_ || v_.rows() != sk_) throw Error(ErrorCode::kInvalidModel, "Attention: inner dims differ");
    Operand o;
    o.shape = batch_;
    o.shape.push_back(sq_);
    o.shape.push_back(dv_);
    o.strides = out_strides_;
    o.src_shape = out_shape_;
    out_ = o;
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& q = ctx.input(0);
    const Tensor& k = ctx.input(1);
    const Tensor& v = ctx.input(2);
    for (const auto& [t, op, name] : {std::tuple{&q, &q_, "Q"}, {&k, &k_, "K"}, {&v, &v_, "V"}})
      if (t->dtype() != DataType::kFloat || t->shape() != op->src_shape)
        throw Error(ErrorCode::kInvalidArgument, std::string("Attention ") + name + " source must be float " +
                                                     shape_str(op->src_shape) + ", got " + shape_str(t->shape()));
    Shape scores = batch_;
    scores.push_back(sq_);
    scores.push_back(sk_);
    const float* mask = nullptr;
    std::vector<int64_t> mst;
    if (ctx.has_input(3)) {
      const Tensor& m = ctx.input(3);
      if (m.dtype() != DataType::kFloat || m.rank() > static_cast<int>(scores.size()) ||
          broadcast_shapes(m.shape(), scores) != scores)
        throw Error(ErrorCode::kInvalidArgument, "Attention mask " + shape_str(m.shape()) + " does not broadcast to " +
                                                     shape_str(scores));
      mask = m.data<float>();
      mst = broadcast_strides(m.shape(), scores);
    }
    Tensor& y = ctx.allocate(0, DataType::kFloat, out_shape_);
    if (y.numel() == 0) return;
    if (sk_ == 0) {  // softmax over no keys, times no values: O = 0
      std::memset(y.raw(), 0, y.nbytes());
      return;
    }
    const float* pq = q.data<float>() + q_.offset;
    const float* pk = k.data<float>() + k_.offset;
    const float* pv = v.data<float>() + v_.offset;
    float* py = y.data<float>();
    const int64_t nb = shape_numel(batch_);
    const MatLayout lq = layout(sq_, dk_, q_.rs(), q_.cs()), lk = layout(dk_, sk_, k_.rs(), k_.cs());
    const MatLayout lv = layout(sk_, dv_, v_.rs(), v_.cs());
    const MatLayout lo = layout(sq_, dv_, out_.rs(), out_.cs());
    const bool direct_out = lo.ok && lo.trans == 'N';
    const int64_t nbd = static_cast<int64_t>(batch_.size());
    du::ThreadScope ts(1);  // sgemm runs inside the per-batch parallel loop
    // Batches are handed out one at a time (not in fixed ranges), so a
    // thread that loses its core to another process does not hold up the
    // others.
    std::atomic<int64_t> next{0};
    const int64_t workers = std::min<int64_t>(std::max(ctx.threads(), 1), nb);
    parallel_for(static_cast<int>(workers), workers, 1, [&](int64_t, int64_t) {
      // Scores, plus dense copies for operands sgemm cannot read in place.
      const int64_t extra = (lq.ok ? 0 : sq_ * dk_) + (lk.ok ? 0 : dk_ * sk_) + (lv.ok ? 0 : sk_ * dv_) +
                            (direct_out ? 0 : sq_ * dv_);
      du::TempBuffer buf(static_cast<size_t>(sq_ * sk_ + extra) * sizeof(float));
      float* s = buf.as<float>();
      float* tmp = s + sq_ * sk_;
      for (int64_t b = next++; b < nb; b = next++) {
        int64_t oq = 0, ok = 0, ov = 0, oo = 0, om = 0;
        for (int64_t d = nbd - 1, rem = b; d >= 0; --d) {
          const int64_t i = rem % batch_[d];
          rem /= batch_[d];
          oq += i * q_.strides[d];
          ok += i * k_.strides[d];
          ov += i * v_.strides[d];
          oo += i * out_.strides[d];
          if (mask) om += i * mst[d];
        }
        float* t = tmp;
        auto operand = [&](const float* p, const Operand& op, const MatLayout& l, const float** out, char* trans,
                           int64_t* ld) {
          if (l.ok) {
            *out = p;
            *trans = l.trans;
            *ld = l.ld;
            return;
          }
          gather(p, op.rows(), op.cols(), op.rs(), op.cs(), t);
          *out = t;
          *trans = 'N';
          *ld = op.cols();
          t += op.rows() * op.cols();
        };
        const float *a, *bk, *bv;
        char ta, tk, tv;
        int64_t lda, ldk, ldv;
        operand(pq + oq, q_, lq, &a, &ta, &lda);
        operand(pk + ok, k_, lk, &bk, &tk, &ldk);
        operand(pv + ov, v_, lv, &bv, &tv, &ldv);
        if (dk_ > 0) {
          sgemm(ta, tk, sq_, sk_, dk_, scale_, a, lda, bk, ldk, s, sk_);
        } else {
          std::fill_n(s, sq_ * sk_, 0.f);
        }
        for (int64_t i = 0; i < sq_; ++i) {
          const float* mrow = mask ? mask + om + i * mst[nbd] : nullptr;
          softmax_row(s + i * sk_, sk_, mrow, mask ? mst[nbd + 1] : 0, mask_scale_);
        }
        if (dv_ == 0) continue;
        if (direct_out) {
          sgemm('N', tv, sq_, dv_, sk_, 1.f, s, sk_, bv, ldv, py + oo, lo.ld);
        } else {
          sgemm('N', tv, sq_, dv_, sk_, 1.f, s, sk_, bv, ldv, t, dv_);
          float* dst = py + oo;
          for (int64_t i = 0; i < sq_; ++i)
            for (int64_t j = 0; j < dv_; ++j) dst[i * out_.rs() + j * out_.cs()] = t[i * dv_ + j];
        }
      }
    });
  }

 private:
  float scale_ = 1.f;
  float mask_scale_ = 1.f;
  Operand q_, k_, v_, out_;
  Shape batch_, out_shape_;
  std::vector<int64_t> out_strides_;
  int64_t sq_ = 0, dk_ = 0, sk_ = 0, dv_ = 0;
};

}  // namespace

void register_kernels_fused_attention(KernelRegistry& r) {
  r.add("pier.internal", "Attention", 1, kOpenEnded, make_factory<AttentionKernel>());
}

}  // namespace pier::kernels
