// MaxUnpool: scatters X into a zero tensor at the flat (row-major, whole
// tensor) indices I that MaxPool produced. The output shape is the
// optional output_shape input, else (in - 1) * stride + kernel - pads.
#include <cstring>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/nn_geometry.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class MaxUnpoolKernel final : public OpKernel {
 public:
  explicit MaxUnpoolKernel(const KernelInit& init) : attrs_(WindowAttrs::parse(init.node)) {
    if (attrs_.kernel.empty()) throw Error(ErrorCode::kInvalidModel, "MaxUnpool requires kernel_shape");
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    if (ind.dtype() != DataType::kInt64) throw Error(ErrorCode::kInvalidArgument, "MaxUnpool indices must be int64");
    if (ind.shape() != x.shape())
      throw Error(ErrorCode::kInvalidArgument, "MaxUnpool indices " + shape_str(ind.shape()) +
                                                   " must have the shape of X " + shape_str(x.shape()));
    if (x.rank() < 3) throw Error(ErrorCode::kInvalidArgument, "MaxUnpool input must be at least 3-D");
    const size_t n = static_cast<size_t>(x.rank() - 2);
    if (attrs_.kernel.size() != n)
      throw Error(ErrorCode::kInvalidArgument, "MaxUnpool kernel_shape has " + std::to_string(attrs_.kernel.size()) +
                                                   " dims, input has " + std::to_string(n) + " spatial dims");
    Shape ys;
    if (ctx.has_input(2)) {
      ys = to_int64_vector(ctx.input(2));
      if (ys.size() != static_cast<size_t>(x.rank()) || ys[0] != x.dim(0) || ys[1] != x.dim(1))
        throw Error(ErrorCode::kInvalidArgument, "MaxUnpool output_shape " + shape_str(ys) +
                                                     " does not match input " + shape_str(x.shape()));
    } else {
      ys = {x.dim(0), x.dim(1)};
      for (size_t i = 0; i < n; ++i) {
        const int64_t s = attrs_.strides.empty() ? 1 : attrs_.strides.at(i);
        const int64_t pads = attrs_.pads.empty() ? 0 : attrs_.pads.at(i) + attrs_.pads.at(i + n);
        ys.push_back((x.dim(static_cast<int>(i + 2)) - 1) * s + attrs_.kernel[i] - pads);
      }
    }
    const int64_t total = checked_numel(ys, "MaxUnpool output");
    Tensor& y = ctx.allocate(0, x.dtype(), ys);
    if (y.nbytes()) std::memset(y.raw(), 0, y.nbytes());
    const int64_t* pi = ind.data<int64_t>();
    dispatch_bytes(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      for (int64_t i = 0; i < x.numel(); ++i) {
        const int64_t j = pi[i];
        if (j < 0 || j >= total)
          throw Error(ErrorCode::kInvalidArgument, "MaxUnpool index " + std::to_string(j) + " is outside the output " +
                                                       shape_str(ys));
        py[j] = px[i];
      }
    });
  }

 private:
  WindowAttrs attrs_;
};

}  // namespace

void register_kernels_nn_max_unpool(KernelRegistry& r) {
  r.add("", "MaxUnpool", 9, 10, make_factory<MaxUnpoolKernel>());
  r.add("", "MaxUnpool", 11, kOpenEnded, make_factory<MaxUnpoolKernel>());
}

}  // namespace pier::kernels
