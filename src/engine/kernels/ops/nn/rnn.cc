// RNN, GRU and LSTM (forward / reverse / bidirectional, sequence_lens,
// initial_h / initial_c, peepholes, linear_before_reset, layout, outputs
// Y / Y_h / Y_c).
//
// The default cells run on oneDNN's vanilla_rnn (Tanh, Relu or Sigmoid),
// gru / lbr_gru and lstm primitives, cached per shape. ONNX's weights are
// re-laid out once (for initializers) into oneDNN's ldigo layout and gate
// order (LSTM: ONNX i,o,f,c -> oneDNN i,f,c,o; peepholes i,o,f -> i,f,o;
// GRU z,r,h = oneDNN u,r,o), then reordered into the primitive's preferred
// packed layout. Everything oneDNN cannot express (other activations,
// clip, input_forget, sequence_lens shorter than the sequence) runs on the
// reference in util/nn_rnn.cc. LSTMs over a few sequences run
// rnn::lstm_small_batch (a matrix-vector loop over R packed once), which beats oneDNN's primitives there.
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/dnnl_util.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/nn_rnn.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

namespace du = dnnl_util;
using rnn::Cell;

// Row-major permutation of a 3-D or 4-D buffer: out dims are in[perm[i]].
void permute(const float* src, const Shape& dims, const std::vector<int>& perm, float* dst) {
  const size_t r = dims.size();
  const auto st = strides_of(dims);
  Shape od(r);
  std::vector<int64_t> ost(r);
  for (size_t i = 0; i < r; ++i) {
    od[i] = dims[perm[i]];
    ost[i] = st[perm[i]];
  }
  const int64_t n = shape_numel(dims);
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t off = 0;
    for (size_t i = 0; i < r; ++i) off += idx[i] * ost[i];
    dst[o] = src[off];
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < od[i]) break;
      idx[i] = 0;
    }
  }
}

struct RnnEntry {
  dnnl::primitive_desc pd;
  dnnl::primitive prim;
  dnnl::memory::desc w_layer, w_iter, bias, peephole;  // as the primitive wants them
  dnnl::memory::desc src_layer, dst_layer, iter;       // user-side layouts
};

