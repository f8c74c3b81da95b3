// Session-level behaviour: loading errors, external data, input checks,
// concurrency and threads.
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ir/onnx_convert.h"
#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

std::string temp_dir(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("pier_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(p);
  return p.string();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ModelBuilder add_model() {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3}).input("y", DataType::kFloat, {3});
  b.node("Add", {"x", "y"}, {"z"}).output("z", DataType::kFloat);
  return b;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int process_threads() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

}  // namespace

TEST(Load, EmptyFileIsRejectedClearly) {
  const std::string d = temp_dir("empty");
  write_file(d + "/m.onnx", "");
  std::string msg = error_of([&] { Session::load(d + "/m.onnx"); });
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(Load, TruncatedAndTextFilesAreRejectedClearly) {
  const std::string d = temp_dir("trunc");
  std::string bytes = add_model().bytes();
  write_file(d + "/t.onnx", bytes.substr(0, bytes.size() / 2));
  std::string msg = error_of([&] { Session::load(d + "/t.onnx"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  write_file(d + "/text.onnx", "this is not a model\nat all\n");
  msg = error_of([&] { Session::load(d + "/text.onnx"); });
  EXPECT_FALSE(msg.empty());
  EXPECT_THROW(Session::load(d + "/missing.onnx"), Error);
}

TEST(Load, UnknownOperatorIsNamedWithDomainAndOpset) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {2}).node("Foo", {"x"}, {"y"}).output("y", DataType::kFloat, {2});
  std::string msg = error_of([&] { b.session(); });
  EXPECT_NE(msg.find("unsupported operator ai.onnx::Foo (opset 13) at node \"Foo_1\""), std::string::npos) << msg;
}

TEST(Load, BadAttributeTypeIsRejected) {
  ModelBuilder b(13);
  b.input("x", DataType::kInt32, {2}).input("y", DataType::kInt32, {2});
  b.node("Mod", {"x", "y"}, {"z"}, {attr("fmod", "yes")}).output("z", DataType::kInt32);
  std::string msg = error_of([&] { b.session(); });
  EXPECT_NE(msg.find("fmod"), std::string::npos) << msg;
}

TEST(Load, RejectsUnsupportedIrVersionAndOpset) {
  ModelBuilder b = add_model();
  onnx::ModelProto m;
  m.ParseFromString(b.bytes());
  m.set_ir_version(2);
  std::string msg = error_of([&] { Session::load_from_memory(m.SerializeAsString()); });
  EXPECT_NE(msg.find("IR version 2"), std::string::npos) << msg;
  m.set_ir_version(8);
  m.mutable_opset_import(0)->set_version(18);
  msg = error_of([&] { Session::load_from_memory(m.SerializeAsString()); });
  EXPECT_NE(msg.find("opset 18"), std::string::npos) << msg;
}

TEST(Load, ReadsExternalDataBesideTheModel) {
  const std::string d = temp_dir("external");
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {4});
  b.node("Add", {"x", "w"}, {"y"}).output("y", DataType::kFloat, {4});
  onnx::ModelProto m;
  m.ParseFromString(b.bytes());
  auto* w = m.mutable_graph()->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto kv = [&](const char* k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  kv("location", "weights.bin");
  kv("offset", "8");
  kv("length", "16");
  float vals[6] = {-1, -1, 1, 2, 3, 4};
  write_file(d + "/weights.bin", std::string(reinterpret_cast<char*>(vals), sizeof vals));
  write_file(d + "/m.onnx", m.SerializeAsString());
  auto s = Session::load(d + "/m.onnx");
  auto out = s->run({make<float>({4}, {10, 20, 30, 40})});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({4}, {11, 22, 33, 44})));

  // A location that escapes the model's directory is refused.
  w->mutable_external_data(0)->set_value("../weights.bin");
  write_file(d + "/escape.onnx", m.SerializeAsString());
  std::string msg = error_of([&] { Session::load(d + "/escape.onnx"); });
  EXPECT_NE(msg.find("leaves the model's directory"), std::string::npos) << msg;
  // A missing file is an error naming it.
  w->mutable_external_data(0)->set_value("nope.bin");
  write_file(d + "/missing.onnx", m.SerializeAsString());
  msg = error_of([&] { Session::load(d + "/missing.onnx"); });
  EXPECT_NE(msg.find("nope.bin"), std::string::npos) << msg;
}

