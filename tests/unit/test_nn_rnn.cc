// RNN, GRU and LSTM against a naive reference written from the ONNX
// equations. Default cells run on oneDNN; custom activations, clip,
// input_forget and ragged sequence_lens run on the kernel's own reference
// path; both are checked here.
#include <cmath>
#include <functional>

#include "test_nn_ref.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

struct Spec {
  std::string op = "LSTM";
  std::string direction = "forward";
  int64_t hidden = 3;
  std::vector<std::string> acts;  // empty: defaults
  std::vector<float> alphas, betas;
  float clip = 0.f;
  int64_t lbr = 0, input_forget = 0, layout = 0;
  bool bias = true, h0 = false, c0 = false, peep = false, seq = false;
};

struct Data {
  int64_t T, N, I;
  Tensor x, w, r, b, seq, h0, c0, p;
};

int gates(const std::string& op) { return op == "RNN" ? 1 : op == "GRU" ? 3 : 4; }
int dirs(const Spec& s) { return s.direction == "bidirectional" ? 2 : 1; }

Data make_data(const Spec& s, int64_t T, int64_t N, int64_t I, uint32_t seed, std::vector<int32_t> lens = {}) {
  const int64_t D = dirs(s), G = gates(s.op), H = s.hidden;
  Data d{T, N, I, {}, {}, {}, {}, {}, {}, {}, {}};
  d.x = random_float(s.layout ? V{N, T, I} : V{T, N, I}, seed);
  d.w = random_float({D, G * H, I}, seed + 1, -0.6f, 0.6f);
  d.r = random_float({D, G * H, H}, seed + 2, -0.6f, 0.6f);
  if (s.bias) d.b = random_float({D, 2 * G * H}, seed + 3, -0.5f, 0.5f);
  const V state = s.layout ? V{N, D, H} : V{D, N, H};
  if (s.h0) d.h0 = random_float(state, seed + 4);
  if (s.c0) d.c0 = random_float(state, seed + 5);
  if (s.peep) d.p = random_float({D, 3 * H}, seed + 6, -0.5f, 0.5f);
  if (s.seq) d.seq = Tensor::from_vector(lens, {N});
  return d;
}

double act(const std::string& name, double x, double alpha, double beta) {
  if (name == "Sigmoid") return 1 / (1 + std::exp(-x));
  if (name == "Tanh") return std::tanh(x);
  if (name == "Relu") return std::max(0.0, x);
  if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
  if (name == "HardSigmoid") return std::max(0.0, std::min(1.0, alpha * x + beta));
  if (name == "Affine") return alpha * x + beta;
  if (name == "Softsign") return x / (1 + std::fabs(x));
  if (name == "Elu") return x >= 0 ? x : alpha * (std::exp(x) - 1);
  ADD_FAILURE() << "unknown activation " << name;
  return 0;
}