class RnnKernel final : public OpKernel {
 public:
  RnnKernel(const KernelInit& init, Cell cell) : a_(rnn::Attrs::parse(init.node, cell)) {
    const int D = a_.dirs();
    // oneDNN can run this node unless it uses what oneDNN lacks.
    dnnl_ok_ = a_.clip == 0.f && !a_.input_forget;
    if (cell == Cell::kRnn) {
      const auto k = a_.act(0, 0).kind;
      dnnl_ok_ = dnnl_ok_ && (D == 1 || a_.act(1, 0).kind == k) &&
                 (k == rnn::Activation::Kind::kTanh || k == rnn::Activation::Kind::kRelu ||
                  k == rnn::Activation::Kind::kSigmoid);
    } else {
      dnnl_ok_ = dnnl_ok_ && a_.default_activations();
    }
    w_ = du::ConstantInput(init.constant_input(1));
    r_ = du::ConstantInput(init.constant_input(2));
    if (cell == Cell::kLstm && dnnl_ok_ && r_.f32.defined() && r_.f32.rank() == 3 && r_.f32.dim(0) == D &&
        r_.f32.dim(1) == 4 * r_.f32.dim(2))
      rt_ = rnn::pack_recurrent_lstm(static_cast<const float*>(r_.f32.raw()), D, r_.f32.dim(2));
    if (cell == Cell::kLstm && dnnl_ok_ && w_.f32.defined() && w_.f32.rank() == 3 && w_.f32.dim(0) == D) {
      // W_d^T ([I, 4H] read through strides) for the input product.
      const int64_t GH = w_.f32.dim(1), I = w_.f32.dim(2);
      for (int64_t d = 0; d < D; ++d) {
        Tensor wd(DataType::kFloat, {GH, I});
        std::memcpy(wd.raw(), static_cast<const float*>(w_.f32.raw()) + d * GH * I, wd.nbytes());
        xw_w_[d].set_source(du::strided_md({I, GH}, du::dt::f32, {1, I}), wd);
      }
    }
    if (dnnl_ok_ && w_.f32.defined() && r_.f32.defined() && w_.f32.rank() == 3 && r_.f32.rank() == 3) {
      const int64_t H = r_.f32.dim(2), I = w_.f32.dim(2);
      if ((a_.hidden == 0 || a_.hidden == H) && w_.f32.dim(0) == D && r_.f32.dim(0) == D &&
          w_.f32.dim(1) == a_.gates() * H && r_.f32.dim(1) == a_.gates() * H) {
        w_layer_.set_source(ldigo_md(I, H), to_ldigo(w_.f32, I, H));
        w_iter_.set_source(ldigo_md(H, H), to_ldigo(r_.f32, H, H));
        // Build and pack now when X's shape is known (and sequence_lens absent).
        const ValueInfo* xi = init.input_info(0);
        if (xi && xi->has_shape && xi->dims.size() == 3 && !init.node.has_input(4)) {
          const int64_t T = a_.layout ? xi->dims[1] : xi->dims[0], N = a_.layout ? xi->dims[0] : xi->dims[1];
          if (T > 0 && N > 0 && I > 0 && H > 0 && xi->dims[2] == I && !(cell == Cell::kLstm && N <= rnn::kSmallBatch)) {
            try {
              const int threads = du::resolve_threads(init.options.threads);
              du::ThreadScope ts(threads);
              const bool lstm = cell == Cell::kLstm;
              const bool states = lstm && (init.node.has_input(5) || init.node.has_input(6));
              auto e = entry(T, N, I, H, init.node.has_input(5) || states, states, lstm && init.node.has_input(7),
                             threads);
              w_layer_.get(e->w_layer);
              w_iter_.get(e->w_iter);
            } catch (const Error&) {
            }
          }
        }
      }
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x_in = ctx.input(0);
    const DataType dtype = x_in.dtype();
    if (dtype != DataType::kFloat && dtype != DataType::kDouble && dtype != DataType::kFloat16 &&
        dtype != DataType::kBFloat16)
      throw Error(ErrorCode::kUnsupported, std::string("recurrent ops do not support type ") + dtype_name(dtype));
    const bool lstm = a_.cell == Cell::kLstm;
    const int64_t D = a_.dirs(), G = a_.gates();
    if (x_in.rank() != 3) throw Error(ErrorCode::kInvalidArgument, "X must be 3-D, got " + shape_str(x_in.shape()));
    const int64_t T = a_.layout ? x_in.dim(1) : x_in.dim(0), N = a_.layout ? x_in.dim(0) : x_in.dim(1);
    const int64_t I = x_in.dim(2);
    const Tensor& r_in = ctx.input(2);
    const int64_t H = a_.hidden ? a_.hidden : (r_in.rank() == 3 ? r_in.dim(2) : 0);
    auto expect = [&](const Tensor& t, const Shape& s, const char* what) {
      if (t.shape() != s)
        throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must have shape " + shape_str(s) + ", got " +
                                                     shape_str(t.shape()));
      if (t.dtype() != dtype) throw Error(ErrorCode::kInvalidArgument, std::string(what) + " must have X's type");
    };
    expect(ctx.input(1), {D, G * H, I}, "W");
    expect(r_in, {D, G * H, H}, "R");
    const auto in_opt = [&](int i) { return ctx.has_input(i) ? &ctx.input(i) : nullptr; };
    const Tensor* b_t = in_opt(3);
    const Tensor* seq_t = in_opt(4);
    const Tensor* h0_t = in_opt(5);
    const Tensor* c0_t = lstm ? in_opt(6) : nullptr;
    const Tensor* p_t = lstm ? in_opt(7) : nullptr;
    const Shape state = a_.layout ? Shape{N, D, H} : Shape{D, N, H};
    if (b_t) expect(*b_t, {D, 2 * G * H}, "B");
    if (h0_t) expect(*h0_t, state, "initial_h");
    if (c0_t) expect(*c0_t, state, "initial_c");
    if (p_t) expect(*p_t, {D, 3 * H}, "P");
    std::vector<int32_t> seq;
    if (seq_t) {
      if (seq_t->rank() != 1 || seq_t->dim(0) != N)
        throw Error(ErrorCode::kInvalidArgument, "sequence_lens must have shape [" + std::to_string(N) + "]");
      for (int64_t v : to_int64_vector(*seq_t)) {
        if (v < 0 || v > T)
          throw Error(ErrorCode::kInvalidArgument, "sequence_lens value " + std::to_string(v) + " is outside [0, " +
                                                       std::to_string(T) + "]");
        seq.push_back(static_cast<int32_t>(v));
      }
    }
    checked_numel({T, D, N, H}, "Y");
    const Shape y_shape = a_.layout ? Shape{N, T, D, H} : Shape{T, D, N, H};
    const bool want_y = ctx.wants_output(0), want_h = ctx.wants_output(1), want_c = lstm && ctx.wants_output(2);
    Tensor y(DataType::kFloat, want_y ? y_shape : Shape{0});
    Tensor yh(DataType::kFloat, state), yc(DataType::kFloat, state);

    bool uniform = true;
    for (int32_t v : seq) uniform = uniform && v == T;
    const Tensor x = du::as_float(x_in);
    // Small-batch LSTMs run Pier's matrix-vector loop: oneDNN's RNN
    // primitives are built for wide batches and are several times slower
    // on one sequence (especially on one thread).
    // oneDNN faults (SIGFPE) on an empty input size; the reference loop
    // handles I == 0 (the input product is then zero).
    const bool dnnl_shape = T > 0 && N > 0 && H > 0 && I > 0;
    const bool small_lstm = lstm && dnnl_ok_ && uniform && dnnl_shape && N <= rnn::kSmallBatch;
    if (dnnl_ok_ && uniform && dnnl_shape && !small_lstm) {
      run_dnnl(ctx, x, T, N, I, H, b_t, h0_t, c0_t, p_t, y, yh, yc, want_y);
    } else {
      run_reference(ctx, x, T, N, I, H, b_t, seq.empty() ? nullptr : seq.data(), h0_t, c0_t, p_t, y, yh, yc, want_y,
                    small_lstm);
    }
    if (want_y) ctx.allocate(0, dtype, y_shape) = du::from_float(y, dtype);
    if (want_h) ctx.allocate(1, dtype, state) = du::from_float(yh, dtype);
    if (want_c) ctx.allocate(2, dtype, state) = du::from_float(yc, dtype);
  }

