// The model registry: versions, storage by content, tags, aliases, delete,
// validation, check and gc, discovery, and concurrent use.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "test_util.h"
#include "workspace/error.h"
#include "workspace/fs_util.h"
#include "workspace/registry.h"
#include "workspace/rest/context.h"
#include "workspace/sha256.h"
#include "workspace/sqlite.h"

using namespace pier;
using namespace pier::test;
namespace fs = std::filesystem;
using ws::ErrorKind;

namespace {

// A fresh folder, removed when the test ends.
class TempDir {
 public:
  explicit TempDir(const std::string& name) {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("pier_ws_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  operator const fs::path&() const { return path_; }  // NOLINT: implicit by design
  fs::path operator/(const std::string& s) const { return path_ / s; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// An Add model; `k` changes the constant so that contents differ.
std::string model_bytes(float k = 1.f) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {-1, 3});
  b.initializer("w", make<float>({3}, {k, 2, 3}));
  b.node("Add", {"x", "w"}, {"z"}).output("z", DataType::kFloat);
  b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
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

size_t count_files(const fs::path& dir) {
  size_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (!e.is_directory()) ++n;
  return n;
}

struct Fixture {
  TempDir tmp{"reg"};
  fs::path dir = tmp;
  ws::WorkspacePaths paths = ws::init_workspace(dir / "ws").paths;
  ws::Registry reg{paths};
  fs::path model(const std::string& name, float k = 1.f) {
    const fs::path p = dir / name;
    write_file(p, model_bytes(k));
    return p;
  }
  ws::RegisterRequest req(const std::string& name) {
    ws::RegisterRequest r;
    r.name = name;
    return r;
  }
};

}  // namespace

TEST(WorkspaceInit, CreatesTheLayoutAndIsIdempotent) {
  const TempDir d("init");
  auto r = ws::init_workspace(d / "w");
  EXPECT_TRUE(r.created);
  EXPECT_TRUE(fs::is_regular_file(d / "w" / "workspace.json"));
  EXPECT_TRUE(fs::is_regular_file(d / "w" / "registry.db"));
  EXPECT_TRUE(fs::is_directory(d / "w" / "blobs" / "sha256"));
  EXPECT_FALSE(ws::init_workspace(d / "w").created);
  write_file(d / "other" / "x", "");  // no folder: nothing written
  fs::create_directories(d / "other");
  write_file(d / "other" / "x", "data");
  EXPECT_EQ(kind_of([&] { ws::init_workspace(d / "other"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { ws::open_workspace(d / "other"); }), ErrorKind::kNotFound);
}

TEST(WorkspaceDiscovery, FlagThenEnvironmentThenConfigInAParent) {
  const TempDir d("disc");
  auto a = ws::init_workspace(d / "a").paths;
  auto b = ws::init_workspace(d / "b").paths;
  ws::write_config(d / "project", a.root);
  fs::create_directories(d / "project" / "x" / "y");
  unsetenv("PIER_WORKSPACE");
  auto loc = ws::locate_workspace("", d / "project" / "x" / "y");
  EXPECT_EQ(loc.paths.root, a.root);
  EXPECT_EQ(loc.source, (d / "project" / ".pier" / "config.json").string());
  setenv("PIER_WORKSPACE", b.root.c_str(), 1);
  EXPECT_EQ(ws::locate_workspace("", d / "project" / "x").paths.root, b.root);
  EXPECT_EQ(ws::locate_workspace(a.root.string(), fs::path(d)).paths.root, a.root);
  unsetenv("PIER_WORKSPACE");
  std::string msg;
  EXPECT_EQ(kind_of([&] { ws::locate_workspace("", "/"); }, &msg), ErrorKind::kNotFound);
  EXPECT_NE(msg.find("pier workspace init"), std::string::npos) << msg;
  // A relative path in the config is relative to the folder holding .pier/.
  ws::write_config(fs::path(d), d / "b");
  EXPECT_NE(read_file(d / ".pier" / "config.json").find("\"b\""), std::string::npos);
  EXPECT_EQ(ws::locate_workspace("", d / "project" / "..").paths.root, b.root);
}

TEST(WorkspaceRegistry, VersionsCountUpAndContentIsStoredOnce) {
  Fixture f;
  auto p = f.model("m.onnx");
  auto r1 = f.reg.register_file(p, f.req("m"));
  auto r2 = f.reg.register_file(p, f.req("m"));
  auto r3 = f.reg.register_file(f.model("m2.onnx", 5.f), f.req("m"));
  auto o1 = f.reg.register_file(p, f.req("other"));
  EXPECT_EQ(r1.version, 1);
  EXPECT_EQ(r2.version, 2);
  EXPECT_EQ(r3.version, 3);
  EXPECT_EQ(o1.version, 1);
  EXPECT_EQ(r1.sha256, r2.sha256);
  EXPECT_NE(r1.sha256, r3.sha256);
  EXPECT_EQ(count_files(f.paths.blobs()), 2u);
  EXPECT_EQ(r1.size, static_cast<int64_t>(model_bytes().size()));
  EXPECT_EQ(read_file(f.reg.blobs().path_for(r1.sha256)), model_bytes());
  EXPECT_TRUE(fs::is_empty(f.paths.tmp()));
}

TEST(WorkspaceRegistry, RecordHoldsSignatureAndMetadata) {
  Fixture f;
  auto req = f.req("m");
  req.tags = {{"stage", "dev"}, {"flag", ""}};
  req.properties = {{"accuracy", "0.9"}};
  req.description = "an adder";
  auto r = f.reg.register_file(f.model("m.onnx"), req);
  auto g = f.reg.get(ws::parse_ref("m:1"));
  for (const auto* x : {&r, &g}) {
    EXPECT_EQ(x->tags, req.tags);
    EXPECT_EQ(x->properties, req.properties);
    EXPECT_EQ(x->description, "an adder");
    ASSERT_EQ(x->inputs.size(), 1u);
    EXPECT_EQ(x->inputs[0].name, "x");
    EXPECT_EQ(x->inputs[0].type_str(), "tensor(float)[N,3]");
    ASSERT_EQ(x->outputs.size(), 1u);
    EXPECT_EQ(x->outputs[0].name, "z");
    ASSERT_EQ(x->opsets.size(), 1u);
    EXPECT_EQ(x->opsets[0], std::make_pair(std::string("ai.onnx"), int64_t{13}));
    EXPECT_TRUE(x->warnings.empty());
    EXPECT_EQ(x->created.size(), 24u);
  }
  EXPECT_EQ(g.created, r.created);
}

TEST(WorkspaceRegistry, ResolvesLatestVersionAndAlias) {
  Fixture f;
  f.reg.register_file(f.model("a.onnx"), f.req("m"));
  f.reg.register_file(f.model("b.onnx", 2.f), f.req("m"));
  EXPECT_EQ(f.reg.get(ws::parse_ref("m")).version, 2);
  EXPECT_EQ(f.reg.get(ws::parse_ref("m:1")).version, 1);
  EXPECT_FALSE(f.reg.set_alias("m", "production", 1));
  EXPECT_EQ(f.reg.get(ws::parse_ref("m@production")).version, 1);
  EXPECT_EQ(f.reg.get(ws::parse_ref("m:1")).aliases, std::vector<std::string>{"production"});
  EXPECT_EQ(*f.reg.set_alias("m", "production", 2), 1);
  EXPECT_EQ(f.reg.get(ws::parse_ref("m@production")).version, 2);
  EXPECT_EQ(f.reg.aliases("m"), (std::map<std::string, int64_t>{{"production", 2}}));
  std::string msg;
  EXPECT_EQ(kind_of([&] { f.reg.get(ws::parse_ref("m:7")); }, &msg), ErrorKind::kNotFound);
  EXPECT_NE(msg.find("latest version is 2"), std::string::npos) << msg;
  EXPECT_EQ(kind_of([&] { f.reg.get(ws::parse_ref("nope")); }), ErrorKind::kNotFound);
  EXPECT_EQ(kind_of([&] { f.reg.get(ws::parse_ref("m@staging")); }), ErrorKind::kNotFound);
  EXPECT_EQ(kind_of([&] { f.reg.set_alias("m", "staging", 9); }), ErrorKind::kNotFound);
  EXPECT_EQ(kind_of([&] { f.reg.set_alias("m", "123", 1); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(f.reg.remove_alias("m", "production"), 2);
  EXPECT_EQ(kind_of([&] { f.reg.remove_alias("m", "production"); }), ErrorKind::kNotFound);
}

TEST(WorkspaceRegistry, ListsAndFiltersByNameAndTag) {
  Fixture f;
  auto req = f.req("a");
  req.tags = {{"stage", "prod"}};
  f.reg.register_file(f.model("a.onnx"), req);
  f.reg.register_file(f.model("a.onnx"), f.req("a"));
  req.name = "b";
  req.tags = {{"stage", "dev"}};
  f.reg.register_file(f.model("a.onnx"), req);
  EXPECT_EQ(f.reg.list({}).size(), 3u);
  ws::ListFilter byname;
  byname.name = "a";
  EXPECT_EQ(f.reg.list(byname).size(), 2u);
  ws::ListFilter bytag;
  bytag.tags.push_back({"stage", std::nullopt});
  EXPECT_EQ(f.reg.list(bytag).size(), 2u);
  bytag.tags[0].value = "prod";
  auto l = f.reg.list(bytag);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].name, "a");
  EXPECT_EQ(l[0].version, 1);
  byname.name = "zzz";
  EXPECT_TRUE(f.reg.list(byname).empty());
}

TEST(WorkspaceRegistry, SetsAndRemovesTags) {
  Fixture f;
  f.reg.register_file(f.model("a.onnx"), f.req("m"));
  auto r = f.reg.update_tags(ws::parse_ref("m:1"), {{"stage", "prod"}, {"x", "1"}}, {}, true);
  EXPECT_EQ(r.tags, (std::map<std::string, std::string>{{"stage", "prod"}, {"x", "1"}}));
  r = f.reg.update_tags(ws::parse_ref("m:1"), {{"stage", "retired"}}, {"x"}, true);
  EXPECT_EQ(r.tags, (std::map<std::string, std::string>{{"stage", "retired"}}));
  EXPECT_EQ(kind_of([&] { f.reg.update_tags(ws::parse_ref("m:1"), {}, {"x"}, true); }), ErrorKind::kNotFound);
  EXPECT_NO_THROW(f.reg.update_tags(ws::parse_ref("m:1"), {}, {"x"}, false));
  EXPECT_EQ(kind_of([&] { f.reg.update_tags(ws::parse_ref("m"), {{"a", "b"}}, {}, true); }),
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { f.reg.update_tags(ws::parse_ref("m:1"), {{"bad key", "b"}}, {}, true); }),
            ErrorKind::kInvalidArgument);
  EXPECT_EQ(f.reg.get(ws::parse_ref("m:1")).tags.at("stage"), "retired");
}

TEST(WorkspaceRegistry, DeleteRemovesBlobsNoVersionUses) {
  Fixture f;
  auto p = f.model("a.onnx");
  auto r1 = f.reg.register_file(p, f.req("m"));
  f.reg.register_file(p, f.req("m"));
  auto r3 = f.reg.register_file(f.model("b.onnx", 3.f), f.req("m"));
  f.reg.set_alias("m", "production", 3);
  auto d = f.reg.remove(ws::parse_ref("m:1"));
  EXPECT_EQ(d.versions, std::vector<int64_t>{1});
  EXPECT_TRUE(d.blobs_removed.empty());  // version 2 has the same content
  d = f.reg.remove(ws::parse_ref("m@production"));
  EXPECT_EQ(d.versions, std::vector<int64_t>{3});
  EXPECT_EQ(d.blobs_removed, std::vector<std::string>{r3.sha256});
  EXPECT_TRUE(f.reg.aliases("m").empty());
  // Version numbers are not reused within a model...
  EXPECT_EQ(f.reg.register_file(p, f.req("m")).version, 4);
  d = f.reg.remove(ws::parse_ref("m"));
  EXPECT_EQ(d.versions, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(d.blobs_removed, std::vector<std::string>{r1.sha256});
  EXPECT_EQ(count_files(f.paths.blobs()), 0u);
  EXPECT_EQ(kind_of([&] { f.reg.remove(ws::parse_ref("m")); }), ErrorKind::kNotFound);
  // ...but a deleted model starts again at 1.
  EXPECT_EQ(f.reg.register_file(p, f.req("m")).version, 1);
  EXPECT_TRUE(f.reg.check().ok());
}

TEST(WorkspaceRegistry, InvalidInputsStoreNothing) {
  Fixture f;
  auto state = [&] { return std::make_pair(f.reg.list({}).size(), count_files(f.paths.root)); };
  const auto before = state();
  write_file(f.dir / "junk.onnx", "this is not a model");
  write_file(f.dir / "empty.onnx", "");
  const std::string good = model_bytes();
  write_file(f.dir / "trunc.onnx", good.substr(0, good.size() / 2));
  std::string msg;
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir / "junk.onnx", f.req("m")); }, &msg), ErrorKind::kInvalidModel);
  EXPECT_NE(msg.find((f.dir / "junk.onnx").string()), std::string::npos) << msg;
  EXPECT_EQ(msg.find(f.paths.tmp().string()), std::string::npos) << "names the staging copy: " << msg;
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir / "empty.onnx", f.req("m")); }), ErrorKind::kInvalidModel);
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir / "trunc.onnx", f.req("m")); }), ErrorKind::kInvalidModel);
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir / "missing.onnx", f.req("m")); }, &msg), ErrorKind::kNotFound);
  EXPECT_NE(msg.find("no such file"), std::string::npos) << msg;
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir, f.req("m")); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.model("ok.onnx"), f.req("bad/name")); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([&] { f.reg.register_bytes("", f.req("m")); }), ErrorKind::kInvalidModel);
  EXPECT_EQ(kind_of([&] { f.reg.register_bytes("junk", f.req("m")); }), ErrorKind::kInvalidModel);
  EXPECT_EQ(state(), before);
  EXPECT_TRUE(f.reg.check().ok());
  EXPECT_TRUE(f.reg.check().info.empty());
}

