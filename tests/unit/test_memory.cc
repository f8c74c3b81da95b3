// Tensor memory: the arena planner (packing), planned runs (no allocation
// when shapes repeat, outputs safe to hold, deviations, concurrency) and
// in-place element-wise kernels.
#include <algorithm>
#include <random>
#include <thread>

#include "core/memory.h"
#include "exec/memory_plan.h"
#include "exec/program.h"
#include "kernels/kernel.h"
#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

// Placed allocations that live at the same time must not share bytes, and
// every earlier allocation sharing bytes must be listed as a conflict.
void check_plan(const std::vector<exec::AllocInterval>& a, const exec::MemoryPlan& p) {
  ASSERT_EQ(p.size(), a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].end == exec::AllocInterval::kEscaped) {
      EXPECT_EQ(p.offset[i], exec::MemoryPlan::kExternal) << i;
    }
    if (p.offset[i] < 0) continue;
    EXPECT_LE(static_cast<size_t>(p.offset[i]) + a[i].bytes, p.arena_bytes);
    for (size_t j = 0; j < i; ++j) {
      if (p.offset[j] < 0) continue;
      const bool mem = p.offset[i] < p.offset[j] + static_cast<int64_t>(a[j].bytes) &&
                       p.offset[j] < p.offset[i] + static_cast<int64_t>(a[i].bytes);
      const bool life = a[i].start < a[j].end && a[j].start < a[i].end;
      EXPECT_FALSE(mem && life) << i << " and " << j << " overlap";
      const auto* b = p.conflicts.data() + p.conflict_begin[i];
      const auto* e = p.conflicts.data() + p.conflict_begin[i + 1];
      EXPECT_EQ(mem, std::find(b, e, j) != e) << "conflict " << j << " of " << i;
    }
  }
}

// A small CNN-like model: Conv -> Relu -> Conv -> Add (residual) -> Sigmoid
// -> Mul (SiLU) -> Clip -> GlobalAveragePool -> Flatten -> Gemm -> Softmax.
ModelBuilder cnn_model() {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 3, 32, 32});
  b.initializer("w1", random_float({8, 3, 3, 3}, 1)).initializer("b1", random_float({8}, 2));
  b.initializer("w2", random_float({8, 8, 3, 3}, 3)).initializer("wf", random_float({10, 8}, 4));
  b.initializer("lo", make<float>({}, {-2.f})).initializer("hi", make<float>({}, {2.f}));
  b.node("Conv", {"x", "w1", "b1"}, {"c1"}, {attr("pads", std::vector<int64_t>{1, 1, 1, 1})});
  b.node("Relu", {"c1"}, {"r1"});
  b.node("Conv", {"r1", "w2"}, {"c2"}, {attr("pads", std::vector<int64_t>{1, 1, 1, 1})});
  b.node("Add", {"c2", "r1"}, {"a"});
  b.node("Sigmoid", {"a"}, {"s"});
  b.node("Mul", {"a", "s"}, {"m"});
  b.node("Clip", {"m", "lo", "hi"}, {"k"});
  b.node("GlobalAveragePool", {"k"}, {"g"});
  b.node("Flatten", {"g"}, {"f"});
  b.node("Gemm", {"f", "wf"}, {"logits"}, {attr("transB", int64_t{1})});
  b.node("Softmax", {"logits"}, {"y"});
  b.output("y", DataType::kFloat).output("k", DataType::kFloat);
  return b;
}

uint64_t os_allocs() { return memory::counters().os_allocs; }

}  // namespace

TEST(MemoryPlan, ChainReusesMemory) {
  // Each value is released right after the next one is made.
  std::vector<exec::AllocInterval> a;
  for (int i = 0; i < 6; ++i) a.push_back({1024, 2 * i, 2 * i + 3});
  a.push_back({64, 12, exec::AllocInterval::kEscaped});
  auto p = exec::plan_memory(a);
  check_plan(a, p);
  EXPECT_EQ(p.arena_bytes, 2048u);
  EXPECT_EQ(p.offset.back(), exec::MemoryPlan::kExternal);
  EXPECT_EQ(p.peak_bytes, 2048u);
}

