// Dropout. In inference (every opset before 12, and 12+ unless the
// training_mode input is true) the output is the input, shared without a
// copy, and the optional mask is all true (all ones for opsets 1-9, where the
// mask has the data's type). Opsets 1 and 6 are treated as inference even
// with is_test=0: Pier is an inference engine and those exports never
// expected random masks at inference time.
//
// Training mode (opset 12+, training_mode = true, ratio > 0) follows the
// spec: each element is kept with probability 1 - ratio and scaled by
// 1 / (1 - ratio), and the mask says which were kept. The spec leaves the
// random source open. Pier draws the way the ONNX reference does
// (numpy.random.seed(seed); uniform(0, 1, shape) >= ratio): a 32-bit
// Mersenne Twister seeded with the low 32 bits of `seed`, one 53-bit double
// from two draws per element, in row-major order. With the `seed` attribute
// the masks are therefore reproducible and equal the reference's; without
// it each run takes a fresh seed from std::random_device.
#include <cstring>
#include <mutex>
#include <random>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

class DropoutKernel final : public OpKernel {
 public:
  explicit DropoutKernel(const KernelInit& init) {
    const int v = init.node.since_version;
    mask_is_bool_ = v >= 10;
    inputs_ratio_ = v >= 12;
    ratio_attr_ = init.node.attr_float("ratio", 0.5f);
    if (init.node.has_attr("seed")) {
      has_seed_ = true;
      seed_ = static_cast<uint64_t>(init.node.attr_int("seed", 0));
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    bool training = false;
    float ratio = ratio_attr_;
    if (inputs_ratio_) {
      if (ctx.has_input(1)) ratio = static_cast<float>(scalar_as_double(ctx.input(1)));
      if (ctx.has_input(2)) {
        const Tensor& tm = ctx.input(2);
        if (tm.dtype() != DataType::kBool || tm.numel() != 1)
          throw Error(ErrorCode::kInvalidArgument, "Dropout training_mode must be a bool scalar");
        training = tm.data<bool>()[0];
      }
    }
    if (!(ratio >= 0.f && ratio < 1.f) && training)
      throw Error(ErrorCode::kInvalidArgument, "Dropout ratio must be in [0, 1), got " + std::to_string(ratio));
    const bool want_mask = ctx.wants_output(1);
    if (!training || ratio == 0.f) {
      ctx.set_output(0, Value(x));
      if (want_mask) {
        if (mask_is_bool_) {
          Tensor& m = ctx.allocate(1, DataType::kBool, x.shape());
          if (m.numel()) std::memset(m.raw(), 1, m.nbytes());
        } else {
          Tensor& m = ctx.allocate(1, x.dtype(), x.shape());
          dispatch_float(x.dtype(), [&](auto tag) {
            using T = decltype(tag);
            T* p = static_cast<T*>(m.raw());
            const T one = store<T>(1);
            for (int64_t i = 0; i < m.numel(); ++i) p[i] = one;
          });
        }
      }
      return;
    }
    // Training: one sequential generator per call, so results do not depend
    // on the thread count.
    std::mt19937 gen(static_cast<uint32_t>(has_seed_ ? seed_ : next_seed()));
    Tensor& y = ctx.allocate(0, x.dtype(), x.shape());
    Tensor mask(DataType::kBool, x.shape());
    bool* pm = mask.data<bool>();
    const double drop = ratio;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const uint32_t a = gen() >> 5, b = gen() >> 6;  // numpy's random_sample
      const double u = (a * 67108864.0 + b) / 9007199254740992.0;
      pm[i] = u >= drop;
    }
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      const T* px = static_cast<const T*>(x.raw());
      T* py = static_cast<T*>(y.raw());
      const C scale = static_cast<C>(1.0 / (1.0 - ratio));
      for (int64_t i = 0; i < x.numel(); ++i) py[i] = store<T>(pm[i] ? load(px[i]) * scale : C(0));
    });
    if (want_mask) ctx.set_output(1, Value(mask));
  }

 private:
  static uint64_t next_seed() {
    static std::mutex mu;
    static std::random_device rd;
    std::lock_guard<std::mutex> lock(mu);
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }

  bool mask_is_bool_ = true;
  bool inputs_ratio_ = true;
  float ratio_attr_ = 0.5f;
  bool has_seed_ = false;
  uint64_t seed_ = 0;
};

}  // namespace

void register_kernels_math_dropout(KernelRegistry& r) {
  r.add("", "Dropout", 1, 5, make_factory<DropoutKernel>());
  r.add("", "Dropout", 6, 6, make_factory<DropoutKernel>());
  r.add("", "Dropout", 7, 9, make_factory<DropoutKernel>());
  r.add("", "Dropout", 10, 11, make_factory<DropoutKernel>());
  r.add("", "Dropout", 12, 12, make_factory<DropoutKernel>());
  r.add("", "Dropout", 13, kOpenEnded, make_factory<DropoutKernel>());
}

}  // namespace pier::kernels
