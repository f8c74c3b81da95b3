// pier_server internals: the scheduler's fairness and caps, JSON to tensor
// conversion and its errors, shape checks, metrics text, API key checks and
// the access-log line.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/access_log.h"
#include "server/auth.h"
#include "server/errors.h"
#include "server/json_in.h"
#include "server/json_out.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/shapes.h"

using namespace pier;
using namespace pier::server;
using namespace std::chrono_literals;

namespace {

// The RequestError message of fn(), or "" when it does not throw.
template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.what();
  }
  return "";
}

Tensor from_json(const std::string& text, DataType dt) {
  auto doc = parse_json(text, "the body");
  const Shape s = nested_shape(doc, "input \"x\"");
  return json_to_tensor(doc, dt, s, "input \"x\"");
}

ValueInfo info(std::vector<int64_t> dims, std::vector<std::string> params, std::string name = "x") {
  ValueInfo v;
  v.name = std::move(name);
  v.dtype = DataType::kFloat;
  v.has_shape = true;
  v.dims = std::move(dims);
  v.dim_params = std::move(params);
  return v;
}

}  // namespace

TEST(ServerScheduler, RunsModelsRoundRobinWithinTheirCaps) {
  Scheduler s(2);
  const size_t slow = s.add_queue(1, 100), fast = s.add_queue(2, 100);
  std::atomic<int> slow_running{0}, slow_max{0}, fast_done{0};
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(s.submit(slow, [&](Scheduler::Clock::time_point) {
      const int n = ++slow_running;
      slow_max = std::max(slow_max.load(), n);
      std::this_thread::sleep_for(150ms);
      --slow_running;
    }));
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration fast_took{};
  ASSERT_TRUE(s.submit(fast, [&](Scheduler::Clock::time_point) {
    fast_took = std::chrono::steady_clock::now() - t0;
    ++fast_done;
  }));
  s.shutdown();  // runs everything queued
  EXPECT_EQ(slow_max.load(), 1);  // the cap
  EXPECT_EQ(fast_done.load(), 1);
  EXPECT_LT(fast_took, 140ms);  // not behind the first slow job
}

TEST(ServerScheduler, RefusesWhenTheQueueIsFull) {
  Scheduler s(1);
  const size_t q = s.add_queue(1, 1);
  std::atomic<bool> started{false}, release{false};
  ASSERT_TRUE(s.submit(q, [&](Scheduler::Clock::time_point) {
    started = true;
    while (!release) std::this_thread::sleep_for(1ms);
  }));
  while (!started) std::this_thread::sleep_for(1ms);  // the first job runs, the queue is empty
  EXPECT_TRUE(s.submit(q, [](Scheduler::Clock::time_point) {}));
  EXPECT_FALSE(s.submit(q, [](Scheduler::Clock::time_point) {}));
  release = true;
  s.shutdown();
  EXPECT_FALSE(s.submit(q, [](Scheduler::Clock::time_point) {}));
}

TEST(ServerJson, NestedArraysBecomeTensorsOfTheInputType) {
  Tensor t = from_json("[[1, 2.5], [3e2, -4]]", DataType::kFloat);
  EXPECT_EQ(t.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.data<float>()[1], 2.5f);
  EXPECT_EQ(t.data<float>()[2], 300.f);
  t = from_json("[[7], [-8.0]]", DataType::kInt64);
  EXPECT_EQ(t.data<int64_t>()[1], -8);
  t = from_json("5", DataType::kUInt8);
  EXPECT_EQ(t.shape(), Shape{});
  EXPECT_EQ(t.data<uint8_t>()[0], 5);
  t = from_json("[true, 0, 1]", DataType::kBool);
  EXPECT_EQ(t.data<bool>()[0], true);
  EXPECT_EQ(t.data<bool>()[1], false);
  t = from_json("[[], []]", DataType::kFloat);
  EXPECT_EQ(t.shape(), (Shape{2, 0}));
  t = from_json("[\"a\", \"\\u00e9\"]", DataType::kString);
  EXPECT_EQ(t.data<std::string>()[1], "\xc3\xa9");
  t = from_json("[9223372036854775807, -9223372036854775808]", DataType::kInt64);
  EXPECT_EQ(t.data<int64_t>()[0], INT64_MAX);
  EXPECT_EQ(t.data<int64_t>()[1], INT64_MIN);
  t = from_json("[18446744073709551615]", DataType::kUInt64);
  EXPECT_EQ(t.data<uint64_t>()[0], UINT64_MAX);
}

TEST(ServerJson, BadElementsAreNamedWithTheirIndex) {
  EXPECT_EQ(error_of([] { from_json("[[1, 2], [3, \"x\"]]", DataType::kFloat); }),
            "input \"x\": element [1,1] is a string, expected a number (input type float)");
  EXPECT_EQ(error_of([] { from_json("[1.5]", DataType::kInt32); }),
            "input \"x\": element [0] is 1.5, not an integer (input type int32)");
  EXPECT_EQ(error_of([] { from_json("[128]", DataType::kInt8); }),
            "input \"x\": element [0] is 128, out of range for int8");
  EXPECT_EQ(error_of([] { from_json("[-1]", DataType::kUInt32); }),
            "input \"x\": element [0] is -1, out of range for uint32");
  EXPECT_EQ(error_of([] { from_json("[9223372036854775808.0]", DataType::kInt64); }),
            "input \"x\": element [0] is 9223372036854775808, out of range for int64");
  EXPECT_EQ(error_of([] { from_json("[2]", DataType::kBool); }),
            "input \"x\": element [0] is 2, expected true, false, 0 or 1 (input type bool)");
  EXPECT_NE(error_of([] { from_json("[[1, 2], [3]]", DataType::kFloat); }).find("ragged"), std::string::npos);
  EXPECT_NE(error_of([] { from_json("[[1, 2], 3]", DataType::kFloat); }).find("ragged"), std::string::npos);
  EXPECT_NE(error_of([] { from_json("[1, [2]]", DataType::kFloat); }).find("ragged"), std::string::npos);
  EXPECT_EQ(error_of([] { parse_json("[1, 2", "the body"); }).substr(0, 27), "the body is not valid JSON:");
  EXPECT_EQ(error_of([] { parse_json("\"\xff\"", "the body"); }), "the body is not valid UTF-8");
}