 private:
  int onnx_gate(int g) const {
    static const int kLstm[4] = {0, 2, 3, 1};  // oneDNN i,f,c,o <- ONNX i,o,f,c
    return a_.cell == Cell::kLstm ? kLstm[g] : g;
  }

  dnnl::memory::desc ldigo_md(int64_t in, int64_t H) const {
    return du::plain_md(du::dims{1, a_.dirs(), in, a_.gates(), H}, du::dt::f32);
  }

  // ONNX [D, G*H, in] -> oneDNN ldigo [1, D, in, G, H] in oneDNN gate order.
  Tensor to_ldigo(const Tensor& w, int64_t in, int64_t H) const {
    const int64_t D = a_.dirs(), G = a_.gates();
    Tensor out(DataType::kFloat, {1, D, in, G, H});
    const float* s = static_cast<const float*>(w.raw());
    float* o = static_cast<float*>(out.raw());
    for (int64_t d = 0; d < D; ++d)
      for (int64_t g = 0; g < G; ++g) {
        const float* src = s + (d * G + onnx_gate(static_cast<int>(g))) * H * in;
        for (int64_t h = 0; h < H; ++h)
          for (int64_t i = 0; i < in; ++i) o[((d * in + i) * G + g) * H + h] = src[h * in + i];
      }
    return out;
  }

  std::shared_ptr<const RnnEntry> entry(int64_t T, int64_t N, int64_t I, int64_t H, bool h0, bool c0, bool peep,
                                        int threads) const {
    return cache_.get({threads, T, N, I, H, h0, c0, peep}, [&] { return build(T, N, I, H, h0, c0, peep); });
  }

