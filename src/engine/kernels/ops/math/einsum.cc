// Einsum (opset 12): explicit or implicit output, ellipsis (broadcast,
// right-aligned), repeated labels within a term (diagonals), sums over
// labels that do not reach the output, and pairwise contraction of the
// operands left to right as batched matrix products:
//   A -> [batch, M, K], B -> [batch, K, N] (transposed copies), C = A x B.
// Labels that only one operand still needs are summed out before each
// contraction. Size-1 dims broadcast against other sizes as in numpy.
// Computation is in float (float, float16), double, int64 or uint64.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <type_traits>
#include <vector>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

constexpr int kEllipsisBase = 1000;  // label ids of ellipsis dims: 1000 + k

struct Term {
  std::vector<int> letters;  // char codes; kEllipsisBase marks where "..." sits
  bool ellipsis = false;
};

Term parse_term(const std::string& s, const std::string& eq) {
  Term t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '.') {
      if (t.ellipsis || s.compare(i, 3, "...") != 0)
        throw Error(ErrorCode::kInvalidModel, "Einsum equation \"" + eq + "\" has a malformed ellipsis");
      t.ellipsis = true;
      t.letters.push_back(kEllipsisBase);
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(s[i]))) {
      t.letters.push_back(s[i]);
    } else {
      throw Error(ErrorCode::kInvalidModel, "Einsum equation \"" + eq + "\" has an invalid character '" +
                                                std::string(1, s[i]) + "'");
    }
  }
  return t;
}

// A dense row-major tensor of C with one label per dim.
template <typename C>
struct LT {
  std::vector<C> d;
  Shape shape;
  std::vector<int> lab;
};