// Returns {Y, Y_h, Y_c} in the spec's layout.
std::vector<Tensor> rnn_ref(const Spec& s, const Data& d) {
  const int64_t T = d.T, N = d.N, I = d.I, H = s.hidden, D = dirs(s), G = gates(s.op);
  const bool gru = s.op == "GRU";
  // Activation functions per direction (with alpha/beta consumed in order by
  // the functions that take them).
  std::vector<std::string> names = s.acts;
  if (names.empty())
    for (int64_t k = 0; k < D; ++k) {
      if (s.op == "RNN") names.push_back("Tanh");
      else if (gru) names.insert(names.end(), {"Sigmoid", "Tanh"});
      else names.insert(names.end(), {"Sigmoid", "Tanh", "Tanh"});
    }
  std::vector<std::function<double(double)>> fn;
  size_t ai = 0, bi = 0;
  for (const auto& n : names) {
    double al = n == "LeakyRelu" ? 0.01 : n == "HardSigmoid" ? 0.2 : 1.0, be = n == "HardSigmoid" ? 0.5 : 0.0;
    if ((n == "LeakyRelu" || n == "HardSigmoid" || n == "Affine" || n == "Elu") && ai < s.alphas.size())
      al = s.alphas[ai++];
    if ((n == "HardSigmoid" || n == "Affine") && bi < s.betas.size()) be = s.betas[bi++];
    fn.push_back([n, al, be](double v) { return act(n, v, al, be); });
  }
  const int nf = static_cast<int>(names.size() / D);
  auto X = to_floats(d.x), W = to_floats(d.w), R = to_floats(d.r);
  auto B = d.b.defined() ? to_floats(d.b) : std::vector<float>(D * 2 * G * H, 0.f);
  auto P = d.p.defined() ? to_floats(d.p) : std::vector<float>(D * 3 * H, 0.f);
  auto x_at = [&](int64_t t, int64_t n, int64_t i) { return double(X[(s.layout ? n * T + t : t * N + n) * I + i]); };
  auto st_at = [&](const Tensor& st, int64_t dd, int64_t n, int64_t j) {
    if (!st.defined()) return 0.0;
    return double(to_floats(st)[(s.layout ? n * D + dd : dd * N + n) * H + j]);
  };
  auto clip = [&](double v) { return s.clip > 0 ? std::max<double>(-s.clip, std::min<double>(s.clip, v)) : v; };
  std::vector<float> Y(T * D * N * H, 0.f), YH(D * N * H), YC(D * N * H);
  auto y_idx = [&](int64_t t, int64_t dd, int64_t n) { return (s.layout ? (n * T + t) * D + dd : (t * D + dd) * N + n) * H; };
  auto s_idx = [&](int64_t dd, int64_t n) { return (s.layout ? n * D + dd : dd * N + n) * H; };
  for (int64_t dd = 0; dd < D; ++dd) {
    const bool rev = s.direction == "reverse" || dd == 1;
    auto& f = fn[dd * nf];
    auto& g = fn[dd * nf + (nf > 1 ? 1 : 0)];
    auto& hfn = fn[dd * nf + (nf > 2 ? 2 : 0)];
    for (int64_t n = 0; n < N; ++n) {
      const int64_t len = d.seq.defined() ? d.seq.data<int32_t>()[n] : T;
      std::vector<double> h(H), c(H);
      for (int64_t j = 0; j < H; ++j) {
        h[j] = st_at(d.h0, dd, n, j);
        c[j] = st_at(d.c0, dd, n, j);
      }
      for (int64_t step = 0; step < len; ++step) {
        const int64_t t = rev ? len - 1 - step : step;
        // xw[gate*H + j] = x W^T + Wb ; hr = h R^T + Rb
        std::vector<double> xw(G * H), hr(G * H);
        for (int64_t k = 0; k < G * H; ++k) {
          xw[k] = B[dd * 2 * G * H + k];
          hr[k] = B[dd * 2 * G * H + G * H + k];
          for (int64_t i = 0; i < I; ++i) xw[k] += x_at(t, n, i) * W[(dd * G * H + k) * I + i];
          for (int64_t j = 0; j < H; ++j) hr[k] += h[j] * R[(dd * G * H + k) * H + j];
        }
        std::vector<double> hn(H);
        if (s.op == "RNN") {
          for (int64_t j = 0; j < H; ++j) hn[j] = f(clip(xw[j] + hr[j]));
        } else if (gru) {
          std::vector<double> z(H), rr(H);
          for (int64_t j = 0; j < H; ++j) {
            z[j] = f(clip(xw[j] + hr[j]));
            rr[j] = f(clip(xw[H + j] + hr[H + j]));
          }
          for (int64_t j = 0; j < H; ++j) {
            double lin;
            if (s.lbr) {
              lin = rr[j] * hr[2 * H + j];
            } else {
              lin = B[dd * 2 * G * H + G * H + 2 * H + j];
              for (int64_t k = 0; k < H; ++k) lin += rr[k] * h[k] * R[(dd * G * H + 2 * H + j) * H + k];
            }
            const double cand = g(clip(xw[2 * H + j] + lin));
            hn[j] = (1 - z[j]) * cand + z[j] * h[j];
          }
        } else {
          const float* pp = P.data() + dd * 3 * H;
          for (int64_t j = 0; j < H; ++j) {
            const double ig = f(clip(xw[j] + hr[j] + pp[j] * c[j]));
            const double fg = s.input_forget ? 1 - ig : f(clip(xw[2 * H + j] + hr[2 * H + j] + pp[2 * H + j] * c[j]));
            const double cand = g(clip(xw[3 * H + j] + hr[3 * H + j]));
            c[j] = fg * c[j] + ig * cand;
            const double og = f(clip(xw[H + j] + hr[H + j] + pp[H + j] * c[j]));
            hn[j] = og * hfn(c[j]);
          }
        }
        h = hn;
        for (int64_t j = 0; j < H; ++j) Y[y_idx(t, dd, n) + j] = static_cast<float>(h[j]);
      }
      for (int64_t j = 0; j < H; ++j) {
        YH[s_idx(dd, n) + j] = static_cast<float>(h[j]);
        YC[s_idx(dd, n) + j] = static_cast<float>(c[j]);
      }
    }
  }
  const V state = s.layout ? V{N, D, H} : V{D, N, H};
  return {Tensor::from_vector(Y, s.layout ? V{N, T, D, H} : V{T, D, N, H}), Tensor::from_vector(YH, state),
          Tensor::from_vector(YC, state)};
}