TEST(MemoryPlan, RandomIntervalsNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<exec::AllocInterval> a;
    int64_t clock = 0;
    std::vector<size_t> live;
    const int n = 20 + trial * 5;
    for (int i = 0; i < n; ++i) {
      a.push_back({64 * (1 + rng() % 64), clock++, exec::AllocInterval::kEscaped});
      live.push_back(a.size() - 1);
      while (!live.empty() && rng() % 3 == 0) {
        const size_t k = rng() % live.size();
        a[live[k]].end = clock++;
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      }
    }
    for (size_t k = 0; k < live.size(); ++k)
      if (k % 2) a[live[k]].end = clock++;  // the rest escape
    auto p = exec::plan_memory(a);
    check_plan(a, p);
    // Never worse than giving every placed allocation its own block.
    size_t sum = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i].end != exec::AllocInterval::kEscaped) sum += a[i].bytes;
    EXPECT_LE(p.arena_bytes, sum);
  }
}

TEST(MemoryPool, ReusesFreedBlocks) {
  size_t cap = 0;
  void* p = memory::pool_alloc(100000, &cap);
  EXPECT_GE(cap, 100000u);
  memory::pool_free(p, cap);
  const uint64_t before = os_allocs();
  size_t cap2 = 0;
  void* q = memory::pool_alloc(100000, &cap2);
  EXPECT_EQ(os_allocs(), before);
  EXPECT_EQ(q, p);
  memory::pool_free(q, cap2);
}

TEST(MemoryRun, NoAllocationWhenShapesRepeat) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    auto s = cnn_model().session(threads);
    const Tensor x = random_float({1, 3, 32, 32}, 9);
    // The first run records the plan. Outputs returned to the caller live
    // outside the arena; the caller releasing them lets later runs reuse them.
    std::vector<Tensor> first;
    for (const Value& v : s->run({Value(x)})) first.push_back(v.tensor().clone());
    const uint64_t before = os_allocs();
    std::vector<Value> out;
    for (int i = 0; i < 5; ++i) out = s->run({Value(x)});
    EXPECT_EQ(os_allocs(), before) << "OS allocations of tensor memory in runs 2..6";
    EXPECT_TRUE(tensors_near(out[0].tensor(), first[0], 0, 0));
    EXPECT_TRUE(tensors_near(out[1].tensor(), first[1], 0, 0));
    const MemoryStats m = s->memory_stats();
    EXPECT_EQ(m.plans, 1u);
    EXPECT_GT(m.arena_bytes, 0u);
    EXPECT_GT(m.peak_bytes, 0u);
    // Same numbers as the unplanned, unoptimized path (fused convolutions may
    // round differently).
    SessionOptions o;
    o.threads = threads;
    o.optimization_level = 0;
    auto ref = Session::load_from_memory(cnn_model().bytes(), o);
    auto want = ref->run({Value(x)});
    EXPECT_TRUE(tensors_near(out[0].tensor(), want[0].tensor(), 1e-4, 1e-5));
    EXPECT_TRUE(tensors_near(out[1].tensor(), want[1].tensor(), 1e-4, 1e-5));
  }
}

TEST(MemoryRun, HeldOutputsSurviveLaterRuns) {
  auto s = cnn_model().session(1);
  std::vector<std::vector<Value>> kept;
  std::vector<Tensor> copies;
  for (int i = 0; i < 4; ++i) {
    kept.push_back(s->run({Value(random_float({1, 3, 32, 32}, 20 + i))}));
    copies.push_back(kept.back()[1].tensor().clone());
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(tensors_near(kept[i][1].tensor(), copies[i], 0, 0)) << i;
  EXPECT_NE(kept[2][1].tensor().raw(), kept[3][1].tensor().raw());
}

TEST(MemoryRun, NewShapesGetTheirOwnPlan) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 64});
  b.node("Relu", {"x"}, {"r"}).node("Exp", {"r"}, {"e"}).node("Add", {"e", "r"}, {"y"});
  auto s = b.output("y", DataType::kFloat).session(1);
  for (int64_t n : {1, 7, 1, 7, 3}) {
    const Tensor x = random_float({n, 64}, static_cast<uint32_t>(n));
    for (int rep = 0; rep < 2; ++rep) {
      auto y = s->run({Value(x)})[0].tensor();
      auto xs = to_floats(x), ys = to_floats(y);
      for (size_t i = 0; i < xs.size(); ++i) {
        const float r = std::max(xs[i], 0.f);
        ASSERT_NEAR(ys[i], std::exp(r) + r, 1e-5f);
      }
    }
  }
  EXPECT_EQ(s->memory_stats().plans, 3u);
}