TEST(WorkspaceRegistry, ExternalDataIsRejectedClearly) {
  Fixture f;
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {3});
  b.node("Add", {"x", "w"}, {"z"}).output("z", DataType::kFloat);
  auto* t = b.graph().add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(3);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = t->add_external_data();
  kv->set_key("location");
  kv->set_value("w.bin");
  write_file(f.dir / "ext.onnx", b.bytes());
  write_file(f.dir / "w.bin", std::string(12, '\0'));
  std::string msg;
  EXPECT_EQ(kind_of([&] { f.reg.register_file(f.dir / "ext.onnx", f.req("m")); }, &msg), ErrorKind::kInvalidModel);
  EXPECT_NE(msg.find("external data"), std::string::npos) << msg;
  EXPECT_NE(msg.find("single-file"), std::string::npos) << msg;
  EXPECT_EQ(count_files(f.paths.blobs()), 0u);
}

TEST(WorkspaceRegistry, UnsupportedOperatorsAreWarnings) {
  Fixture f;
  ModelBuilder b(13);
  b.opset("com.example", 1);
  b.input("x", DataType::kFloat, {3});
  b.node("Frobnicate", {"x"}, {"z"}, {}, "com.example").output("z", DataType::kFloat, {3});
  auto r = f.reg.register_bytes(b.bytes(), f.req("custom"));
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("com.example::Frobnicate"), std::string::npos) << r.warnings[0];
  EXPECT_EQ(f.reg.get(ws::parse_ref("custom")).warnings, r.warnings);
}

