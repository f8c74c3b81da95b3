// Attention fusion (float, static shapes):
//
//   S = MatMul(Q', Kt')          Q' = Q [* or / scalar], Kt' likewise
//   S = S [* or / scalar] [+ mask] (either order)
//   P = Softmax(S, last axis)
//   O = MatMul(P, V)
//   Y = O [-> Transpose / Reshape ...]
//
// becomes one pier.internal::Attention node (kernels/ops/fused/attention.cc).
// Q, Kt and V are traced back through Transpose/Reshape/Slice/Gather to the
// tensors they are views of (the QKV projection output, typically), and the
// output is traced forward through Transposes/Reshapes to the tensor the
// next real op reads, so the head split/merge copies disappear. This covers
// torch's nn.MultiheadAttention exports (BERT-like encoders, ViT) and the
// window attention of Swin.
//
// Every intermediate (S and its scaled/masked forms, P, O and the output
// chain) must be read only inside the pattern; Q, K, V may be read
// elsewhere. Batch dims of Q, Kt and V must match exactly; the mask must
// broadcast to S.
#include "passes/pass_util.h"
#include "passes/passes.h"
#include "passes/strided_view.h"

namespace pier::passes {

namespace {

struct Scaled {
  std::string value;
  double scale = 1.0;
  int node = -1;  // the Mul/Div node absorbed, or -1
};

// `v` = Mul(x, c) | Mul(c, x) | Div(x, c) with scalar constant c, read only
// by `reader`: x and the factor. Otherwise v itself.
Scaled strip_scale(const ir::Graph& g, const GraphIndex& ix, const std::string& v, int reader) {
  Scaled s{v, 1.0, -1};
  const int p = ix.producer(v);
  if (p < 0 || !ix.only_read_by(v, {reader})) return s;
  const ir::Node& n = g.nodes[p];
  if (n.inputs.size() != 2 || !n.has_output(0)) return s;
  if (is_op(n, "Mul")) {
    for (int k = 0; k < 2; ++k) {
      const auto c = broadcast_scalar(g, n, k);
      if (c && value_type(g, n.inputs[k]) == DataType::kFloat)
        return {n.inputs[1 - k], *c, p};
    }
  } else if (is_op(n, "Div")) {
    const auto c = broadcast_scalar(g, n, 1);
    if (c && *c != 0.0 && value_type(g, n.inputs[1]) == DataType::kFloat) return {n.inputs[0], 1.0 / *c, p};
  }
  return s;
}

// The sole reader of v, when it has exactly one read.
int sole_reader(const GraphIndex& ix, const std::string& v) {
  const auto& r = ix.readers(v);
  return r.size() == 1 && ix.only_read_by(v, r) ? r[0] : -1;
}

void view_attrs(ir::Node& n, const std::string& p, const StridedView& vw) {
  n.attrs.push_back(int_attr(p + "_offset", vw.offset));
  n.attrs.push_back(ints_attr(p + "_shape", vw.shape));
  n.attrs.push_back(ints_attr(p + "_strides", vw.strides));
  n.attrs.push_back(ints_attr(p + "_src_shape", vw.source_shape));
}

bool float_value(const ir::Graph& g, const std::string& v) { return value_type(g, v) == DataType::kFloat; }

}  // namespace

bool fuse_attention(ir::Graph& g) {
  bool changed = false;
  // One fusion per scan: the index is rebuilt after each rewrite.
  for (bool again = true; again;) {
    again = false;
    GraphIndex ix(g);
    for (size_t si = 0; si < g.nodes.size() && !again; ++si) {
      const ir::Node& sm = g.nodes[si];
      if (!is_op(sm, "Softmax") || sm.inputs.size() != 1 || !sm.has_output(0)) continue;
      const int rank = value_rank(g, sm.inputs[0]);
      if (rank < 2 || !float_value(g, sm.inputs[0])) continue;
      const int64_t axis = sm.attr_int("axis", sm.since_version < 13 ? 1 : -1);
      if (axis != -1 && axis != rank - 1) continue;
      std::vector<int> nodes{static_cast<int>(si)};
      // Back from the softmax input: at most one scale and one mask Add.
      // softmax(scale * S + mask_scale * mask): a scale applied after the
      // mask Add (nearer the softmax) scales the mask too.
      double scale = 1.0, mask_scale = 1.0;
      bool have_scale = false;
      std::string mask, s = sm.inputs[0];
      int reader = static_cast<int>(si);
      for (int step = 0; step < 2; ++step) {
        const int p = ix.producer(s);
        if (p < 0 || !ix.only_read_by(s, {reader})) break;
        const ir::Node& n = g.nodes[p];
        if (is_op(n, "Add") && mask.empty() && n.inputs.size() == 2) {
          int k = -1;
          for (int c = 0; c < 2 && k < 0; ++c) {
            const int pp = ix.producer(n.inputs[c]);
            if (pp >= 0 && (is_op(g.nodes[pp], "MatMul") || is_op(g.nodes[pp], "Mul") || is_op(g.nodes[pp], "Div")))
              k = c;
          }
          if (k < 0 || n.inputs[0] == n.inputs[1] || !float_value(g, n.inputs[1 - k])) break;
          mask = n.inputs[1 - k];
          if (have_scale) mask_scale = scale;
          nodes.push_back(p);
          reader = p;
          s = n.inputs[k];
          continue;
        }
        const Scaled sc = strip_scale(g, ix, s, reader);
        if (sc.node < 0 || have_scale) break;
        have_scale = true;
        scale *= sc.scale;
        nodes.push_back(sc.node);
        reader = sc.node;
        s = sc.value;
      }
      const int m1 = ix.producer(s);
      if (m1 < 0 || !is_op(g.nodes[m1], "MatMul") || !ix.only_read_by(s, {reader})) continue;
      const ir::Node& mm1 = g.nodes[m1];
      if (mm1.inputs.size() != 2) continue;
      nodes.push_back(m1);
      Scaled q = strip_scale(g, ix, mm1.inputs[0], m1), k = strip_scale(g, ix, mm1.inputs[1], m1);
      if (mm1.inputs[0] == mm1.inputs[1]) q = k = Scaled{mm1.inputs[0], 1.0, -1};
      for (const Scaled* x : {&q, &k})
        if (x->node >= 0) {
          scale *= x->scale;
          nodes.push_back(x->node);
        }
      // Softmax output -> MatMul(P, V).
      const int m2 = sole_reader(ix, sm.outputs[0]);
      if (m2 < 0 || !is_op(g.nodes[m2], "MatMul") || g.nodes[m2].inputs.size() != 2 ||
          g.nodes[m2].inputs[0] != sm.outputs[0] || !g.nodes[m2].has_output(0))
        continue;
      nodes.push_back(m2);
      const std::string v = g.nodes[m2].inputs[1];
      if (!float_value(g, q.value) || !float_value(g, k.value) || !float_value(g, v)) continue;
      const auto qv = trace_view(g, ix, q.value), kv = trace_view(g, ix, k.value), vv = trace_view(g, ix, v);
      if (!qv || !kv || !vv) continue;
      const size_t r = qv->shape.size();
      if (r < 2 || kv->shape.size() != r || vv->shape.size() != r) continue;
      if (!std::equal(qv->shape.begin(), qv->shape.end() - 2, kv->shape.begin()) ||
          !std::equal(qv->shape.begin(), qv->shape.end() - 2, vv->shape.begin()))
        continue;
      if (qv->shape[r - 1] != kv->shape[r - 2] || kv->shape[r - 1] != vv->shape[r - 2]) continue;
      if (!mask.empty()) {
        const auto ms = static_shape(g, mask);
        Shape scores(qv->shape.begin(), qv->shape.end() - 1);
        scores.push_back(kv->shape[r - 1]);
        if (!ms || ms->size() > r) continue;
        bool ok = true;
        for (size_t d = 0; d < ms->size(); ++d) {
          const int64_t want = scores[r - ms->size() + d];
          ok = ok && ((*ms)[d] == want || (*ms)[d] == 1);
        }
        if (!ok) continue;
      }
      // Forward from O through single-use Transposes / reshapes.
      Shape o_shape(qv->shape.begin(), qv->shape.end() - 1);
      o_shape.push_back(vv->shape[r - 1]);
      if (static_shape(g, g.nodes[m2].outputs[0]) != o_shape) continue;
      std::vector<int> fwd;
      std::string y = g.nodes[m2].outputs[0];
      while (true) {
        const int nx = sole_reader(ix, y);
        if (nx < 0) break;
        const ir::Node& n = g.nodes[nx];
        if (!(is_reshape_like(n) || is_op(n, "Transpose")) || n.inputs.empty() || n.inputs[0] != y ||
            n.outputs.size() != 1 || !static_shape(g, n.outputs[0]))
          break;
        if (is_op(n, "Squeeze") || is_op(n, "Unsqueeze") || is_op(n, "Reshape")) {
          bool const_args = true;
          for (size_t a = 1; a < n.inputs.size(); ++a) const_args = const_args && (n.inputs[a].empty() || constant(g, n.inputs[a]));
          if (!const_args) break;
        }
        fwd.push_back(nx);
        y = n.outputs[0];
      }
      // O's strides inside Y: walk the chain backwards from Y (dense).
      std::vector<int64_t> st;
      for (bool ok = false; !ok;) {
        const auto ys = static_shape(g, y);
        st = dense_strides(*ys);
        Shape cur = *ys;
        ok = true;
        for (size_t f = fwd.size(); f-- > 0 && ok;) {
          const ir::Node& n = g.nodes[fwd[f]];
          const auto in_shape = static_shape(g, n.inputs[0]);
          if (!in_shape) {
            ok = false;
            break;
          }
          if (is_op(n, "Transpose")) {
            std::vector<int64_t> perm = n.attr_ints("perm");
            if (perm.empty())
              for (int64_t i = static_cast<int64_t>(cur.size()) - 1; i >= 0; --i) perm.push_back(i);
            std::vector<int64_t> in_st(cur.size());
            for (size_t i = 0; i < perm.size(); ++i) in_st[static_cast<size_t>(perm[i])] = st[i];
            st = in_st;
          } else {
            auto rs = reshape_strides(cur, st, *in_shape);
            if (!rs) ok = false;
            else st = *rs;
          }
          cur = *in_shape;
        }
        if (!ok) {  // end the chain before the op that needs a copy
          fwd.pop_back();
          y = fwd.empty() ? g.nodes[m2].outputs[0] : g.nodes[fwd.back()].outputs[0];
        }
      }
      nodes.insert(nodes.end(), fwd.begin(), fwd.end());
      const int last = fwd.empty() ? m2 : fwd.back();
      ir::Node att = internal_node("Attention", g.nodes[m2].name + "/Attention",
                                   {qv->source, kv->source, vv->source}, {y});
      if (!mask.empty()) att.inputs.push_back(mask);
      att.attrs.push_back(float_attr("scale", static_cast<float>(scale)));
      att.attrs.push_back(float_attr("mask_scale", static_cast<float>(mask_scale)));
      view_attrs(att, "q", *qv);
      view_attrs(att, "k", *kv);
      view_attrs(att, "v", *vv);
      att.attrs.push_back(ints_attr("out_shape", *static_shape(g, y)));
      att.attrs.push_back(ints_attr("out_strides", st));
      std::vector<bool> dead(g.nodes.size(), false);
      for (int i : nodes) dead[i] = true;
      dead[last] = false;
      g.nodes[last] = std::move(att);
      remove_nodes(g, dead);
      changed = again = true;
    }
  }
  return changed;
}

}  // namespace pier::passes