TEST(ServerShapes, ChecksRankDimsAndSymbolsAcrossInputs) {
  ShapeCheck c;
  c.check(info({-1, 4}, {"N", ""}), {3, 4});
  EXPECT_EQ(error_of([&] { c.check(info({-1, 4}, {"N", ""}, "y"), {2, 4}); }),
            "input \"y\": dim 0 (\"N\") is 2, but input \"x\" has N = 3");
  EXPECT_EQ(error_of([&] { ShapeCheck().check(info({-1, 4}, {"N", ""}), {3, 5}); }),
            "input \"x\": expected shape [N,4], got [3,5] (dim 1 must be 4)");
  EXPECT_EQ(error_of([&] { ShapeCheck().check(info({-1, 4}, {"", ""}), {4}); }),
            "input \"x\": expected rank 2 (shape [?,4]), got rank 1 (shape [4])");
  EXPECT_EQ(checked_numel({2, 3}, 6, "x"), 6);
  EXPECT_EQ(checked_numel({0, int64_t{1} << 62}, 1, "x"), 0);
  EXPECT_NE(error_of([] { checked_numel({int64_t{1} << 32, int64_t{1} << 32}, 1 << 20, "x"); }).find("more elements"),
            std::string::npos);
  EXPECT_NE(error_of([] { checked_numel({4, -1}, 100, "x"); }).find("negative"), std::string::npos);
}

TEST(ServerJson, WritesShortestFloatsNestedAndFlat) {
  Tensor t = Tensor::from_vector<float>({0.1f, 1e-45f, 3.f, std::numeric_limits<float>::infinity()}, {2, 2});
  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartArray();
  write_nested(w, t);
  write_flat(w, t);
  write_string(w, std::string("ok\xff", 3));
  w.EndArray();
  EXPECT_EQ(std::string(sb.GetString()), "[[[0.1,1e-45],[3,Infinity]],[0.1,1e-45,3,Infinity],\"ok\xef\xbf\xbd\"]");
}

TEST(ServerMetrics, RendersPrometheusText) {
  Metrics m;
  ModelMetrics& a = m.add_model("m\"x", "2");
  a.enter();
  a.queued(0.0003);
  a.inference_done();
  a.request_done(200, 0.002);
  a.request_done(400, 0.00002);
  a.request_done(418, 1);
  const std::string text = m.render();
  EXPECT_NE(text.find("pier_requests_total{model=\"m\\\"x\",version=\"2\",status=\"200\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("status=\"418\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("pier_request_duration_seconds_bucket{model=\"m\\\"x\",version=\"2\",le=\"5e-05\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("pier_request_duration_seconds_bucket{model=\"m\\\"x\",version=\"2\",le=\"0.0025\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("pier_request_duration_seconds_count{model=\"m\\\"x\",version=\"2\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("pier_queue_duration_seconds_bucket{model=\"m\\\"x\",version=\"2\",le=\"0.0005\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("pier_requests_in_flight{model=\"m\\\"x\",version=\"2\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("pier_inferences_total{model=\"m\\\"x\",version=\"2\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nprocess_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("\nprocess_uptime_seconds "), std::string::npos);
}

TEST(ServerAuth, BearerKeys) {
  ApiKeys keys({"k1", "k2"});
  http::Request req;
  EXPECT_EQ(keys.check(req)->status, 401);
  req.headers.add("Authorization", "Bearer k2");
  EXPECT_FALSE(keys.check(req));
  req.headers.set("Authorization", "bearer  k1 ");
  EXPECT_FALSE(keys.check(req));
  req.headers.set("Authorization", "Bearer k");
  EXPECT_EQ(keys.check(req)->status, 401);
  req.headers.set("Authorization", "Basic k1");
  EXPECT_EQ(keys.check(req)->status, 401);
  EXPECT_FALSE(ApiKeys({}).check(http::Request()));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

TEST(ServerAccessLog, OneJsonLinePerRequest) {
  std::vector<std::pair<std::string, std::string>> fields = {{"model", "mlp"}, {"version", "3"}};
  http::AccessRecord r;
  r.remote = "127.0.0.1:5";
  r.method = "POST";
  r.target = "/score?x=\xff";
  r.status = 200;
  r.seconds = 0.0012345;
  r.request_bytes = 10;
  r.response_bytes = 20;
  r.fields = &fields;
  const std::string line = access_line(r);
  EXPECT_NE(line.find("\"path\":\"/score\",\"model\":\"mlp\",\"version\":\"3\",\"status\":200,\"latency_ms\":1.234,"
                      "\"bytes_in\":10,\"bytes_out\":20}"),
            std::string::npos)
      << line;
  r.fields = nullptr;
  r.target = "/\xff";
  const std::string bare = access_line(r);
  EXPECT_NE(bare.find("\"path\":\"/?\",\"model\":null,\"version\":null"), std::string::npos) << bare;
}