TEST(WorkspaceRegistry, DownloadIsByteIdenticalAndChecksTheDigest) {
  Fixture f;
  auto r = f.reg.register_bytes(model_bytes(), f.req("m"));
  const fs::path out = f.reg.download(r, f.dir / "out.onnx");
  EXPECT_EQ(read_file(out), model_bytes());
  EXPECT_EQ(f.reg.download(r, f.dir), f.dir / "m-1.onnx");
  {
    // open_blob: checked, at offset 0, readable after the model is gone.
    auto r2 = f.reg.register_bytes(model_bytes(2.f), f.req("other"));
    ws::Fd fd(f.reg.open_blob(r2));
    ASSERT_TRUE(fd);
    f.reg.remove(ws::parse_ref("other"));
    std::string got(model_bytes(2.f).size() + 10, '\0');
    got.resize(static_cast<size_t>(::read(fd.get(), got.data(), got.size())));
    EXPECT_EQ(got, model_bytes(2.f));
  }
  // Damage the stored file: download refuses and leaves nothing behind.
  const fs::path blob = f.reg.blobs().path_for(r.sha256);
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  std::string bytes = model_bytes();
  bytes[bytes.size() / 2] ^= 1;
  write_file(blob, bytes);
  EXPECT_EQ(kind_of([&] { f.reg.download(r, f.dir / "bad.onnx"); }), ErrorKind::kCorrupt);
  EXPECT_EQ(kind_of([&] { ws::Fd(f.reg.open_blob(r)); }), ErrorKind::kCorrupt);
  EXPECT_FALSE(fs::exists(f.dir / "bad.onnx"));
  auto c = f.reg.check();
  EXPECT_FALSE(c.ok());
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("corrupt"), std::string::npos) << c.errors[0];
  // Registering the same content again repairs the blob... only if its size
  // differs; a same-size corruption stays reported.
  fs::remove(blob);
  c = f.reg.check();
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_NE(c.errors[0].find("missing"), std::string::npos) << c.errors[0];
  f.reg.register_bytes(model_bytes(), f.req("m"));  // puts the blob back
  EXPECT_TRUE(f.reg.check().ok());
}