std::vector<onnx::AttributeProto> rnn_attrs(const Spec& s) {
  std::vector<onnx::AttributeProto> a{attr("hidden_size", s.hidden), attr("direction", s.direction)};
  if (!s.acts.empty()) a.push_back(attr("activations", s.acts));
  if (!s.alphas.empty()) a.push_back(attr("activation_alpha", s.alphas));
  if (!s.betas.empty()) a.push_back(attr("activation_beta", s.betas));
  if (s.clip > 0) a.push_back(attr("clip", s.clip));
  if (s.op == "GRU") a.push_back(attr("linear_before_reset", s.lbr));
  if (s.op == "LSTM" && s.input_forget) a.push_back(attr("input_forget", s.input_forget));
  if (s.layout) a.push_back(attr("layout", s.layout));
  return a;
}

// Runs the op with weights as initializers (const) or graph inputs.
std::vector<Tensor> run_rnn(const Spec& s, const Data& d, bool const_weights, int threads = 1) {
  ModelBuilder mb(14);
  mb.input("x", DataType::kFloat, d.x.shape());
  std::vector<std::string> ins{"x", "w", "r", s.bias ? "b" : "", s.seq ? "seq" : "", s.h0 ? "h0" : ""};
  if (s.op == "LSTM") ins.insert(ins.end(), {s.c0 ? "c0" : "", s.peep ? "p" : ""});
  while (!ins.empty() && ins.back().empty()) ins.pop_back();
  std::vector<Value> feeds{Value(d.x)};
  auto add = [&](const std::string& name, const Tensor& t, bool weight) {
    if (!t.defined()) return;
    if (weight && const_weights) {
      mb.initializer(name, t);
    } else {
      mb.input(name, t.dtype(), t.shape());
      feeds.emplace_back(t);
    }
  };
  add("w", d.w, true);
  add("r", d.r, true);
  add("b", d.b, true);
  add("seq", d.seq, false);
  add("h0", d.h0, false);
  add("c0", d.c0, false);
  add("p", d.p, true);
  std::vector<std::string> outs{"y", "yh"};
  if (s.op == "LSTM") outs.push_back("yc");
  mb.node(s.op, ins, outs, rnn_attrs(s));
  for (const auto& o : outs) mb.output(o, DataType::kFloat);
  auto sess = mb.session(threads);
  std::vector<Tensor> result;
  for (auto& v : sess->run(feeds)) result.push_back(v.tensor());
  return result;
}

