// pier_packaging: the tar writer (ustar and pax headers), deterministic
// gzip, layers built from host files with their symbolic links, image
// references and YAML quoting.
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>
#include <fstream>

#include "packaging/gzip.h"
#include "packaging/image.h"
#include "packaging/k8s.h"
#include "packaging/layer.h"
#include "packaging/tar.h"
#include "packaging/yaml.h"

using namespace pier::pkg;
namespace fs = std::filesystem;

namespace {

struct TarEntry {
  std::string name, link;
  char type;
  uint64_t size, mtime;
  unsigned mode, uid;
  std::string content;
};

uint64_t octal(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; ++i) v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  return v;
}

// A minimal reader: ustar headers with prefix, and pax "path", "linkpath"
// and "size" records, as GNU tar and Go's archive/tar read them.
std::vector<TarEntry> read_tar(const std::string& t) {
  std::vector<TarEntry> out;
  std::map<std::string, std::string> pax;
  for (size_t off = 0; off + 512 <= t.size();) {
    const char* h = t.data() + off;
    if (std::all_of(h, h + 512, [](char c) { return c == 0; })) break;
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    EXPECT_EQ(sum, octal(h + 148, 8)) << "bad checksum at " << off;
    EXPECT_EQ(std::string(h + 257, 5), "ustar");
    TarEntry e;
    e.type = h[156];
    e.size = octal(h + 124, 12);
    e.mtime = octal(h + 136, 12);
    e.mode = static_cast<unsigned>(octal(h + 100, 8));
    e.uid = static_cast<unsigned>(octal(h + 108, 8));
    const std::string prefix(h + 345, strnlen(h + 345, 155));
    const std::string name(h, strnlen(h, 100));
    e.name = prefix.empty() ? name : prefix + "/" + name;
    e.link = std::string(h + 157, strnlen(h + 157, 100));
    if (pax.count("size")) e.size = std::stoull(pax["size"]);
    off += 512;
    e.content = t.substr(off, e.size);
    off += (e.size + 511) / 512 * 512;
    if (e.type == 'x') {
      pax.clear();
      for (size_t p = 0; p < e.content.size();) {
        const size_t sp = e.content.find(' ', p);
        const size_t len = std::stoul(e.content.substr(p, sp - p));
        const std::string rec = e.content.substr(sp + 1, len - (sp - p) - 2);
        const size_t eq = rec.find('=');
        pax[rec.substr(0, eq)] = rec.substr(eq + 1);
        EXPECT_EQ(e.content[p + len - 1], '\n');
        p += len;
      }
      continue;
    }
    if (pax.count("path")) e.name = pax["path"];
    if (pax.count("linkpath")) e.link = pax["linkpath"];
    pax.clear();
    out.push_back(e);
  }
  return out;
}

std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

}  // namespace

TEST(PackagingTar, WritesUstarEntriesWithLongNamesInPrefixOrPax) {
  std::string t;
  TarWriter w([&](const char* p, size_t n) { t.append(p, n); });
  TarHeader h;
  h.mtime = 1700000000;
  h.path = "etc";
  h.mode = 0755;
  w.directory(h);
  h.path = "etc/passwd";
  h.mode = 0644;
  w.file(h, "root:x:0:0::/:/bin/false\n");
  const std::string mid = std::string(120, 'd') + "/" + std::string(90, 'f');  // prefix + name
  h.path = mid;
  w.file(h, "x");
  const std::string longname = std::string(300, 'a');  // no '/': pax
  h.path = longname;
  w.file(h, "");
  h.path = "link";
  w.symlink(h, std::string(150, 't'));  // long target: pax linkpath
  w.finish();
  EXPECT_EQ(t.size() % 512, 0u);
  EXPECT_EQ(w.bytes(), t.size());
  const auto e = read_tar(t);
  ASSERT_EQ(e.size(), 5u);
  EXPECT_EQ(std::make_tuple(e[0].name, e[0].type, e[0].mode), std::make_tuple(std::string("etc/"), '5', 0755u));
  EXPECT_EQ(e[1].name, "etc/passwd");
  EXPECT_EQ(e[1].content, "root:x:0:0::/:/bin/false\n");
  EXPECT_EQ(e[1].mtime, 1700000000u);
  EXPECT_EQ(e[2].name, mid);
  EXPECT_EQ(e[3].name, longname);
  EXPECT_EQ(std::make_tuple(e[4].type, e[4].link), std::make_tuple('2', std::string(150, 't')));
  EXPECT_THROW(w.directory(TarHeader{"/abs", 0755, 0, 0, 0}), std::invalid_argument);
  TarHeader bad;
  bad.path = "f";
  EXPECT_THROW(w.file(bad, 10, [](const Sink& s) { s("short", 5); }), std::runtime_error);
}