TEST(WorkspaceMaintenance, CheckReportsLeftoversAsInfoAndGcRemovesThem) {
  Fixture f;
  f.reg.register_bytes(model_bytes(), f.req("m"));
  // An orphan blob (as a crash between the blob and the commit leaves) and a
  // staging folder whose register died.
  const std::string other = model_bytes(9.f);
  ws::BlobStore store(f.paths.blobs());
  write_file(f.dir / "orphan", other);
  store.put(f.dir / "orphan", ws::sha256_hex(other), static_cast<int64_t>(other.size()));
  fs::create_directories(f.paths.tmp() / "99999999-deadbeef");
  write_file(f.paths.tmp() / "99999999-deadbeef" / "x.onnx", "partial");
  auto c = f.reg.check();
  EXPECT_TRUE(c.ok());
  EXPECT_EQ(c.info.size(), 2u);
  auto g = f.reg.gc();
  EXPECT_EQ(g.blobs_removed, std::vector<std::string>{ws::sha256_hex(other)});
  EXPECT_EQ(g.staging_removed.size(), 1u);
  EXPECT_EQ(g.bytes_freed, static_cast<int64_t>(other.size()));
  c = f.reg.check();
  EXPECT_TRUE(c.ok());
  EXPECT_TRUE(c.info.empty());
  EXPECT_EQ(c.versions, 1);
}

