// Permutations: Transpose, DepthToSpace and SpaceToDepth (a reshape, a
// transpose and a reshape).
#include "kernels/kernel.h"
#include "kernels/util/transpose.h"

namespace pier::kernels {

namespace {

class TransposeKernel final : public OpKernel {
 public:
  explicit TransposeKernel(const KernelInit& init) {
    has_perm_ = init.node.has_attr("perm");
    perm_ = init.node.attr_ints("perm");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> perm = perm_;
    if (!has_perm_) {
      perm.resize(x.rank());
      for (int i = 0; i < x.rank(); ++i) perm[i] = x.rank() - 1 - i;
    }
    check_permutation(perm, x.rank());
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int64_t>(i);
    if (identity) {
      ctx.set_output(0, x);
      return;
    }
    Shape s(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) s[i] = x.shape()[perm[i]];
    Tensor& y = ctx.allocate(0, x.dtype(), s);
    transpose(x, perm, y, ctx.threads());
  }

 private:
  bool has_perm_;
  std::vector<int64_t> perm_;
};

void check_4d(const Tensor& x, const char* op) {
  if (x.rank() != 4)
    throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": input must be 4-D (NCHW), got " + shape_str(x.shape()));
}

class DepthToSpaceKernel final : public OpKernel {
 public:
  explicit DepthToSpaceKernel(const KernelInit& init) {
    b_ = init.node.req_int("blocksize");
    if (b_ <= 0) throw Error(ErrorCode::kInvalidModel, "DepthToSpace: blocksize must be positive");
    const std::string mode = init.node.attr_string("mode", "DCR");
    if (mode != "DCR" && mode != "CRD")
      throw Error(ErrorCode::kInvalidModel, "DepthToSpace: mode must be DCR or CRD, got \"" + mode + "\"");
    crd_ = mode == "CRD";
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    check_4d(x, "DepthToSpace");
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (c % (b_ * b_) != 0)
      throw Error(ErrorCode::kInvalidArgument, "DepthToSpace: channels " + std::to_string(c) +
                                                   " are not divisible by blocksize^2 = " + std::to_string(b_ * b_));
    const int64_t oc = c / (b_ * b_);
    Tensor view, out;
    if (crd_) {
      view = x.reshaped({n, oc, b_, b_, h, w});
      out = transposed(view, {0, 1, 4, 2, 5, 3}, ctx.threads());
    } else {
      view = x.reshaped({n, b_, b_, oc, h, w});
      out = transposed(view, {0, 3, 4, 1, 5, 2}, ctx.threads());
    }
    ctx.set_output(0, out.reshaped({n, oc, h * b_, w * b_}));
  }

 private:
  int64_t b_;
  bool crd_;
};

class SpaceToDepthKernel final : public OpKernel {
 public:
  explicit SpaceToDepthKernel(const KernelInit& init) {
    b_ = init.node.req_int("blocksize");
    if (b_ <= 0) throw Error(ErrorCode::kInvalidModel, "SpaceToDepth: blocksize must be positive");
  }
  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    check_4d(x, "SpaceToDepth");
    const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), w = x.dim(3);
    if (h % b_ != 0 || w % b_ != 0)
      throw Error(ErrorCode::kInvalidArgument, "SpaceToDepth: spatial size " + std::to_string(h) + "x" +
                                                   std::to_string(w) + " is not divisible by blocksize " +
                                                   std::to_string(b_));
    Tensor view = x.reshaped({n, c, h / b_, b_, w / b_, b_});
    Tensor out = transposed(view, {0, 3, 5, 1, 2, 4}, ctx.threads());
    ctx.set_output(0, out.reshaped({n, c * b_ * b_, h / b_, w / b_}));
  }

 private:
  int64_t b_;
};

}  // namespace

void register_kernels_tensor_transpose(KernelRegistry& r) {
  r.add("", "Transpose", 1, 12, make_factory<TransposeKernel>());
  r.add("", "Transpose", 13, kOpenEnded, make_factory<TransposeKernel>());
  r.add("", "DepthToSpace", 1, 10, make_factory<DepthToSpaceKernel>());
  r.add("", "DepthToSpace", 11, 12, make_factory<DepthToSpaceKernel>());
  r.add("", "DepthToSpace", 13, kOpenEnded, make_factory<DepthToSpaceKernel>());
  r.add("", "SpaceToDepth", 1, 12, make_factory<SpaceToDepthKernel>());
  r.add("", "SpaceToDepth", 13, kOpenEnded, make_factory<SpaceToDepthKernel>());
}

}  // namespace pier::kernels
