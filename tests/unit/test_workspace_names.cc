// Workspace names, references, tags and the record's JSON forms.
#include <gtest/gtest.h>

#include "workspace/error.h"
#include "workspace/names.h"
#include "workspace/record.h"

using namespace pier::ws;

namespace {

ErrorKind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::kIO;
}

}  // namespace

TEST(WorkspaceNames, AcceptsTheAllowedCharacters) {
  EXPECT_NO_THROW(validate_name("resnet-50_v1.2", "model name"));
  EXPECT_NO_THROW(validate_name("A", "model name"));
  EXPECT_NO_THROW(validate_name(std::string(255, 'x'), "model name"));
  EXPECT_NO_THROW(validate_name("...a", "model name"));
}

TEST(WorkspaceNames, RejectsEverythingElseClearly) {
  for (std::string bad : {"", "a/b", "../etc", "a b", "é", "a\nb", "a:b", "a@b", ".", "..", "a\\b", "a%2F"}) {
    try {
      validate_name(bad, "model name");
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find("model name"), std::string::npos) << e.what();
    }
  }
  try {
    validate_name(std::string(256, 'x'), "model name");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("255"), std::string::npos) << e.what();
  }
}

TEST(WorkspaceNames, ParsesReferences) {
  ModelRef r = parse_ref("m");
  EXPECT_EQ(r.name, "m");
  EXPECT_FALSE(r.version);
  EXPECT_FALSE(r.alias);
  r = parse_ref("m:12");
  EXPECT_EQ(*r.version, 12);
  EXPECT_EQ(r.str(), "m:12");
  r = parse_ref("m@production");
  EXPECT_EQ(*r.alias, "production");
  EXPECT_EQ(r.str(), "m@production");
  for (const char* bad : {"m:", "m:0", "m:-1", "m:x", "m@", "m@12", "m:1@a", "a/b:1", ":1", "m:99999999999999999999"})
    EXPECT_EQ(kind_of([&] { parse_ref(bad); }), ErrorKind::kInvalidArgument) << bad;
}

TEST(WorkspaceNames, ParsesTagsAndProperties) {
  EXPECT_EQ(parse_tag("stage=prod"), std::make_pair(std::string("stage"), std::string("prod")));
  EXPECT_EQ(parse_tag("flag"), std::make_pair(std::string("flag"), std::string()));
  EXPECT_EQ(parse_tag("k=a=b"), std::make_pair(std::string("k"), std::string("a=b")));
  EXPECT_EQ(parse_property("k=v"), std::make_pair(std::string("k"), std::string("v")));
  EXPECT_EQ(parse_tag("k=héllo").second, "héllo");
  EXPECT_EQ(kind_of([] { parse_property("novalue"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { parse_tag("bad key=v"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { parse_tag("k=\x01"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { parse_tag("k=\xff"); }), ErrorKind::kInvalidArgument);
  EXPECT_EQ(kind_of([] { parse_tag("k=" + std::string(5000, 'v')); }), ErrorKind::kInvalidArgument);
}

TEST(WorkspaceNames, SanitizesMalformedUtf8) {
  EXPECT_EQ(sanitize_utf8("ok é"), "ok é");
  EXPECT_EQ(sanitize_utf8("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80").size(), 9u);                // a surrogate
}

TEST(WorkspaceRecord, ColumnEncodingsRoundTrip) {
  Signature s;
  s.name = "x";
  s.dtype = "float";
  s.has_shape = true;
  s.dims = {{-1, "N"}, {3, ""}, {-1, ""}};
  auto back = decode_signatures(encode_signatures({s}));
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].type_str(), "tensor(float)[N,3,?]");
  std::map<std::string, std::string> m{{"a", "1"}, {"b", "quote\" and \\ and \n"}};
  EXPECT_EQ(decode_map(encode_map(m)), m);
  std::vector<std::pair<std::string, int64_t>> o{{"ai.onnx", 13}, {"com.x", 1}};
  EXPECT_EQ(decode_opsets(encode_opsets(o)), o);
  std::vector<std::string> v{"w1", "w2"};
  EXPECT_EQ(decode_strings(encode_strings(v)), v);
  EXPECT_EQ(kind_of([] { decode_map("{not json"); }), ErrorKind::kCorrupt);
  EXPECT_EQ(error_json("a \"b\""), "{\"error\":\"a \\\"b\\\"\"}");
}

TEST(WorkspaceRecord, JsonHasTheDocumentedKeys) {
  ModelRecord r;
  r.name = "m";
  r.version = 1;
  const std::string j = record_json(r);
  for (const char* key : {"name", "version", "sha256", "size", "tags", "properties", "description", "inputs", "outputs",
                          "opsets", "created", "producer", "warnings", "aliases"})
    EXPECT_NE(j.find(std::string("\"") + key + "\":"), std::string::npos) << key;
}