void check(const Spec& s, int64_t T, int64_t N, int64_t I, uint32_t seed, std::vector<int32_t> lens = {},
           int threads = 1) {
  Data d = make_data(s, T, N, I, seed, lens);
  auto want = rnn_ref(s, d);
  for (bool cw : {false, true}) {
    auto got = run_rnn(s, d, cw, threads);
    const std::string what = s.op + " " + s.direction + " layout " + std::to_string(s.layout) + (cw ? " const" : "");
    EXPECT_TRUE(tensors_near(got[0], want[0], 1e-4, 1e-5)) << what << " Y";
    EXPECT_TRUE(tensors_near(got[1], want[1], 1e-4, 1e-5)) << what << " Y_h";
    if (s.op == "LSTM") {
      EXPECT_TRUE(tensors_near(got[2], want[2], 1e-4, 1e-5)) << what << " Y_c";
    }
  }
}

}  // namespace

TEST(NnRnn, VanillaOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    Spec s;
    s.op = "RNN";
    s.direction = dir;
    s.hidden = 5;
    s.h0 = true;
    check(s, 4, 3, 6, 1);
    s.layout = 1;
    check(s, 4, 3, 6, 2);
  }
  Spec relu;
  relu.op = "RNN";
  relu.direction = "bidirectional";
  relu.acts = {"Relu", "Relu"};
  relu.bias = false;
  check(relu, 3, 2, 4, 3);
}

TEST(NnRnn, VanillaReferencePath) {
  Spec s;
  s.op = "RNN";
  s.direction = "bidirectional";
  s.acts = {"LeakyRelu", "HardSigmoid"};
  s.alphas = {0.2f, 0.3f};
  s.betas = {0.4f};
  s.h0 = true;
  check(s, 5, 2, 3, 10);
  Spec c;
  c.op = "RNN";
  c.clip = 0.5f;
  c.layout = 1;
  check(c, 4, 3, 2, 11);
}

TEST(NnGru, DefaultCellsOnOneDnn) {
  for (int64_t lbr : {0, 1})
    for (const char* dir : {"forward", "reverse", "bidirectional"}) {
      Spec s;
      s.op = "GRU";
      s.direction = dir;
      s.lbr = lbr;
      s.hidden = 4;
      s.h0 = lbr == 1;
      check(s, 5, 3, 3, 20 + static_cast<uint32_t>(lbr));
      s.layout = 1;
      check(s, 3, 2, 5, 22);
    }
}

TEST(NnGru, ReferencePathClipActivationsRaggedLengths) {
  Spec s;
  s.op = "GRU";
  s.clip = 0.3f;
  s.h0 = true;
  check(s, 4, 2, 3, 30);
  Spec a;
  a.op = "GRU";
  a.direction = "bidirectional";
  a.acts = {"HardSigmoid", "Softsign", "Sigmoid", "Elu"};
  a.alphas = {0.3f, 0.7f};
  a.betas = {0.4f};
  a.lbr = 1;
  check(a, 3, 2, 4, 31);
  Spec r;
  r.op = "GRU";
  r.direction = "bidirectional";
  r.seq = true;
  r.h0 = true;
  check(r, 5, 3, 2, 32, {5, 2, 0});
  r.layout = 1;
  r.lbr = 1;
  check(r, 4, 3, 2, 33, {1, 4, 3});
}

TEST(NnLstm, DefaultCellsOnOneDnn) {
  for (const char* dir : {"forward", "reverse", "bidirectional"}) {
    Spec s;
    s.direction = dir;
    s.hidden = 6;
    s.h0 = s.c0 = true;
    check(s, 4, 2, 5, 40);
    s.peep = true;
    check(s, 3, 3, 2, 41);
    s.layout = 1;
    s.h0 = false;
    check(s, 3, 2, 4, 42);
  }
  Spec uniform;  // sequence_lens all equal to the sequence length: oneDNN
  uniform.seq = true;
  check(uniform, 3, 2, 2, 43, {3, 3});
}