TEST(PackagingGzip, IsDeterministicWithoutNameOrTime) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i * 7919 % 1000) + ",";
  auto compress = [&] {
    std::string out;
    GzipWriter g([&](const char* p, size_t n) { out.append(p, n); });
    g.write(data.data(), data.size() / 3);
    g.write(data.data() + data.size() / 3, data.size() - data.size() / 3);
    g.finish();
    return out;
  };
  const std::string a = compress(), b = compress();
  EXPECT_EQ(a, b);
  ASSERT_GT(a.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(a[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(a[1]), 0x8b);
  EXPECT_EQ(a[3] & 0x08, 0) << "a file name in the header";
  EXPECT_EQ(a.substr(4, 4), std::string(4, '\0')) << "a time in the header";
  EXPECT_EQ(gunzip(a), data);
}

TEST(PackagingLayer, KeepsLinksOnTheWayAndSortsEntries) {
  const fs::path d = fs::temp_directory_path() / ("pier_pkg_layer_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d / "real" / "lib");
  std::ofstream(d / "real" / "lib" / "libx.so.1.2") << "elf";
  fs::create_symlink("libx.so.1.2", d / "real" / "lib" / "libx.so.1");
  fs::create_directory_symlink("real", d / "alias");  // a linked folder
  Layer l("libs");
  const std::string real = l.add_host_path((d / "alias" / "lib" / "libx.so.1").string());
  EXPECT_EQ(real, (d / "real" / "lib" / "libx.so.1.2").string());
  const auto entries = l.entries();
  std::vector<std::string> paths;
  for (const auto& e : entries) paths.push_back(e.path);
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  const std::string base = image_path(d.string());
  auto find = [&](const std::string& p) -> const Entry* {
    for (const auto& e : entries)
      if (e.path == p) return &e;
    return nullptr;
  };
  ASSERT_NE(find(base + "/alias"), nullptr);
  EXPECT_EQ(find(base + "/alias")->type, EntryType::kSymlink);
  EXPECT_EQ(find(base + "/alias")->target, "real");
  ASSERT_NE(find(base + "/real/lib/libx.so.1"), nullptr);
  EXPECT_EQ(find(base + "/real/lib/libx.so.1")->target, "libx.so.1.2");
  ASSERT_NE(find(base + "/real/lib/libx.so.1.2"), nullptr);
  EXPECT_EQ(find(base + "/real/lib/libx.so.1.2")->type, EntryType::kFile);
  EXPECT_EQ(find(base + "/real")->type, EntryType::kDir);
  EXPECT_EQ(l.content_bytes(), 3u);
  // The same path twice is fine; two different things at one path are not.
  l.add_content("etc/a", "1");
  l.add_content("etc/a", "1");
  EXPECT_THROW(l.add_content("etc/a", "2"), std::runtime_error);
  EXPECT_THROW(l.add_content("etc/a/b", "x"), std::runtime_error);
  EXPECT_THROW(l.add_host_path((d / "missing").string()), std::runtime_error);
  fs::remove_all(d);
}

TEST(PackagingImage, ValidatesAndNormalizesReferences) {
  for (const char* ok : {"mlp:1", "pier/mlp:v1.2", "registry.example.com:5000/team/mlp:latest", "a-b_c.d:X_1"})
    EXPECT_NO_THROW(validate_image_ref(ok)) << ok;
  for (const char* bad : {"mlp", "MLP:1", "mlp:", ":1", "mlp:1 ", "a//b:1", "mlp:-x", "mlp:" "toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong"})
    EXPECT_THROW(validate_image_ref(bad), std::invalid_argument) << bad;
  EXPECT_EQ(normalize_image_ref("mlp:1"), "docker.io/library/mlp:1");
  EXPECT_EQ(normalize_image_ref("team/mlp:1"), "docker.io/team/mlp:1");
  EXPECT_EQ(normalize_image_ref("localhost/mlp:1"), "localhost/mlp:1");
  EXPECT_EQ(normalize_image_ref("r.example.com/mlp:1"), "r.example.com/mlp:1");
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(rfc3339(1700000000), "2023-11-14T22:13:20Z");
}

TEST(PackagingYaml, QuotesWhatYamlWouldReadAsSomethingElse) {
  EXPECT_EQ(yaml_scalar("pier"), "pier");
  EXPECT_EQ(yaml_scalar("app.kubernetes.io/name"), "app.kubernetes.io/name");
  EXPECT_EQ(yaml_scalar("/v2/health/live"), "/v2/health/live");
  for (const char* s : {"yes", "No", "on", "OFF", "y", "true", "null", "8080", "500m", "1.0", "--host", "0.0.0.0", "", "a: b", "#x", "a b"})
    EXPECT_EQ(yaml_scalar(s).front(), '"') << s;
  EXPECT_EQ(yaml_scalar("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  Yaml y = Yaml::object({{"a", 1}, {"b", Yaml::seq({"x", Yaml::object({{"k", true}, {"l", "v"}})})}, {"c", Yaml()}, {"d", Yaml::seq()}});
  EXPECT_EQ(y.dump(), "a: 1\nb:\n  - x\n  - k: true\n    l: v\nc: {}\nd: []\n");
}

TEST(PackagingK8s, RefusesBadOptions) {
  K8sOptions o;
  o.name = "svc";
  o.image = "mlp:1";
  o.models = {{"mlp", 1, std::string(64, 'a')}};
  EXPECT_EQ(k8s_objects(o).files.size(), 3u);  // no keys: no Secret
  o.api_keys = {"k"};
  EXPECT_EQ(k8s_objects(o).files.size(), 4u);
  auto bad = [&](auto change) {
    K8sOptions b = o;
    change(b);
    EXPECT_THROW(k8s_objects(b), std::invalid_argument);
  };
  bad([](K8sOptions& b) { b.name = "Svc"; });
  bad([](K8sOptions& b) { b.namespace_ = "a_b"; });
  bad([](K8sOptions& b) { b.image = "a b"; });
  bad([](K8sOptions& b) { b.models.clear(); });
  bad([](K8sOptions& b) { b.cpu_request = "1 core"; });
  bad([](K8sOptions& b) { b.memory_limit = "1GB"; });
  bad([](K8sOptions& b) { b.min_replicas = 9; });
  bad([](K8sOptions& b) { b.service_type = "Ingress"; });
  bad([](K8sOptions& b) { b.api_keys = {"a,b"}; });
}