// out[i] = src[sum_d idx_d * strides_d] over out_shape.
template <typename C>
std::vector<C> strided_copy(const C* src, const Shape& out_shape, const std::vector<int64_t>& strides) {
  const int64_t n = shape_numel(out_shape);
  std::vector<C> out(static_cast<size_t>(n));
  if (n == 0) return out;
  const size_t r = out_shape.size();
  if (r == 0) {
    out[0] = src[0];
    return out;
  }
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  const int64_t inner = out_shape[r - 1], st = strides[r - 1];
  for (int64_t i = 0; i < n; i += inner) {
    for (int64_t j = 0; j < inner; ++j) out[i + j] = src[off + j * st];
    for (size_t d = r - 1; d-- > 0;) {
      off += strides[d];
      if (++idx[d] < out_shape[d]) break;
      off -= strides[d] * out_shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

// Merges repeated labels into their diagonal.
template <typename C>
LT<C> diagonal(LT<C> t) {
  const std::vector<int64_t> st = strides_of(t.shape);
  std::vector<int> lab;
  Shape shape;
  std::vector<int64_t> strides;
  for (size_t i = 0; i < t.lab.size(); ++i) {
    auto it = std::find(lab.begin(), lab.end(), t.lab[i]);
    if (it == lab.end()) {
      lab.push_back(t.lab[i]);
      shape.push_back(t.shape[i]);
      strides.push_back(st[i]);
    } else {
      const size_t k = static_cast<size_t>(it - lab.begin());
      if (shape[k] != t.shape[i])
        throw Error(ErrorCode::kInvalidArgument, "Einsum: repeated label '" + std::string(1, static_cast<char>(t.lab[i])) +
                                                     "' has dims " + std::to_string(shape[k]) + " and " +
                                                     std::to_string(t.shape[i]));
      strides[k] += st[i];
    }
  }
  if (lab.size() == t.lab.size()) return t;
  return {strided_copy(t.d.data(), shape, strides), shape, lab};
}

template <typename C>
LT<C> permute(const LT<C>& t, const std::vector<size_t>& order) {
  bool identity = true;
  for (size_t i = 0; i < order.size(); ++i) identity &= order[i] == i;
  if (identity) return t;
  const std::vector<int64_t> st = strides_of(t.shape);
  LT<C> r;
  std::vector<int64_t> strides;
  for (size_t i : order) {
    r.shape.push_back(t.shape[i]);
    r.lab.push_back(t.lab[i]);
    strides.push_back(st[i]);
  }
  r.d = strided_copy(t.d.data(), r.shape, strides);
  return r;
}

// Sums out every label not in `keep`.
template <typename C>
LT<C> sum_out(const LT<C>& t, const std::set<int>& keep) {
  std::vector<size_t> order, red;
  for (size_t i = 0; i < t.lab.size(); ++i) (keep.count(t.lab[i]) ? order : red).push_back(i);
  if (red.empty()) return t;
  const size_t nk = order.size();
  order.insert(order.end(), red.begin(), red.end());
  const LT<C> p = permute(t, order);
  LT<C> r;
  r.shape.assign(p.shape.begin(), p.shape.begin() + static_cast<std::ptrdiff_t>(nk));
  r.lab.assign(p.lab.begin(), p.lab.begin() + static_cast<std::ptrdiff_t>(nk));
  const int64_t rows = shape_numel(r.shape);
  const int64_t len = rows == 0 ? 0 : static_cast<int64_t>(p.d.size()) / rows;
  r.d.assign(static_cast<size_t>(rows), C(0));
  for (int64_t i = 0; i < rows; ++i) {
    C s = C(0);
    for (int64_t j = 0; j < len; ++j) s += p.d[static_cast<size_t>(i * len + j)];
    r.d[static_cast<size_t>(i)] = s;
  }
  return r;
}

// Broadcasts dim i of t to size n (t.shape[i] must be 1).
template <typename C>
LT<C> expand(const LT<C>& t, size_t i, int64_t n) {
  std::vector<int64_t> st = strides_of(t.shape);
  LT<C> r = t;
  r.shape[i] = n;
  st[i] = 0;
  r.d = strided_copy(t.d.data(), r.shape, st);
  return r;
}

template <typename C>
LT<C> contract(LT<C> a, LT<C> b, const std::set<int>& keep, int threads) {
  // Sum labels only one side has and nobody else needs.
  std::set<int> ka = keep, kb = keep;
  ka.insert(b.lab.begin(), b.lab.end());
  kb.insert(a.lab.begin(), a.lab.end());
  a = sum_out(a, ka);
  b = sum_out(b, kb);
  std::vector<int> batch, ks, ms, ns;
  for (size_t i = 0; i < a.lab.size(); ++i) {
    const auto it = std::find(b.lab.begin(), b.lab.end(), a.lab[i]);
    if (it == b.lab.end()) {
      ms.push_back(a.lab[i]);
      continue;
    }
    const size_t j = static_cast<size_t>(it - b.lab.begin());
    if (a.shape[i] != b.shape[j]) {
      if (a.shape[i] == 1) a = expand(a, i, b.shape[j]);
      else if (b.shape[j] == 1) b = expand(b, j, a.shape[i]);
      else
        throw Error(ErrorCode::kInvalidArgument, "Einsum: dims " + std::to_string(a.shape[i]) + " and " +
                                                     std::to_string(b.shape[j]) + " of one label do not match");
    }
    (keep.count(a.lab[i]) ? batch : ks).push_back(a.lab[i]);
  }
  for (int l : b.lab)
    if (std::find(a.lab.begin(), a.lab.end(), l) == a.lab.end()) ns.push_back(l);
  auto pos = [](const LT<C>& t, int l) {
    return static_cast<size_t>(std::find(t.lab.begin(), t.lab.end(), l) - t.lab.begin());
  };
  auto size_of = [&](const LT<C>& t, const std::vector<int>& ls) {
    int64_t s = 1;
    for (int l : ls) s *= t.shape[pos(t, l)];
    return s;
  };
  std::vector<size_t> oa, ob;
  for (int l : batch) oa.push_back(pos(a, l));
  for (int l : ms) oa.push_back(pos(a, l));
  for (int l : ks) oa.push_back(pos(a, l));
  for (int l : batch) ob.push_back(pos(b, l));
  for (int l : ks) ob.push_back(pos(b, l));
  for (int l : ns) ob.push_back(pos(b, l));
  const LT<C> pa = permute(a, oa), pb = permute(b, ob);
  const int64_t B = size_of(a, batch), M = size_of(a, ms), K = size_of(a, ks), N = size_of(b, ns);
  LT<C> r;
  for (int l : batch) r.lab.push_back(l), r.shape.push_back(a.shape[pos(a, l)]);
  for (int l : ms) r.lab.push_back(l), r.shape.push_back(a.shape[pos(a, l)]);
  for (int l : ns) r.lab.push_back(l), r.shape.push_back(b.shape[pos(b, l)]);
  r.d.assign(static_cast<size_t>(B * M * N), C(0));
  const C* A = pa.d.data();
  const C* Bm = pb.d.data();
  C* R = r.d.data();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, K * N));
  parallel_for(threads, B * M, grain, [&](int64_t s, int64_t e) {
    for (int64_t bm = s; bm < e; ++bm) {
      const int64_t bi = bm / M;
      const C* arow = A + bm * K;
      const C* bmat = Bm + bi * K * N;
      C* out = R + bm * N;
      for (int64_t k = 0; k < K; ++k) {
        const C av = arow[k];
        const C* brow = bmat + k * N;
        for (int64_t n = 0; n < N; ++n) out[n] += av * brow[n];
      }
    }
  });
  return r;
}

template <typename C>
Tensor run(const std::vector<Tensor>& in, const std::vector<std::vector<int>>& labels, const std::vector<int>& out_lab,
           DataType out_type, int threads) {
  std::vector<LT<C>> ops;
  for (size_t i = 0; i < in.size(); ++i) {
    const Tensor c = cast_tensor(in[i], DataTypeOf<C>::value);
    const C* p = c.data<C>();
    ops.push_back(diagonal(LT<C>{std::vector<C>(p, p + c.numel()), c.shape(), labels[i]}));
  }
  const std::set<int> out_set(out_lab.begin(), out_lab.end());
  LT<C> acc = ops[0];
  for (size_t i = 1; i < ops.size(); ++i) {
    std::set<int> keep = out_set;
    for (size_t j = i + 1; j < ops.size(); ++j) keep.insert(ops[j].lab.begin(), ops[j].lab.end());
    acc = contract(std::move(acc), ops[i], keep, threads);
  }
  acc = sum_out(acc, out_set);
  std::vector<size_t> order;
  for (int l : out_lab) {
    const auto it = std::find(acc.lab.begin(), acc.lab.end(), l);
    if (it == acc.lab.end())
      throw Error(ErrorCode::kInvalidModel, "Einsum: output label '" + std::string(1, static_cast<char>(l)) +
                                                "' does not appear in any input");
    order.push_back(static_cast<size_t>(it - acc.lab.begin()));
  }
  acc = permute(acc, order);
  Tensor r(DataTypeOf<C>::value, acc.shape);
  std::copy(acc.d.begin(), acc.d.end(), r.data<C>());
  return cast_tensor(r, out_type);
}

class EinsumKernel final : public OpKernel {
 public:
  explicit EinsumKernel(const KernelInit& init) {
    std::string eq;
    for (char c : init.node.attr_string("equation", "")) {
      if (!std::isspace(static_cast<unsigned char>(c))) eq.push_back(c);
    }
    eq_ = eq;
    const size_t arrow = eq.find("->");
    explicit_ = arrow != std::string::npos;
    const std::string lhs = explicit_ ? eq.substr(0, arrow) : eq;
    size_t start = 0;
    while (true) {
      const size_t comma = lhs.find(',', start);
      terms_.push_back(parse_term(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start), eq));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (explicit_) out_ = parse_term(eq.substr(arrow + 2), eq);
    if (static_cast<int>(terms_.size()) != init.node.num_inputs())
      throw Error(ErrorCode::kInvalidModel, "Einsum equation \"" + eq + "\" has " + std::to_string(terms_.size()) +
                                                " operands but the node has " +
                                                std::to_string(init.node.num_inputs()) + " inputs");
  }

  void compute(KernelContext& ctx) const override {
    std::vector<Tensor> in;
    for (size_t i = 0; i < terms_.size(); ++i) in.push_back(ctx.input(static_cast<int>(i)));
    const DataType t = in[0].dtype();
    // Labels per input, with ellipsis dims right-aligned across inputs.
    int64_t ell = 0;
    std::vector<int64_t> ell_i(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      if (in[i].dtype() != t) throw Error(ErrorCode::kInvalidArgument, "Einsum inputs must share one type");
      const int64_t letters = static_cast<int64_t>(terms_[i].letters.size()) - (terms_[i].ellipsis ? 1 : 0);
      ell_i[i] = in[i].rank() - letters;
      if (ell_i[i] < 0 || (!terms_[i].ellipsis && ell_i[i] != 0))
        throw Error(ErrorCode::kInvalidArgument, "Einsum operand " + std::to_string(i) + " has rank " +
                                                     std::to_string(in[i].rank()) + ", which does not match \"" + eq_ +
                                                     "\"");
      ell = std::max(ell, ell_i[i]);
    }
    std::vector<std::vector<int>> labels(in.size());
    std::map<int, int> count;
    for (size_t i = 0; i < in.size(); ++i) {
      for (int l : terms_[i].letters) {
        if (l == kEllipsisBase) {
          for (int64_t k = 0; k < ell_i[i]; ++k) labels[i].push_back(kEllipsisBase + static_cast<int>(ell - ell_i[i] + k));
        } else {
          labels[i].push_back(l);
          ++count[l];
        }
      }
    }
    std::vector<int> out_lab;
    if (explicit_) {
      if (!out_.ellipsis && ell > 0)
        throw Error(ErrorCode::kInvalidArgument, "Einsum output of \"" + eq_ + "\" needs '...' for the broadcast dims");
      for (int l : out_.letters) {
        if (l == kEllipsisBase) {
          for (int64_t k = 0; k < ell; ++k) out_lab.push_back(kEllipsisBase + static_cast<int>(k));
        } else {
          if (std::find(out_lab.begin(), out_lab.end(), l) != out_lab.end())
            throw Error(ErrorCode::kInvalidModel, "Einsum output repeats a label in \"" + eq_ + "\"");
          out_lab.push_back(l);
        }
      }
    } else {
      for (int64_t k = 0; k < ell; ++k) out_lab.push_back(kEllipsisBase + static_cast<int>(k));
      for (const auto& [l, c] : count)
        if (c == 1) out_lab.push_back(l);
    }
    Tensor r;
    const int th = ctx.threads();
    switch (t) {
      case DataType::kFloat:
      case DataType::kFloat16:
      case DataType::kBFloat16: r = run<float>(in, labels, out_lab, t, th); break;
      case DataType::kDouble: r = run<double>(in, labels, out_lab, t, th); break;
      case DataType::kInt8:
      case DataType::kInt16:
      case DataType::kInt32:
      case DataType::kInt64: r = run<int64_t>(in, labels, out_lab, t, th); break;
      case DataType::kUInt8:
      case DataType::kUInt16:
      case DataType::kUInt32:
      case DataType::kUInt64: r = run<uint64_t>(in, labels, out_lab, t, th); break;
      default: unsupported_type(t, "Einsum");
    }
    ctx.set_output(0, Value(r));
  }

 private:
  std::string eq_;
  std::vector<Term> terms_;
  Term out_;
  bool explicit_ = false;
};

}  // namespace

void register_kernels_math_einsum(KernelRegistry& r) {
  r.add("", "Einsum", 12, kOpenEnded, make_factory<EinsumKernel>());
}

}  // namespace pier::kernels