// Up to 4 sequences run Pier's packed matrix-vector LSTM; more run oneDNN.
// Hidden sizes that are not a multiple of the 16-unit blocks, several
// blocks per thread, peepholes, both directions and two threads.
TEST(NnLstm, SmallBatchPathAndWideBatch) {
  for (const char* dir : {"forward", "reverse", "bidirectional"})
    for (int64_t hidden : {5, 37, 160}) {
      Spec s;
      s.direction = dir;
      s.hidden = hidden;
      s.h0 = s.c0 = true;
      s.peep = hidden != 160;
      check(s, 5, 1, 7, 44, {}, 1);
      check(s, 4, 3, 6, 45, {}, 2);
      s.layout = 1;
      check(s, 3, 2, 5, 46, {}, 2);
    }
  Spec wide;  // oneDNN's primitive
  wide.hidden = 20;
  wide.direction = "bidirectional";
  wide.h0 = wide.c0 = true;
  check(wide, 4, 6, 5, 47, {}, 1);
  check(wide, 4, 6, 5, 47, {}, 2);
}

TEST(NnLstm, ReferencePath) {
  Spec f;
  f.input_forget = 1;
  f.peep = true;
  f.c0 = true;
  check(f, 4, 2, 3, 50);
  Spec c;
  c.direction = "bidirectional";
  c.clip = 0.4f;
  c.peep = true;
  check(c, 3, 2, 3, 51);
  Spec a;
  a.acts = {"HardSigmoid", "Affine", "Softsign"};
  a.alphas = {0.25f, 0.5f};
  a.betas = {0.5f, 0.1f};
  check(a, 3, 1, 2, 52);
  Spec r;
  r.direction = "bidirectional";
  r.seq = true;
  r.h0 = r.c0 = true;
  r.layout = 1;
  check(r, 4, 3, 2, 53, {2, 4, 1});
}

TEST(NnLstm, OptionalOutputsAndDouble) {
  Spec s;
  Data d = make_data(s, 3, 2, 2, 60);
  auto want = rnn_ref(s, d);
  // Only Y requested.
  auto got = run_node("LSTM", {d.x, d.w, d.r, d.b}, {DataType::kFloat}, {attr("hidden_size", int64_t{3})}, 14);
  EXPECT_TRUE(tensors_near(got[0].tensor(), want[0], 1e-4, 1e-5));
  auto dbl = run_node("LSTM",
                      {cast_to(d.x, DataType::kDouble), cast_to(d.w, DataType::kDouble),
                       cast_to(d.r, DataType::kDouble), cast_to(d.b, DataType::kDouble)},
                      {DataType::kDouble, DataType::kDouble}, {attr("hidden_size", int64_t{3})}, 14);
  EXPECT_TRUE(tensors_near(dbl[1].tensor(), cast_to(want[1], DataType::kDouble), 1e-4, 1e-5));
}

TEST(NnRnn, BadInputsAreErrors) {
  Spec s;
  Data d = make_data(s, 3, 2, 2, 70);
  EXPECT_THROW(run_node("LSTM", {d.x, random_float({1, 12, 3}, 1), d.r}, {DataType::kFloat},
                        {attr("hidden_size", int64_t{3})}, 14),
               Error);
  ModelBuilder mb(14);
  mb.input("x", DataType::kFloat, d.x.shape()).initializer("w", d.w).initializer("r", d.r);
  mb.input("seq", DataType::kInt32, {2});
  mb.node("LSTM", {"x", "w", "r", "", "seq"}, {"y"}, {attr("hidden_size", int64_t{3})}).output("y", DataType::kFloat);
  auto sess = mb.session();
  EXPECT_THROW(sess->run({Value(d.x), Value(make<int32_t>({2}, {4, 1}))}), Error);  // longer than the sequence
  EXPECT_THROW(run_node("GRU", {d.x, random_float({1, 9, 2}, 2), random_float({1, 9, 3}, 3)}, {DataType::kFloat},
                        {attr("hidden_size", int64_t{3}), attr("activations", std::vector<std::string>{"Nope", "Tanh"})},
                        14),
               Error);
}
