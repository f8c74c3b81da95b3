// Throughput measurements for the oneDNN-backed kernels. Disabled by
// default; run with
//   ./build/tests/pier_unit_tests --gtest_also_run_disabled_tests --gtest_filter='*NnBench*'
// PIER_CONV_LAYOUT=plain|blocked forces Conv's internal layout.
#include <chrono>
#include <cstdio>

#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// Median-free best-of timing: the best of `reps` runs after a warm-up.
double best_seconds(const Session& s, const std::vector<Value>& feeds, int reps) {
  s.run(feeds);
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    s.run(feeds);
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

void conv_bench(const char* name, int64_t n, int64_t c, int64_t hw, int64_t m, int64_t k, int threads,
                int64_t stride = 1, int64_t group = 1) {
  const int64_t pad = k / 2;
  auto s = ModelBuilder(13)
               .input("x", DataType::kFloat, {n, c, hw, hw})
               .initializer("w", random_float({m, c / group, k, k}, 1))
               .initializer("b", random_float({m}, 2))
               .node("Conv", {"x", "w", "b"}, {"y"},
                     {attr("pads", std::vector<int64_t>{pad, pad, pad, pad}),
                      attr("strides", std::vector<int64_t>{stride, stride}), attr("group", group)})
               .output("y", DataType::kFloat)
               .session(threads);
  const double sec = best_seconds(*s, {Value(random_float({n, c, hw, hw}, 3))}, 20);
  const int64_t ohw = (hw + 2 * pad - k) / stride + 1;
  const double flops = 2.0 * n * m * (c / group) * k * k * ohw * ohw;
  std::printf("%-28s threads=%d  %8.3f ms  %7.1f GFLOP/s\n", name, threads, sec * 1e3, flops / sec * 1e-9);
}

void matmul_bench(const char* name, int64_t m, int64_t k, int64_t nn, int threads) {
  auto s = ModelBuilder(13)
               .input("a", DataType::kFloat, {m, k})
               .initializer("b", random_float({k, nn}, 1))
               .node("MatMul", {"a", "b"}, {"y"})
               .output("y", DataType::kFloat)
               .session(threads);
  const double sec = best_seconds(*s, {Value(random_float({m, k}, 3))}, 20);
  std::printf("%-28s threads=%d  %8.3f ms  %7.1f GFLOP/s\n", name, threads, sec * 1e3, 2.0 * m * k * nn / sec * 1e-9);
}

}  // namespace

TEST(NnBench, DISABLED_Conv) {
  conv_bench("conv3x3 64->64 56x56", 1, 64, 56, 64, 3, 1);
  conv_bench("conv1x1 64->256 56x56", 1, 64, 56, 256, 1, 1);
  conv_bench("conv1x1 256->64 56x56", 1, 256, 56, 64, 1, 1);
  conv_bench("conv3x3 3->64 224x224", 1, 3, 224, 64, 3, 1);
  conv_bench("conv1x1/2 256->512 56x56", 1, 256, 56, 512, 1, 1, 2);
  conv_bench("conv3x3 512->512 7x7", 1, 512, 7, 512, 3, 1);
  conv_bench("conv1x1 512->2048 7x7", 1, 512, 7, 2048, 1, 1);
  conv_bench("conv1x1 128->512 28x28", 1, 128, 28, 512, 1, 1);
  conv_bench("conv1x1 512->128 28x28", 1, 512, 28, 128, 1, 1);
  conv_bench("conv1x1 256->1024 14x14", 1, 256, 14, 1024, 1, 1);
  conv_bench("conv1x1 1024->256 14x14", 1, 1024, 14, 256, 1, 1);
  conv_bench("conv3x3 4->16 56x56", 1, 4, 56, 16, 3, 1);
  conv_bench("conv5x5 16->16 56x56", 1, 16, 56, 16, 5, 1);
  conv_bench("dwconv3x3 128 56x56", 1, 128, 56, 128, 3, 1, 1, 128);
  conv_bench("conv3x3 8->16 56x56", 1, 8, 56, 16, 3, 1);
}

TEST(NnBench, DISABLED_MatMul) {
  matmul_bench("matmul 256x1024x1024", 256, 1024, 1024, 1);
  matmul_bench("matmul 1x1024x1024", 1, 1024, 1024, 1);
}
