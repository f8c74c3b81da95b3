// Random generators: RandomNormal, RandomUniform, RandomNormalLike,
// RandomUniformLike, Bernoulli, Multinomial.
//
// Seed semantics: each element's value is a pure function of (seed, element
// index), from a counter-based generator (SplitMix64 mixing; Box-Muller for
// normals). With the `seed` attribute every run of the node, on any number
// of threads, returns the same values; nodes with equal seeds and shapes
// agree. Without it each run draws a fresh seed. Values do not match
// onnxruntime, numpy or PyTorch for the same seed (ONNX does not define
// the generator).
#include <atomic>
#include <bit>
#include <cmath>
#include <random>

#include "kernels/kernel.h"
#include "kernels/util/dispatch.h"
#include "kernels/util/parallel.h"
#include "kernels/util/shape_util.h"

namespace pier::kernels {

namespace {

constexpr int64_t kGrain = 1 << 14;

inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) from stream `key`, counter `i`.
inline double uniform01(uint64_t key, uint64_t i) { return static_cast<double>(mix(key ^ mix(i)) >> 11) * 0x1.0p-53; }

inline double normal01(uint64_t key, uint64_t i) {
  const double u1 = 1.0 - uniform01(key, 2 * i);  // (0, 1]
  const double u2 = uniform01(key, 2 * i + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

uint64_t fresh_key() {
  static const uint64_t base = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  static std::atomic<uint64_t> counter{0};
  return mix(base + counter.fetch_add(1, std::memory_order_relaxed));
}

// Per-node seed handling.
class Seed {
 public:
  explicit Seed(const ir::Node& node) {
    if (const ir::Attribute* a = node.find_attr("seed")) {
      has_ = true;
      key_ = mix(0x5eedULL ^ std::bit_cast<uint32_t>(a->type == ir::Attribute::Type::kInt ? static_cast<float>(a->i) : a->f));
    }
  }
  uint64_t key() const { return has_ ? key_ : fresh_key(); }

 private:
  bool has_ = false;
  uint64_t key_ = 0;
};

DataType float_dtype(int64_t v, const char* op) {
  const auto t = static_cast<DataType>(v);
  if (t != DataType::kFloat && t != DataType::kDouble && t != DataType::kFloat16 && t != DataType::kBFloat16)
    throw Error(ErrorCode::kInvalidModel, std::string(op) + ": dtype must be a floating-point type, got " +
                                              std::to_string(v));
  return t;
}

enum class Dist { kNormal, kUniform };

// RandomNormal / RandomUniform (shape attribute) and their *Like forms
// (shape, and by default dtype, of the input).
class RandomKernel final : public OpKernel {
 public:
  RandomKernel(const KernelInit& init, Dist dist, bool like) : dist_(dist), like_(like), seed_(init.node) {
    const auto& n = init.node;
    const char* op = n.op_type.c_str();
    if (dist == Dist::kNormal) {
      a_ = n.attr_float("mean", 0.f);
      b_ = n.attr_float("scale", 1.f);
    } else {
      a_ = n.attr_float("low", 0.f);
      b_ = n.attr_float("high", 1.f);
      if (!(a_ <= b_)) throw Error(ErrorCode::kInvalidModel, std::string(op) + ": low must not exceed high");
    }
    if (n.has_attr("dtype")) dtype_ = float_dtype(n.attr_int("dtype", 1), op);
    else if (!like) dtype_ = DataType::kFloat;
    if (!like) {
      const ir::Attribute* s = n.find_attr("shape");
      if (!s) throw Error(ErrorCode::kInvalidModel, std::string(op) + ": missing the shape attribute");
      shape_ = n.attr_ints("shape");
      for (int64_t d : shape_)
        if (d < 0) throw Error(ErrorCode::kInvalidModel, std::string(op) + ": negative dimension in shape");
    }
  }

  void compute(KernelContext& ctx) const override {
    DataType t = dtype_;
    Shape shape = shape_;
    if (like_) {
      const Tensor& x = ctx.input(0);
      shape = x.shape();
      if (t == DataType::kUndefined) t = float_dtype(static_cast<int64_t>(x.dtype()), ctx.node().op_type.c_str());
    }
    Tensor& y = ctx.allocate(0, t, shape);
    const uint64_t key = seed_.key();
    const double a = a_, b = b_;
    const bool normal = dist_ == Dist::kNormal;
    dispatch_float(t, [&](auto tag) {
      using T = decltype(tag);
      using C = compute_t<T>;
      T* p = static_cast<T*>(y.raw());
      parallel_for(ctx.threads(), y.numel(), kGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const auto u = static_cast<uint64_t>(i);
          const double v = normal ? a + b * normal01(key, u) : a + (b - a) * uniform01(key, u);
          C c = static_cast<C>(v);
          if (!normal && c >= static_cast<C>(b) && b > a) c = std::nextafter(static_cast<C>(b), static_cast<C>(a));
          p[i] = store<T>(c);
        }
      });
    });
  }

 private:
  Dist dist_;
  bool like_;
  Seed seed_;
  float a_ = 0, b_ = 1;
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
};

template <Dist D, bool Like>
KernelFactory random_factory() {
  return [](const KernelInit& init) -> std::unique_ptr<OpKernel> { return std::make_unique<RandomKernel>(init, D, Like); };
}

// Bernoulli: 1 with probability p (the input), else 0.
class BernoulliKernel final : public OpKernel {
 public:
  explicit BernoulliKernel(const KernelInit& init) : seed_(init.node) {
    if (init.node.has_attr("dtype")) {
      const int64_t v = init.node.attr_int("dtype", 0);
      if (v < 1 || v > 16 || v == static_cast<int64_t>(DataType::kString) ||
          v == static_cast<int64_t>(DataType::kComplex64) || v == static_cast<int64_t>(DataType::kComplex128))
        throw Error(ErrorCode::kInvalidModel, "Bernoulli: unsupported dtype " + std::to_string(v));
      dtype_ = static_cast<DataType>(v);
    }
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    const DataType t = dtype_ == DataType::kUndefined ? x.dtype() : dtype_;
    Tensor xf = cast_tensor(x, DataType::kDouble);
    const double* p = xf.data<double>();
    for (int64_t i = 0; i < xf.numel(); ++i)
      if (!(p[i] >= 0.0 && p[i] <= 1.0))
        throw Error(ErrorCode::kInvalidArgument, "Bernoulli: probability " + std::to_string(p[i]) +
                                                     " at index " + std::to_string(i) + " is outside [0, 1]");
    Tensor draws(DataType::kBool, x.shape());
    bool* d = draws.data<bool>();
    const uint64_t key = seed_.key();
    parallel_for(ctx.threads(), xf.numel(), kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) d[i] = uniform01(key, static_cast<uint64_t>(i)) < p[i];
    });
    ctx.set_output(0, cast_tensor(draws, t));
  }

 private:
  Seed seed_;
  DataType dtype_ = DataType::kUndefined;
};