TEST(Run, WrongShapeTypeAndCountAreClearErrors) {
  auto s = add_model().session();
  std::string msg = error_of([&] { s->run({make<float>({2, 4}, {0, 0, 0, 0, 0, 0, 0, 0}), make<float>({3}, {1, 2, 3})}); });
  EXPECT_NE(msg.find("input \"x\": expected shape [?,3], got [2,4]"), std::string::npos) << msg;
  msg = error_of([&] { s->run({make<int64_t>({1, 3}, {1, 2, 3}), make<float>({3}, {1, 2, 3})}); });
  EXPECT_NE(msg.find("expected tensor(float)"), std::string::npos) << msg;
  msg = error_of([&] { s->run({make<float>({1, 3}, {1, 2, 3})}); });
  EXPECT_NE(msg.find("takes 2 inputs"), std::string::npos) << msg;
}

TEST(Run, NamedFeedsAndOutputSelection) {
  auto s = add_model().session();
  auto out = s->run({{"y", make<float>({3}, {1, 1, 1})}, {"x", make<float>({1, 3}, {1, 2, 3})}}, {"z"});
  EXPECT_TRUE(tensors_near(out[0].tensor(), make<float>({1, 3}, {2, 3, 4})));
  EXPECT_THROW(s->run({{"nope", make<float>({3}, {1, 1, 1})}}), Error);
}

TEST(Run, OneSessionFromManyThreadsAtOnce) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 64}).input("y", DataType::kFloat, {64});
  b.node("Mul", {"x", "y"}, {"t"}).node("Add", {"t", "x"}, {"z"}).output("z", DataType::kFloat);
  auto s = b.session(2);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int it = 0; it < 50; ++it) {
        Tensor x = random_float({16 + t, 64}, 100 * t + it), y = random_float({64}, t);
        auto out = s->run({x, y});
        const float* px = x.data<float>();
        const float* py = y.data<float>();
        const float* pz = out[0].tensor().data<float>();
        for (int64_t i = 0; i < x.numel(); ++i)
          if (pz[i] != px[i] * py[i % 64] + px[i]) bad++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Runs in its own process under ctest: with threads = 1 no worker thread
// may ever be started.
TEST(Threads, OneThreadMeansTheCallingThreadAlone) {
  if (process_threads() != 1) GTEST_SKIP() << "needs a fresh process (ctest runs each test alone)";
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1}).input("y", DataType::kFloat, {-1});
  b.node("Add", {"x", "y"}, {"z"}).output("z", DataType::kFloat);
  auto s = b.session(1);
  Tensor x = random_float({1 << 20}, 1), y = random_float({1 << 20}, 2);
  for (int i = 0; i < 3; ++i) s->run({x, y});
  EXPECT_EQ(process_threads(), 1);
}

TEST(Threads, IdleWorkersSleep) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1}).input("y", DataType::kFloat, {-1});
  b.node("Add", {"x", "y"}, {"z"}).output("z", DataType::kFloat);
  auto s = b.session(4);
  Tensor x = random_float({1 << 22}, 1), y = random_float({1 << 22}, 2);
  for (int i = 0; i < 3; ++i) s->run({x, y});
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let spinning end
  const double before = cpu_seconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const double used = cpu_seconds() - before;
  EXPECT_GT(process_threads(), 1);  // workers exist...
  EXPECT_LT(used, 0.05) << "idle process used " << used << " s of CPU in 0.5 s";  // ...and sleep
}