TEST(MemoryRun, DataDependentShapesStayCorrect) {
  // NonZero's output size depends on the data, not on the input shape.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {16});
  b.node("NonZero", {"x"}, {"nz"}).node("Cast", {"nz"}, {"f"}, {attr("to", int64_t{1})});
  b.node("Neg", {"f"}, {"n"}).node("Relu", {"x"}, {"r"}).node("ReduceSum", {"n"}, {"s"});
  auto s = b.output("s", DataType::kFloat).output("r", DataType::kFloat).session(1);
  for (int i = 0; i < 12; ++i) {
    std::vector<float> v(16, 0.f);
    float want = 0;
    for (int k = 0; k < 16; ++k)
      if ((k * 7 + i * 3) % (2 + i % 5) == 0) {
        v[k] = 1.f + k;
        want -= static_cast<float>(k);
      }
    auto out = s->run({Value(make<float>({16}, v))});
    EXPECT_FLOAT_EQ(out[0].tensor().data<float>()[0], want) << i;
    EXPECT_TRUE(tensors_near(out[1].tensor(), make<float>({16}, v), 0, 0));
  }
}

TEST(MemoryRun, ConcurrentRunsOfOneSession) {
  auto s = cnn_model().session(1);
  std::vector<Tensor> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(random_float({1, 3, 32, 32}, 40 + i));
    want.push_back(s->run({Value(xs[i])})[1].tensor());
  }
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int r = 0; r < 20; ++r) {
        auto out = s->run({Value(xs[(t + r) % 4])});
        if (!tensors_near(out[1].tensor(), want[(t + r) % 4], 0, 0)) ++bad;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(MemoryRun, CalledFromTheCallersParallelRegion) {
  auto s = cnn_model().session(2);
  const Tensor x = random_float({1, 3, 32, 32}, 50);
  const Tensor want = s->run({Value(x)})[1].tensor();
  std::atomic<int> bad{0};
#pragma omp parallel num_threads(2)
  for (int r = 0; r < 5; ++r) {
    auto out = s->run({Value(x)});
    if (!tensors_near(out[1].tensor(), want, 0, 0)) ++bad;
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(s->memory_stats().plans, 1u);
}

// ---- in-place element-wise kernels -----------------------------------------

TEST(InPlace, ContextRules) {
  ir::Node node;
  node.op_type = "Relu";
  node.inputs = {"a", "b"};
  node.outputs = {"y"};
  exec::Frame frame;
  Value a(Tensor(DataType::kFloat, {2, 3})), b(Tensor(DataType::kFloat, {2, 3}));
  const Value* ins[2] = {&a, &b};
  Value y;
  Value* outs[1] = {&y};
  const void* a_id = a.tensor().storage_id();
  {
    kernels::KernelContext ctx(node, frame, ins, outs, 1, /*dying=*/0b01);
    EXPECT_TRUE(ctx.can_reuse(0, DataType::kFloat, {6}));
    EXPECT_FALSE(ctx.can_reuse(0, DataType::kInt32, {2, 3}));  // other dtype
    EXPECT_FALSE(ctx.can_reuse(0, DataType::kFloat, {2, 4}));  // other size
    EXPECT_FALSE(ctx.can_reuse(1, DataType::kFloat, {2, 3}));  // still used later
    Tensor& t = ctx.allocate_or_reuse(0, 0, DataType::kFloat, {3, 2});
    EXPECT_EQ(t.storage_id(), a_id);
    EXPECT_EQ(t.shape(), (Shape{3, 2}));
  }
  {
    y = Value();
    Tensor extra = a.tensor();  // shared storage: not unique
    kernels::KernelContext ctx(node, frame, ins, outs, 1, 0b01);
    EXPECT_FALSE(ctx.can_reuse(0, DataType::kFloat, {2, 3}));
    EXPECT_NE(ctx.allocate_or_reuse(0, 0, DataType::kFloat, {2, 3}).storage_id(), a_id);
  }
  {
    const Value* ins2[2] = {&a, &a};  // both inputs read one buffer
    kernels::KernelContext ctx(node, frame, ins2, outs, 1, 0b11);
    EXPECT_FALSE(ctx.can_reuse(0, DataType::kFloat, {2, 3}));
  }
}

TEST(InPlace, ChainOfElementwiseOpsUsesOneBuffer) {
  // x -> Relu -> Neg -> Sigmoid -> Clip -> y: every intermediate dies at its
  // consumer, so after Relu each op writes over its input.
  const int64_t n = 1 << 16;
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {n});
  b.node("Relu", {"x"}, {"a"}).node("Neg", {"a"}, {"b"}).node("Sigmoid", {"b"}, {"c"});
  b.node("Clip", {"c"}, {"y"});
  auto s = b.output("y", DataType::kFloat).session(1);
  const Tensor x = random_float({n}, 5);
  const Tensor x_copy = x.clone();
  for (int i = 0; i < 3; ++i) {
    auto y = s->run({Value(x)})[0].tensor();
    auto xs = to_floats(x), ys = to_floats(y);
    for (int64_t k = 0; k < n; k += 97) ASSERT_NEAR(ys[k], 1.f / (1.f + std::exp(std::max(xs[k], 0.f))), 1e-6f);
    // Peak: one buffer for the chain (the graph input is the caller's).
    EXPECT_EQ(s->memory_stats().peak_bytes, static_cast<size_t>(n) * 4);
  }
  EXPECT_TRUE(tensors_near(x, x_copy, 0, 0)) << "the graph input was written";
}

TEST(InPlace, NeverOverValuesStillNeeded) {
  // a feeds Sigmoid and the final Add; b is a graph output and feeds Neg;
  // w is an initializer. None may be overwritten.
  const Tensor w = random_float({4, 8}, 6);
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {4, 8}).initializer("w", w);
  b.node("Relu", {"x"}, {"a"}).node("Sigmoid", {"a"}, {"s"}).node("Add", {"s", "a"}, {"b"});
  b.node("Neg", {"b"}, {"n"}).node("Mul", {"n", "w"}, {"y"}).node("Abs", {"w"}, {"z"});
  auto s = b.output("y", DataType::kFloat).output("b", DataType::kFloat).output("z", DataType::kFloat).session(1);
  const Tensor x = random_float({4, 8}, 8);
  for (int i = 0; i < 3; ++i) {
    auto out = s->run({Value(x)});
    auto xs = to_floats(x), ws = to_floats(w), ys = to_floats(out[0].tensor()), bs = to_floats(out[1].tensor()),
         zs = to_floats(out[2].tensor());
    for (size_t k = 0; k < xs.size(); ++k) {
      const float a = std::max(xs[k], 0.f);
      const float bv = 1.f / (1.f + std::exp(-a)) + a;
      ASSERT_NEAR(bs[k], bv, 1e-6f) << k;
      ASSERT_NEAR(ys[k], -bv * ws[k], 1e-6f) << k;
      ASSERT_EQ(zs[k], std::fabs(ws[k])) << k;
    }
  }
}

TEST(InPlace, BroadcastWritesOverTheFullShapedInput) {
  // r (dies at Add) has the output's shape; the bias is broadcast.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {3, 1024}).input("bias", DataType::kFloat, {1024});
  b.node("Relu", {"x"}, {"r"}).node("Add", {"bias", "r"}, {"y"});
  auto s = b.output("y", DataType::kFloat).session(1);
  const Tensor x = random_float({3, 1024}, 11), bias = random_float({1024}, 12);
  for (int i = 0; i < 2; ++i) {
    auto y = s->run({Value(x), Value(bias)})[0].tensor();
    auto xs = to_floats(x), bs = to_floats(bias), ys = to_floats(y);
    for (size_t k = 0; k < xs.size(); ++k) ASSERT_FLOAT_EQ(ys[k], std::max(xs[k], 0.f) + bs[k % 1024]);
    EXPECT_EQ(s->memory_stats().peak_bytes, size_t{3} * 1024 * 4);
  }
}