// Multinomial: sample_size draws per batch row from softmax(input row).
class MultinomialKernel final : public OpKernel {
 public:
  explicit MultinomialKernel(const KernelInit& init) : seed_(init.node) {
    samples_ = init.node.attr_int("sample_size", 1);
    if (samples_ < 1) throw Error(ErrorCode::kInvalidModel, "Multinomial: sample_size must be positive");
    const int64_t t = init.node.attr_int("dtype", static_cast<int64_t>(DataType::kInt32));
    if (t != static_cast<int64_t>(DataType::kInt32) && t != static_cast<int64_t>(DataType::kInt64))
      throw Error(ErrorCode::kInvalidModel, "Multinomial: dtype must be int32 or int64");
    dtype_ = static_cast<DataType>(t);
  }

  void compute(KernelContext& ctx) const override {
    const Tensor& x = ctx.input(0);
    if (x.rank() != 2)
      throw Error(ErrorCode::kInvalidArgument, "Multinomial: input must be [batch_size, class_size], got " +
                                                   shape_str(x.shape()));
    const int64_t batch = x.dim(0), classes = x.dim(1);
    if (classes < 1 && batch > 0) throw Error(ErrorCode::kInvalidArgument, "Multinomial: class_size is 0");
    Tensor xf = cast_tensor(x, DataType::kDouble);
    const double* logits = xf.data<double>();
    Tensor& y = ctx.allocate(0, dtype_, {batch, samples_});
    const uint64_t key = seed_.key();
    parallel_for(ctx.threads(), batch, 1, [&](int64_t begin, int64_t end) {
      std::vector<double> cdf(static_cast<size_t>(classes));
      for (int64_t b = begin; b < end; ++b) {
        const double* row = logits + b * classes;
        double mx = -INFINITY;
        for (int64_t c = 0; c < classes; ++c) {
          if (std::isnan(row[c]) || row[c] == INFINITY)
            throw Error(ErrorCode::kInvalidArgument, "Multinomial: input holds NaN or +inf");
          mx = std::max(mx, row[c]);
        }
        if (mx == -INFINITY) throw Error(ErrorCode::kInvalidArgument, "Multinomial: every class has probability 0");
        double acc = 0;
        for (int64_t c = 0; c < classes; ++c) cdf[static_cast<size_t>(c)] = acc += std::exp(row[c] - mx);
        for (int64_t s = 0; s < samples_; ++s) {
          const double u = uniform01(key, static_cast<uint64_t>(b * samples_ + s)) * acc;
          int64_t c = std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin();
          if (c >= classes) c = classes - 1;
          while (c > 0 && cdf[static_cast<size_t>(c)] == cdf[static_cast<size_t>(c - 1)]) --c;  // skip p = 0
          if (dtype_ == DataType::kInt32) y.data<int32_t>()[b * samples_ + s] = static_cast<int32_t>(c);
          else y.data<int64_t>()[b * samples_ + s] = c;
        }
      }
    });
  }

 private:
  Seed seed_;
  int64_t samples_ = 1;
  DataType dtype_ = DataType::kInt32;
};

}  // namespace

void register_kernels_control_random(KernelRegistry& r) {
  r.add("", "RandomNormal", 1, kOpenEnded, random_factory<Dist::kNormal, false>());
  r.add("", "RandomUniform", 1, kOpenEnded, random_factory<Dist::kUniform, false>());
  r.add("", "RandomNormalLike", 1, kOpenEnded, random_factory<Dist::kNormal, true>());
  r.add("", "RandomUniformLike", 1, kOpenEnded, random_factory<Dist::kUniform, true>());
  r.add("", "Bernoulli", 15, kOpenEnded, make_factory<BernoulliKernel>());
  r.add("", "Multinomial", 7, kOpenEnded, make_factory<MultinomialKernel>());
}

}  // namespace pier::kernels
