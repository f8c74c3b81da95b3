// Local deployments as the workspace records them (deploy/store.h), and the
// process helpers the supervisor uses.
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>

#include "deploy/process.h"
#include "deploy/store.h"
#include "test_util.h"
#include "workspace/error.h"
#include "workspace/registry.h"

using namespace pier;
using namespace pier::test;
namespace fs = std::filesystem;
using ws::ErrorKind;

namespace {

std::string add_model(float k) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 3});
  b.initializer("w", make<float>({3}, {k, 2, 3}));
  b.node("Add", {"x", "w"}, {"z"}).output("z", DataType::kFloat);
  return b.bytes();
}

ErrorKind kind_of(const std::function<void()>& fn, std::string* msg = nullptr) {
  try {
    fn();
  } catch (const ws::Error& e) {
    if (msg) *msg = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::kIO;
}

struct Fixture {
  fs::path dir = fs::temp_directory_path() / ("pier_deploy_store_" + std::to_string(getpid()));
  ws::WorkspacePaths paths;
  std::unique_ptr<ws::Registry> reg;
  Fixture() {
    fs::remove_all(dir);
    paths = ws::init_workspace(dir).paths;
    reg = std::make_unique<ws::Registry>(paths);
    ws::RegisterRequest r;
    r.name = "m";
    reg->register_bytes(add_model(1), r);
    reg->register_bytes(add_model(2), r);
  }
  ~Fixture() {
    reg.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

}  // namespace

TEST(DeployNames, AreDnsLabels) {
  const std::vector<std::string> good = {"a", "svc", "my-svc-2", std::string(63, 'a')};
  for (const auto& ok : good)
    EXPECT_NO_THROW(deploy::validate_deployment_name(ok)) << ok;
  std::string msg;
  const std::vector<std::string> bads = {"", "Svc", "1svc", "svc-", "s_v", "s.v", "../x", std::string(64, 'a')};
  for (const auto& bad : bads)
    EXPECT_EQ(kind_of([&] { deploy::validate_deployment_name(bad); }, &msg), ErrorKind::kInvalidArgument) << bad;
  kind_of([&] { deploy::validate_deployment_name("a/b"); }, &msg);
  EXPECT_NE(msg.find("'/'"), std::string::npos) << msg;
}

TEST(DeployStore, RecordsUpdatesAndRemovesDeployments) {
  Fixture f;
  deploy::Store store(f.paths);
  deploy::Deployment d;
  d.name = "svc";
  d.host = "127.0.0.1";
  d.port = 8123;
  d.models = {{"m", 1}};
  d.spec.api_keys = {"k1", "k2"};
  store.insert(d);
  EXPECT_EQ(kind_of([&] { store.insert(d); }), ErrorKind::kConflict);
  auto got = store.get("svc");
  EXPECT_EQ(got.state, deploy::kCreating);
  EXPECT_EQ(got.scoring_uri(), "http://127.0.0.1:8123/score");
  EXPECT_EQ(got.spec.api_keys, (std::vector<std::string>{"k1", "k2"}));
  ASSERT_EQ(got.models.size(), 1u);
  EXPECT_EQ(got.models[0].version, 1);
  EXPECT_EQ(kind_of([&] { store.begin_update("svc", {{"m", 2}}, got.spec); }), ErrorKind::kConflict);  // Creating
  store.set_state("svc", deploy::kHealthy, "");
  store.set_servers("svc", {{42, 7, 1, true}});
  EXPECT_EQ(store.get("svc").servers.at(0).pid, 42);
  // A served version cannot be deleted from the registry.
  std::string msg;
  EXPECT_EQ(kind_of([&] { f.reg->remove(ws::parse_ref("m:1")); }, &msg), ErrorKind::kConflict);
  EXPECT_NE(msg.find("deployment \"svc\""), std::string::npos) << msg;
  EXPECT_EQ(kind_of([&] { f.reg->remove(ws::parse_ref("m")); }), ErrorKind::kConflict);
  // Update: both generations are recorded until the switch.
  deploy::Spec spec = got.spec;
  spec.replicas = 3;
  EXPECT_EQ(store.begin_update("svc", {{"m", 2}}, spec), 2);
  got = store.get("svc");
  EXPECT_EQ(got.state, deploy::kUpdating);
  EXPECT_EQ(got.target_models.at(0).version, 2);
  EXPECT_EQ(kind_of([&] { f.reg->remove(ws::parse_ref("m:2")); }), ErrorKind::kConflict);
  EXPECT_EQ(kind_of([&] { store.begin_update("svc", {{"m", 2}}, spec); }), ErrorKind::kConflict);
  store.abort_update("svc", "it broke");
  got = store.get("svc");
  EXPECT_EQ(std::make_tuple(got.state, got.generation, got.target_generation, got.error),
            std::make_tuple(std::string(deploy::kHealthy), int64_t{1}, int64_t{1}, std::string("it broke")));
  EXPECT_TRUE(got.target_models.empty());
  store.begin_update("svc", {{"m", 2}}, spec);
  store.commit_update("svc");
  got = store.get("svc");
  EXPECT_EQ(std::make_tuple(got.generation, got.models.at(0).version, got.spec.replicas), std::make_tuple(int64_t{2}, int64_t{2}, 3));
  f.reg->remove(ws::parse_ref("m:1"));  // no longer served
  EXPECT_EQ(store.list().size(), 1u);
  store.remove("svc");
  EXPECT_FALSE(store.find("svc"));
  EXPECT_EQ(kind_of([&] { store.get("svc"); }), ErrorKind::kNotFound);
  f.reg->remove(ws::parse_ref("m"));
  EXPECT_TRUE(f.reg->check().ok());
}

TEST(DeployProcess, StartTimesKeysAndListeners) {
  EXPECT_GT(deploy::process_start(getpid()), 0);
  EXPECT_TRUE(deploy::process_alive(getpid(), deploy::process_start(getpid())));
  EXPECT_FALSE(deploy::process_alive(getpid(), deploy::process_start(getpid()) + 1));  // a reused pid
  EXPECT_EQ(deploy::process_start(0), 0);
  const std::string a = deploy::random_key(), b = deploy::random_key();
  EXPECT_EQ(a.size(), 43u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), std::string::npos);
  int port = 0;
  const int fd = deploy::open_listener("127.0.0.1", port);
  EXPECT_GT(port, 0);
  int again = port;
  std::string msg;
  EXPECT_EQ(kind_of([&] { deploy::open_listener("127.0.0.1", again); }, &msg), ErrorKind::kConflict);
  EXPECT_NE(msg.find("is in use"), std::string::npos) << msg;
  ::close(fd);
  EXPECT_EQ(kind_of([&] { int p = 0; deploy::open_listener("nowhere", p); }), ErrorKind::kInvalidArgument);
}
