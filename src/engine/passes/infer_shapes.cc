// Static shape propagation after folding. ONNX's shape inference (run at
// load) cannot see through shapes computed at run time (torch's
// x.view(B, H // 7, 7, ...) exports Shape -> Gather -> Div -> Concat ->
// Reshape). Once fold_shape and constant_folding have turned those into
// constants, this pass infers the static shape (and element type) of
// values that still lack one, for the common tensor ops, so the next round
// of fold_shape can fold the Shape nodes further down and the fusions see
// static shapes. Only values whose shape is unknown or partial are set;
// ops it does not know are left alone.
#include <algorithm>

#include "passes/pass_util.h"
#include "passes/passes.h"
#include "passes/strided_view.h"

namespace pier::passes {

namespace {

std::optional<Shape> broadcast(const std::vector<Shape>& shapes) {
  size_t r = 0;
  for (const auto& s : shapes) r = std::max(r, s.size());
  Shape out(r, 1);
  for (const auto& s : shapes)
    for (size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[r - s.size() + i];
      const int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o != 1) return std::nullopt;
      o = d;
    }
  return out;
}

int64_t norm_axis(int64_t a, int64_t rank) { return a < 0 ? a + rank : a; }

// Constant int list from input `i` (opset >= 13 style) or attribute `name`.
std::optional<std::vector<int64_t>> ints_arg(const ir::Graph& g, const ir::Node& n, int i, const char* name) {
  if (n.has_input(i)) return int_constant(g, n.inputs[i]);
  if (n.has_attr(name)) return n.attr_ints(name);
  return std::vector<int64_t>{};
}

bool one_of(const ir::Node& n, std::initializer_list<const char*> ops) {
  if (!n.domain.empty()) return false;
  for (const char* op : ops)
    if (n.op_type == op) return true;
  return false;
}

struct Result {
  Shape shape;
  DataType dtype = DataType::kUndefined;
};

std::optional<Result> infer(const ir::Graph& g, const ir::Node& n) {
  std::vector<std::optional<Shape>> in;
  for (const auto& v : n.inputs) in.push_back(v.empty() ? std::nullopt : static_shape(g, v));
  auto known = [&](size_t i) { return i < in.size() && in[i].has_value(); };
  const DataType t0 = n.inputs.empty() ? DataType::kUndefined : value_type(g, n.inputs[0]);
  if (one_of(n, {"Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal", "Floor", "Ceil",
                 "Not", "Identity", "Softmax", "LogSoftmax", "LeakyRelu", "HardSigmoid", "HardSwish", "Clip", "Dropout",
                 "LayerNormalization", "Sign", "Round", "Elu", "Selu", "Softplus", "Mish", "CumSum",
                 "InstanceNormalization", "BatchNormalization"}) ||
      (n.domain == kPierDomain && n.op_type == "Gelu")) {
    if (!known(0)) return std::nullopt;
    return Result{*in[0], t0};
  }
  if (one_of(n, {"Cast"})) {
    if (!known(0)) return std::nullopt;
    return Result{*in[0], static_cast<DataType>(n.attr_int("to", 0))};
  }
  const bool compare = one_of(n, {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"});
  if (compare || one_of(n, {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "PRelu", "Mod"})) {
    std::vector<Shape> shapes;
    for (size_t i = 0; i < in.size(); ++i) {
      if (!known(i)) return std::nullopt;
      shapes.push_back(*in[i]);
    }
    auto s = broadcast(shapes);
    if (!s) return std::nullopt;
    DataType t = compare ? DataType::kBool : n.op_type == "Where" ? value_type(g, n.inputs[1]) : t0;
    return Result{*s, t};
  }
  if (!known(0)) return std::nullopt;
  const Shape& x = *in[0];
  const int64_t rank = static_cast<int64_t>(x.size());
  if (one_of(n, {"Reshape"})) {
    auto s = reshape_target(g, n, x);
    if (!s) return std::nullopt;
    return Result{*s, t0};
  }
  if (one_of(n, {"Flatten"})) {
    const int64_t axis = norm_axis(n.attr_int("axis", 1), rank);
    if (axis < 0 || axis > rank) return std::nullopt;
    int64_t a = 1, b = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? a : b) *= x[d];
    return Result{{a, b}, t0};
  }
  if (one_of(n, {"Transpose"})) {
    std::vector<int64_t> p = n.attr_ints("perm");
    if (p.empty())
      for (int64_t d = rank - 1; d >= 0; --d) p.push_back(d);
    if (static_cast<int64_t>(p.size()) != rank) return std::nullopt;
    Shape s;
    for (int64_t v : p) {
      if (v < 0 || v >= rank) return std::nullopt;
      s.push_back(x[v]);
    }
    return Result{s, t0};
  }
  if (one_of(n, {"Unsqueeze", "Squeeze"})) {
    auto axes = ints_arg(g, n, 1, "axes");
    if (!axes) return std::nullopt;
    if (n.op_type == "Unsqueeze") {
      const int64_t r = rank + static_cast<int64_t>(axes->size());
      std::vector<bool> ins(r, false);
      for (int64_t a : *axes) {
        a = norm_axis(a, r);
        if (a < 0 || a >= r || ins[a]) return std::nullopt;
        ins[a] = true;
      }
      Shape s;
      for (int64_t d = 0, k = 0; d < r; ++d) s.push_back(ins[d] ? 1 : x[k++]);
      return Result{s, t0};
    }
    std::vector<bool> drop(rank, false);
    for (int64_t a : *axes) {
      a = norm_axis(a, rank);
      if (a < 0 || a >= rank || x[a] != 1) return std::nullopt;
      drop[a] = true;
    }
    Shape s;
    for (int64_t d = 0; d < rank; ++d)
      if (!(axes->empty() ? x[d] == 1 : drop[d])) s.push_back(x[d]);
    return Result{s, t0};
  }
  if (one_of(n, {"Concat"})) {
    const int64_t axis = norm_axis(n.attr_int("axis", 0), rank);
    if (axis < 0 || axis >= rank) return std::nullopt;
    Shape s = x;
    for (size_t i = 1; i < in.size(); ++i) {
      if (!known(i) || in[i]->size() != x.size()) return std::nullopt;
      s[axis] += (*in[i])[axis];
    }
    return Result{s, t0};
  }
  if (one_of(n, {"Gather"})) {
    if (!known(1)) return std::nullopt;
    const int64_t axis = norm_axis(n.attr_int("axis", 0), rank);
    if (axis < 0 || axis >= rank) return std::nullopt;
    Shape s(x.begin(), x.begin() + axis);
    s.insert(s.end(), in[1]->begin(), in[1]->end());
    s.insert(s.end(), x.begin() + axis + 1, x.end());
    return Result{s, t0};
  }
  if (one_of(n, {"Expand"})) {
    auto sh = n.has_input(1) ? int_constant(g, n.inputs[1]) : std::nullopt;
    if (!sh) return std::nullopt;
    auto s = broadcast({x, *sh});
    if (!s) return std::nullopt;
    return Result{*s, t0};
  }
  if (one_of(n, {"Pad"}) && n.since_version >= 11) {
    auto pads = n.has_input(1) ? int_constant(g, n.inputs[1]) : std::nullopt;
    if (!pads || static_cast<int64_t>(pads->size()) != 2 * rank || n.has_input(3)) return std::nullopt;
    Shape s = x;
    for (int64_t d = 0; d < rank; ++d) {
      s[d] += (*pads)[d] + (*pads)[d + rank];
      if (s[d] < 0) return std::nullopt;
    }
    return Result{s, t0};
  }
  if (one_of(n, {"Slice"}) && n.since_version >= 10) {
    auto st = ints_arg(g, n, 1, "starts"), en = ints_arg(g, n, 2, "ends");
    auto ax = ints_arg(g, n, 3, "axes"), sp = ints_arg(g, n, 4, "steps");
    if (!st || !en || !ax || !sp || st->size() != en->size()) return std::nullopt;
    std::vector<int64_t> axes = *ax, steps = *sp;
    if (axes.empty())
      for (size_t i = 0; i < st->size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(st->size(), 1);
    if (axes.size() != st->size() || steps.size() != st->size()) return std::nullopt;
    Shape s = x;
    for (size_t k = 0; k < axes.size(); ++k) {
      const int64_t a = norm_axis(axes[k], rank), step = steps[k];
      if (a < 0 || a >= rank || step == 0) return std::nullopt;
      const int64_t dim = x[a];
      int64_t b = (*st)[k], e = (*en)[k];
      if (b < 0) b += dim;
      if (e < 0) e += dim;
      if (step > 0) {
        b = std::clamp<int64_t>(b, 0, dim);
        e = std::clamp<int64_t>(e, 0, dim);
        s[a] = e > b ? (e - b + step - 1) / step : 0;
      } else if (dim == 0) {
        s[a] = 0;
      } else {
        b = std::clamp<int64_t>(b, 0, dim - 1);
        e = std::clamp<int64_t>(e, -1, dim - 1);
        s[a] = b > e ? (b - e + (-step) - 1) / (-step) : 0;
      }
    }
    return Result{s, t0};
  }
  if (one_of(n, {"MatMul"}) || (n.domain == kPierDomain && n.op_type == "FusedMatMul")) {
    if (!known(1) || x.empty() || in[1]->empty()) return std::nullopt;
    Shape a = x, b = *in[1];
    const bool a1 = a.size() == 1, b1 = b.size() == 1;
    if (a1) a.insert(a.begin(), 1);
    if (b1) b.push_back(1);
    if (a.back() != b[b.size() - 2]) return std::nullopt;
    auto batch = broadcast({Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2)});
    if (!batch) return std::nullopt;
    Shape s = *batch;
    if (!a1) s.push_back(a[a.size() - 2]);
    if (!b1) s.push_back(b.back());
    return Result{s, t0};
  }
  if (one_of(n, {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2"})) {
    auto axes = ints_arg(g, n, 1, "axes");
    if (!axes || n.attr_int("noop_with_empty_axes", 0)) return std::nullopt;
    const bool keep = n.attr_int("keepdims", 1) != 0;
    std::vector<bool> red(rank, axes->empty());
    for (int64_t a : *axes) {
      a = norm_axis(a, rank);
      if (a < 0 || a >= rank) return std::nullopt;
      red[a] = true;
    }
    Shape s;
    for (int64_t d = 0; d < rank; ++d) {
      if (!red[d]) s.push_back(x[d]);
      else if (keep) s.push_back(1);
    }
    return Result{s, t0};
  }
  if (one_of(n, {"GlobalAveragePool", "GlobalMaxPool"})) {
    if (rank < 2) return std::nullopt;
    Shape s = x;
    std::fill(s.begin() + 2, s.end(), 1);
    return Result{s, t0};
  }
  return std::nullopt;
}

}  // namespace

bool infer_shapes(ir::Graph& g) {
  bool changed = false;
  for (const auto& n : g.nodes) {
    if (n.outputs.empty() || !n.has_output(0) || static_shape(g, n.outputs[0])) continue;
    if (has_subgraph(n)) continue;
    // Only output 0 is inferred (Dropout's mask and friends keep theirs).
    const auto r = infer(g, n);
    if (!r || r->dtype == DataType::kUndefined) continue;
    const ValueInfo* old = g.info(n.outputs[0]);
    if (old && old->kind != Value::Kind::kTensor) continue;
    if (old && old->has_shape && old->dims.size() != r->shape.size()) continue;  // disagrees: trust neither
    if (old && old->has_shape) {
      bool agree = true;
      for (size_t d = 0; d < r->shape.size(); ++d) agree = agree && (old->dims[d] < 0 || old->dims[d] == r->shape[d]);
      if (!agree) continue;
    }
    if (old && old->dtype != DataType::kUndefined && old->dtype != r->dtype) continue;
    ValueInfo vi = old ? *old : ValueInfo{};
    vi.name = n.outputs[0];
    vi.kind = Value::Kind::kTensor;
    vi.dtype = r->dtype;
    vi.has_shape = true;
    vi.dims = r->shape;
    vi.dim_params.assign(r->shape.size(), "");
    g.value_info[n.outputs[0]] = vi;
    changed = true;
  }
  return changed;
}

}  // namespace pier::passes