TEST(WorkspaceMaintenance, CheckFindsBadRows) {
  Fixture f;
  f.reg.register_bytes(model_bytes(), f.req("m"));
  {
    // Damage a row behind the registry's back.
    ws::Db db(f.paths.db(), false);
    db.exec("UPDATE versions SET inputs = '{broken' WHERE name = 'm'");
  }
  auto c = f.reg.check();
  EXPECT_FALSE(c.ok());
  ASSERT_FALSE(c.errors.empty());
  EXPECT_NE(c.errors[0].find("m:1"), std::string::npos) << c.errors[0];
}

TEST(WorkspaceConcurrency, ThreadsRegisteringOneNameGetDistinctVersions) {
  Fixture f;
  const std::string bytes = model_bytes();
  constexpr int kThreads = 4, kEach = 10;
  std::vector<std::thread> ts;
  std::vector<std::vector<int64_t>> got(kThreads);
  for (int t = 0; t < kThreads; ++t)
    ts.emplace_back([&, t] {
      ws::Registry reg(f.paths);  // one connection per thread
      for (int i = 0; i < kEach; ++i) got[t].push_back(reg.register_bytes(bytes, f.req("m")).version);
    });
  for (auto& t : ts) t.join();
  std::set<int64_t> all;
  for (auto& g : got) all.insert(g.begin(), g.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kThreads * kEach));
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), kThreads * kEach);
  EXPECT_EQ(f.reg.list({}).size(), static_cast<size_t>(kThreads * kEach));
}

TEST(WorkspaceConcurrency, DeletesRacingRegistersOfTheSameContentLeaveNoDanglingRow) {
  Fixture f;
  const std::string bytes = model_bytes();
  std::atomic<bool> done{false};
  std::thread deleter([&] {
    ws::Registry reg(f.paths);
    while (!done) {
      try {
        reg.remove(ws::parse_ref("m"));
      } catch (const ws::Error&) {
      }
    }
  });
  {
    ws::Registry reg(f.paths);
    for (int i = 0; i < 30; ++i) {
      auto r = reg.register_bytes(bytes, f.req("m"));
      (void)r;
    }
  }
  done = true;
  deleter.join();
  auto c = f.reg.check();
  EXPECT_TRUE(c.ok()) << (c.errors.empty() ? "" : c.errors[0]);
}

// A writer that cannot get the database's lock within the busy timeout gets
// kBusy (REST: 503 with Retry-After), not a generic I/O failure.
TEST(WorkspaceConcurrency, LockHeldPastTheBusyTimeoutIsBusy) {
  TempDir dir("busy");
  const fs::path path = dir / "lock.db";
  ws::Db holder(path, true, 100), waiter(path, false, 100);
  holder.exec("CREATE TABLE t(x)");
  holder.exec("BEGIN IMMEDIATE");
  try {
    waiter.exec("BEGIN IMMEDIATE");
    ADD_FAILURE() << "took a lock another connection holds";
  } catch (const ws::Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBusy) << e.what();
    EXPECT_NE(std::string(e.what()).find("try again"), std::string::npos) << e.what();
    const http::Response r = ws::rest::error_response(e);
    EXPECT_EQ(r.status, 503);
    ASSERT_NE(r.headers.find("Retry-After"), nullptr);
    EXPECT_EQ(*r.headers.find("Retry-After"), "1");
  }
  holder.exec("COMMIT");
  waiter.exec("BEGIN IMMEDIATE");  // free again
  waiter.exec("COMMIT");
}
