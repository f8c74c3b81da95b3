// Concat and Split: block copies along one axis.
#include <algorithm>
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"
#include "kernels/util/strided_copy.h"

namespace pier::kernels {

namespace {

[[noreturn]] void bad(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, msg); }

// Copies `rows` blocks of `len` elements from src (pitch src_pitch) to dst
// (pitch dst_pitch), in parallel when large.
template <typename T>
void copy_blocks(const T* src, int64_t src_pitch, T* dst, int64_t dst_pitch, int64_t rows, int64_t len, int threads) {
  constexpr int64_t kPiece = 1 << 15;
  if (threads > 1 && rows < threads && len >= 2 * kPiece) {  // few long blocks: split them
    const int64_t pieces = (len + kPiece - 1) / kPiece;
    parallel_for(threads, rows * pieces, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t r = t / pieces, i0 = (t % pieces) * kPiece;
        std::copy_n(src + r * src_pitch + i0, std::min(kPiece, len - i0), dst + r * dst_pitch + i0);
      }
    });
    return;
  }
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(len, 1));
  parallel_for(threads, rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) std::copy_n(src + r * src_pitch, len, dst + r * dst_pitch);
  });
}

class ConcatKernel final : public OpKernel {
 public:
  explicit ConcatKernel(const KernelInit& init) {
    if (init.node.since_version >= 4 && !init.node.has_attr("axis"))
      throw Error(ErrorCode::kInvalidModel, "Concat: attribute 'axis' is required");
    axis_ = init.node.attr_int("axis", 1);
  }
  void compute(KernelContext& ctx) const override {
    std::vector<const Tensor*> ins;
    for (int i = 0; i < ctx.num_inputs(); ++i)
      if (ctx.has_input(i)) ins.push_back(&ctx.input(i));
    if (ins.empty()) bad("Concat: no inputs");
    const Tensor& first = *ins[0];
    const int64_t r = first.rank();
    if (r == 0) bad("Concat: inputs must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, r, "Concat axis");
    Shape out_shape = first.shape();
    out_shape[axis] = 0;
    for (const Tensor* t : ins) {
      if (t->dtype() != first.dtype())
        bad(std::string("Concat: input types differ: ") + dtype_name(first.dtype()) + " and " + dtype_name(t->dtype()));
      bool ok = t->rank() == r;
      for (int64_t d = 0; ok && d < r; ++d) ok = d == axis || t->shape()[d] == first.shape()[d];
      if (!ok)
        bad("Concat: shapes " + shape_str(first.shape()) + " and " + shape_str(t->shape()) +
            " differ outside axis " + std::to_string(axis));
      out_shape[axis] += t->shape()[axis];
    }
    if (ins.size() == 1) {
      ctx.set_output(0, first);
      return;
    }
    Tensor& out = ctx.allocate(0, first.dtype(), out_shape);
    if (out.numel() == 0) return;
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
    for (int64_t d = axis + 1; d < r; ++d) inner *= out_shape[d];
    const int64_t out_pitch = out_shape[axis] * inner;
    dispatch_elements(first.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* dst = static_cast<T*>(out.raw());
      int64_t off = 0;
      for (const Tensor* t : ins) {
        const int64_t len = t->shape()[axis] * inner;
        if (len > 0) copy_blocks(static_cast<const T*>(t->raw()), len, dst + off, out_pitch, outer, len, ctx.threads());
        off += len;
      }
    });
  }

 private:
  int64_t axis_;
};

class SplitKernel final : public OpKernel {
 public:
  explicit SplitKernel(const KernelInit& init) {
    axis_ = init.node.attr_int("axis", 0);
    split_from_input_ = init.node.since_version >= 13 || init.node.since_version < 2;
    split_attr_ = init.node.attr_ints("split");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const int64_t r = x.rank();
    if (r == 0) bad("Split: input must have rank >= 1");
    const int64_t axis = normalize_axis(axis_, r, "Split axis");
    const int64_t n_out = ctx.num_outputs();
    const int64_t dim = x.shape()[axis];
    std::vector<int64_t> split = split_attr_;
    if (split_from_input_ && ctx.has_input(1)) split = to_int64_vector(ctx.input(1));
    if (split.empty()) {
      if (dim % n_out != 0)
        bad("Split: dimension " + std::to_string(dim) + " of axis " + std::to_string(axis) +
            " cannot be split evenly into " + std::to_string(n_out) + " outputs");
      split.assign(n_out, dim / n_out);
    }
    if (static_cast<int64_t>(split.size()) != n_out)
      bad("Split: " + std::to_string(split.size()) + " split sizes for " + std::to_string(n_out) + " outputs");
    int64_t total = 0;
    for (int64_t s : split) {
      if (s < 0) bad("Split: negative split size " + std::to_string(s));
      total += s;
    }
    if (total != dim)
      bad("Split: split sizes sum to " + std::to_string(total) + " but axis " + std::to_string(axis) + " has " +
          std::to_string(dim) + " elements");
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (int64_t d = axis + 1; d < r; ++d) inner *= x.shape()[d];
    const int64_t in_pitch = dim * inner;
    dispatch_elements(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* src = static_cast<const T*>(x.raw());
      int64_t off = 0;
      for (int64_t i = 0; i < n_out; ++i) {
        const int64_t len = split[i] * inner;
        if (ctx.wants_output(static_cast<int>(i))) {
          Shape s = x.shape();
          s[axis] = split[i];
          Tensor& out = ctx.allocate(static_cast<int>(i), x.dtype(), s);
          if (len > 0) copy_blocks(src + off, in_pitch, static_cast<T*>(out.raw()), len, outer, len, ctx.threads());
        }
        off += len;
      }
    });
  }

 private:
  int64_t axis_;
  bool split_from_input_;
  std::vector<int64_t> split_attr_;
};

}  // namespace

void register_kernels_tensor_concat(KernelRegistry& r) {
  r.add("", "Concat", 1, 3, make_factory<ConcatKernel>());
  r.add("", "Concat", 4, 10, make_factory<ConcatKernel>());
  r.add("", "Concat", 11, 12, make_factory<ConcatKernel>());
  r.add("", "Concat", 13, kOpenEnded, make_factory<ConcatKernel>());
  r.add("", "Split", 1, 1, make_factory<SplitKernel>());
  r.add("", "Split", 2, 10, make_factory<SplitKernel>());
  r.add("", "Split", 11, 12, make_factory<SplitKernel>());
  r.add("", "Split", 13, kOpenEnded, make_factory<SplitKernel>());
}

}  // namespace pier::kernels