  RnnEntry build(int64_t T, int64_t N, int64_t I, int64_t H, bool h0, bool c0, bool peep) const {
    const int64_t D = a_.dirs(), G = a_.gates();
    RnnEntry e;
    const auto f32 = du::dt::f32;
    e.src_layer = dnnl::memory::desc({T, N, I}, f32, a_.layout ? du::tag::ntc : du::tag::tnc);
    e.dst_layer = dnnl::memory::desc({T, N, D * H}, f32, a_.layout ? du::tag::ntc : du::tag::tnc);
    e.iter = dnnl::memory::desc({1, D, N, H}, f32, du::tag::ldnc);
    const dnnl::memory::desc none;
    const auto wl = dnnl::memory::desc({1, D, I, G, H}, f32, du::tag::any);
    const auto wi = dnnl::memory::desc({1, D, H, G, H}, f32, du::tag::any);
    const bool lbr = a_.cell == Cell::kGru && a_.linear_before_reset;
    const auto bias = dnnl::memory::desc({1, D, G + (lbr ? 1 : 0), H}, f32, du::tag::ldgo);
    const auto pmd = peep ? dnnl::memory::desc({1, D, 3, H}, f32, du::tag::ldgo) : none;
    const auto dir = a_.direction == rnn::Direction::kForward   ? dnnl::rnn_direction::unidirectional_left2right
                     : a_.direction == rnn::Direction::kReverse ? dnnl::rnn_direction::unidirectional_right2left
                                                                : dnnl::rnn_direction::bidirectional_concat;
    const auto fwd = dnnl::prop_kind::forward_inference;
    const auto src_iter = h0 ? e.iter : none;
    const auto at = du::attr();
    e.pd = du::create_pd("a recurrent primitive", [&]() -> dnnl::primitive_desc {
      if (a_.cell == Cell::kLstm) {
        dnnl::lstm_forward::desc d(fwd, dir, e.src_layer, src_iter, c0 ? e.iter : none, wl, wi, pmd, bias, e.dst_layer,
                                   e.iter, e.iter);
        return dnnl::lstm_forward::primitive_desc(d, at, du::engine());
      }
      if (a_.cell == Cell::kGru) {
        if (lbr) {
          dnnl::lbr_gru_forward::desc d(fwd, dir, e.src_layer, src_iter, wl, wi, bias, e.dst_layer, e.iter);
          return dnnl::lbr_gru_forward::primitive_desc(d, at, du::engine());
        }
        dnnl::gru_forward::desc d(fwd, dir, e.src_layer, src_iter, wl, wi, bias, e.dst_layer, e.iter);
        return dnnl::gru_forward::primitive_desc(d, at, du::engine());
      }
      const auto k = a_.act(0, 0).kind;
      const auto alg = k == rnn::Activation::Kind::kRelu      ? dnnl::algorithm::eltwise_relu
                       : k == rnn::Activation::Kind::kSigmoid ? dnnl::algorithm::eltwise_logistic
                                                              : dnnl::algorithm::eltwise_tanh;
      dnnl::vanilla_rnn_forward::desc d(fwd, alg, dir, e.src_layer, src_iter, wl, wi, bias, e.dst_layer, e.iter);
      return dnnl::vanilla_rnn_forward::primitive_desc(d, at, du::engine());
    });
    e.prim = dnnl::primitive(e.pd);
    e.w_layer = e.pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_LAYER);
    e.w_iter = e.pd.query_md(dnnl::query::exec_arg_md, DNNL_ARG_WEIGHTS_ITER);
    e.bias = bias;
    e.peephole = pmd;
    return e;
  }

  // oneDNN bias [1, D, G(+1), H]: Wb + Rb per gate; lbr_gru keeps the
  // candidate's recurrent bias as a fourth gate.
  Tensor dnnl_bias(const Tensor* b, int64_t H) const {
    const int64_t D = a_.dirs(), G = a_.gates();
    const bool lbr = a_.cell == Cell::kGru && a_.linear_before_reset;
    const int64_t GB = G + (lbr ? 1 : 0);
    Tensor out = Tensor::zeros(DataType::kFloat, {1, D, GB, H});
    if (!b) return out;
    const Tensor bf = du::as_float(*b);
    const float* s = static_cast<const float*>(bf.raw());
    float* o = static_cast<float*>(out.raw());
    for (int64_t d = 0; d < D; ++d) {
      const float* wb = s + d * 2 * G * H;
      const float* rb = wb + G * H;
      for (int64_t g = 0; g < G; ++g) {
        const int64_t og = onnx_gate(static_cast<int>(g));
        for (int64_t h = 0; h < H; ++h)
          o[(d * GB + g) * H + h] = wb[og * H + h] + (lbr && g == 2 ? 0.f : rb[og * H + h]);
      }
      if (lbr)
        for (int64_t h = 0; h < H; ++h) o[(d * GB + 3) * H + h] = rb[2 * H + h];
    }
    return out;
  }

  void run_dnnl(KernelContext& ctx, const Tensor& x, int64_t T, int64_t N, int64_t I, int64_t H, const Tensor* b,
                const Tensor* h0, const Tensor* c0, const Tensor* p, Tensor& y, Tensor& yh, Tensor& yc,
                bool want_y) const {
    const int64_t D = a_.dirs();
    du::ThreadScope ts(ctx.threads());
    const bool lstm_states = a_.cell == Cell::kLstm && (h0 || c0);
    auto e = entry(T, N, I, H, h0 || lstm_states, lstm_states, p != nullptr, ctx.threads());
    du::TempBuffer wl_buf, wi_buf, dst_buf;
    auto weights = [&](const du::PackedWeights& packed, const du::ConstantInput& c, const Tensor& in, int64_t rows,
                       const dnnl::memory::desc& want, du::TempBuffer& buf) {
      if (packed.has_source() && c.matches(in)) return packed.get(want);
      const Tensor plain = to_ldigo(du::as_float(in), rows, H);
      dnnl::memory m = du::temp_memory(want, buf);
      du::reorder(du::wrap(ldigo_md(rows, H), plain.raw()), m);
      return m;
    };
    du::Args args;
    args.emplace(DNNL_ARG_WEIGHTS_LAYER, weights(w_layer_, w_, ctx.input(1), I, e->w_layer, wl_buf));
    args.emplace(DNNL_ARG_WEIGHTS_ITER, weights(w_iter_, r_, ctx.input(2), H, e->w_iter, wi_buf));
    const Tensor bias = dnnl_bias(b, H);
    args.emplace(DNNL_ARG_BIAS, du::wrap(e->bias, bias.raw()));
    Tensor peep;
    if (p) {
      // oneDNN peepholes [1, D, 3, H] in i, f, o order; ONNX P is i, o, f.
      const Tensor pf = du::as_float(*p);
      peep = Tensor(DataType::kFloat, {1, D, 3, H});
      static const int kFrom[3] = {0, 2, 1};
      for (int64_t d = 0; d < D; ++d)
        for (int g = 0; g < 3; ++g)
          std::memcpy(static_cast<float*>(peep.raw()) + (d * 3 + g) * H,
                      static_cast<const float*>(pf.raw()) + (d * 3 + kFrom[g]) * H, H * sizeof(float));
      args.emplace(DNNL_ARG_WEIGHTS_PEEPHOLE, du::wrap(e->peephole, peep.raw()));
    }
    args.emplace(DNNL_ARG_SRC_LAYER, du::wrap(e->src_layer, x.raw()));
    // States: ONNX layout 0 is oneDNN's ldnc; layout 1 ([N, D, H]) is permuted.
    auto state_in = [&](const Tensor* t, Tensor& holder) {
      holder = du::as_float(*t);
      if (a_.layout) {
        Tensor tmp(DataType::kFloat, {D, N, H});
        permute(static_cast<const float*>(holder.raw()), {N, D, H}, {1, 0, 2}, static_cast<float*>(tmp.raw()));
        holder = tmp;
      }
      return du::wrap(e->iter, holder.raw());
    };
    // oneDNN's LSTM takes both initial states or neither: a missing one is zero.
    const Tensor zero = (h0 != nullptr) != (c0 != nullptr) ? Tensor::zeros(DataType::kFloat, {D, N, H}) : Tensor();
    Tensor h0f, c0f;
    if (h0) args.emplace(DNNL_ARG_SRC_ITER, state_in(h0, h0f));
    else if (c0) args.emplace(DNNL_ARG_SRC_ITER, du::wrap(e->iter, zero.raw()));
    if (c0) args.emplace(DNNL_ARG_SRC_ITER_C, state_in(c0, c0f));
    else if (h0 && a_.cell == Cell::kLstm) args.emplace(DNNL_ARG_SRC_ITER_C, du::wrap(e->iter, zero.raw()));
    Tensor hn(DataType::kFloat, {D, N, H}), cn(DataType::kFloat, {D, N, H});
    args.emplace(DNNL_ARG_DST_ITER, du::wrap(e->iter, hn.raw()));
    if (a_.cell == Cell::kLstm) args.emplace(DNNL_ARG_DST_ITER_C, du::wrap(e->iter, cn.raw()));
    // Y: layout 1 and unidirectional layout 0 match oneDNN's dst_layer.
    const bool direct_y = want_y && (a_.layout == 1 || D == 1);
    void* dst = direct_y ? y.raw() : (dst_buf = du::TempBuffer(e->dst_layer.get_size())).data();
    args.emplace(DNNL_ARG_DST_LAYER, du::wrap(e->dst_layer, dst));
    du::run(e->prim, e->pd, std::move(args));
    if (want_y && !direct_y)  // [T, N, D, H] -> [T, D, N, H]
      permute(static_cast<const float*>(dst), {T, N, D, H}, {0, 2, 1, 3}, static_cast<float*>(y.raw()));
    state_out(hn, yh, N, H);
    state_out(cn, yc, N, H);
  }

  void state_out(const Tensor& s, Tensor& out, int64_t N, int64_t H) const {
    if (a_.layout)
      permute(static_cast<const float*>(s.raw()), {a_.dirs(), N, H}, {1, 0, 2}, static_cast<float*>(out.raw()));
    else
      std::memcpy(out.raw(), s.raw(), s.nbytes());
  }

  void run_reference(KernelContext& ctx, const Tensor& x, int64_t T, int64_t N, int64_t I, int64_t H, const Tensor* b,
                     const int32_t* seq, const Tensor* h0, const Tensor* c0, const Tensor* p, Tensor& y, Tensor& yh,
                     Tensor& yc, bool want_y, bool small_lstm) const {
    const int64_t D = a_.dirs();
    du::ThreadScope ts(ctx.threads());
    rnn::Attrs a = a_;
    a.hidden = H;
    Tensor xs = x;
    if (a_.layout) {
      xs = Tensor(DataType::kFloat, {T, N, I});
      permute(static_cast<const float*>(x.raw()), {N, T, I}, {1, 0, 2}, static_cast<float*>(xs.raw()));
    }
    auto state = [&](const Tensor* t) {
      if (!t) return Tensor();
      Tensor f = du::as_float(*t);
      if (!a_.layout) return f;
      Tensor o(DataType::kFloat, {D, N, H});
      permute(static_cast<const float*>(f.raw()), {N, D, H}, {1, 0, 2}, static_cast<float*>(o.raw()));
      return o;
    };
    const Tensor w = du::as_float(ctx.input(1)), r = du::as_float(ctx.input(2));
    const Tensor bf = b ? du::as_float(*b) : Tensor(), pf = p ? du::as_float(*p) : Tensor();
    const Tensor h0f = state(h0), c0f = state(c0);
    Tensor y0 = want_y ? Tensor(DataType::kFloat, {T, D, N, H}) : Tensor();
    Tensor hn(DataType::kFloat, {D, N, H}), cn(DataType::kFloat, {D, N, H});
    rnn::Inputs in;
    in.T = T;
    in.N = N;
    in.I = I;
    in.x = static_cast<const float*>(xs.raw());
    in.w = static_cast<const float*>(w.raw());
    in.r = static_cast<const float*>(r.raw());
    in.b = b ? static_cast<const float*>(bf.raw()) : nullptr;
    in.seq = seq;
    in.h0 = h0 ? static_cast<const float*>(h0f.raw()) : nullptr;
    in.c0 = c0 ? static_cast<const float*>(c0f.raw()) : nullptr;
    in.p = p ? static_cast<const float*>(pf.raw()) : nullptr;
    rnn::Outputs out{want_y ? static_cast<float*>(y0.raw()) : nullptr, static_cast<float*>(hn.raw()),
                     static_cast<float*>(cn.raw())};
    if (small_lstm) {
      const bool packed = rt_.defined() && r_.matches(ctx.input(2));
      Tensor rt;
      if (!packed) rt = rnn::pack_recurrent_lstm(static_cast<const float*>(r.raw()), D, H);
      const bool w_packed = xw_w_[0].has_source() && w_.matches(ctx.input(1));
      const int threads = ctx.threads();
      const int64_t M = T * N, GH = 4 * H;
      auto product = [&](int64_t d, float* xw) {
        auto e = xw_cache_.get({threads, M, I, GH, w_packed}, [&] {
          XwEntry x;
          const auto wmd = w_packed ? dnnl::memory::desc({I, GH}, du::dt::f32, du::tag::any)
                                    : du::strided_md({I, GH}, du::dt::f32, {1, I});
          x.pd = du::create_pd("LSTM input product", [&] {
            dnnl::matmul::desc md(du::plain_md({M, I}, du::dt::f32), wmd, du::plain_md({1, GH}, du::dt::f32),
                                  du::plain_md({M, GH}, du::dt::f32));
            return dnnl::matmul::primitive_desc(md, du::attr(), du::engine());
          });
          x.prim = dnnl::matmul(x.pd);
          return x;
        });
        std::vector<float> bias(static_cast<size_t>(GH), 0.f);
        if (in.b)
          for (int64_t j = 0; j < GH; ++j) bias[j] = in.b[d * 2 * GH + j] + in.b[d * 2 * GH + GH + j];
        const dnnl::memory wm = w_packed ? xw_w_[d].get(e->pd.weights_desc())
                                         : du::wrap(e->pd.weights_desc(), in.w + d * GH * I);
        du::run(e->prim, e->pd,
                {{DNNL_ARG_SRC, du::wrap(e->pd.src_desc(), in.x)}, {DNNL_ARG_WEIGHTS, wm},
                 {DNNL_ARG_BIAS, du::wrap(e->pd.bias_desc(), bias.data())},
                 {DNNL_ARG_DST, du::wrap(e->pd.dst_desc(), xw)}});
      };
      rnn::lstm_small_batch(a, packed ? rt_.data<float>() : rt.data<float>(), in, out, threads, product);
    } else {
      rnn::reference(a, in, out);
    }
    if (want_y) {
      if (a_.layout)  // [T, D, N, H] -> [N, T, D, H]
        permute(static_cast<const float*>(y0.raw()), {T, D, N, H}, {2, 0, 1, 3}, static_cast<float*>(y.raw()));
      else
        std::memcpy(y.raw(), y0.raw(), y0.nbytes());
    }
    state_out(hn, yh, N, H);
    state_out(cn, yc, N, H);
  }

  rnn::Attrs a_;
  bool dnnl_ok_ = false;
  du::ConstantInput w_, r_;
  du::PackedWeights w_layer_, w_iter_;
  // Small-batch LSTM: R packed for the recurrent loop (constant R), and the
  // input product X W_d^T on a oneDNN matmul (W_d packed when constant).
  struct XwEntry {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
  };
  Tensor rt_;
  du::PackedWeights xw_w_[2];
  du::PrimitiveCache<XwEntry> xw_cache_;
  du::PrimitiveCache<RnnEntry> cache_;
};

KernelFactory make(Cell c) {
  return [c](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<RnnKernel>(init, c); };
}

}  // namespace

void register_kernels_nn_rnn(KernelRegistry& r) {
  r.add("", "RNN", 1, 6, make(Cell::kRnn));
  r.add("", "RNN", 7, 13, make(Cell::kRnn));
  r.add("", "RNN", 14, kOpenEnded, make(Cell::kRnn));
  r.add("", "GRU", 1, 2, make(Cell::kGru));
  r.add("", "GRU", 3, 6, make(Cell::kGru));
  r.add("", "GRU", 7, 13, make(Cell::kGru));
  r.add("", "GRU", 14, kOpenEnded, make(Cell::kGru));
  r.add("", "LSTM", 1, 6, make(Cell::kLstm));
  r.add("", "LSTM", 7, 13, make(Cell::kLstm));
  r.add("", "LSTM", 14, kOpenEnded, make(Cell::kLstm));
}

}  // namespace pier::kernels
