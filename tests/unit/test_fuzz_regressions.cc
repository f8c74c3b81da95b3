// Malformed models found by tests/fuzz/fuzz_models.py that brought the
// process down (a heap overflow, SIGFPE or a segfault in onnx's shape
// inference or in oneDNN, a stack overflow) instead of an error. Each
// must now fail with an error that names what is wrong.
#include <climits>
#include <cstdio>
#include <fstream>

#include "core/memory.h"
#include "pier/tensor_io.h"
#include "test_util.h"

using namespace pier;
using namespace pier::test;

namespace {

using V = std::vector<int64_t>;

onnx::TensorProto* find_initializer(ModelBuilder& b, const std::string& name) {
  for (auto& t : *b.graph().mutable_initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

// onnx's ParseData copied all of raw_data into a vector sized for the whole
// elements in it: a heap overflow (segfault, or "munmap_chunk(): invalid
// pointer") when the size is not a multiple of the element size.
TEST(FuzzRegressions, TruncatedRawDataIsRejectedBeforeShapeInference) {
  for (const char* op : {"Reshape", "Expand", "Tile"}) {
    SCOPED_TRACE(op);
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2, 3}).initializer("s", make<int64_t>({2}, {3, 2}));
    b.node(op, {"x", "s"}, {"y"}).output("y", DataType::kFloat, {-1, -1});
    find_initializer(b, "s")->mutable_raw_data()->resize(5);
    expect_invalid_model(b, "initializer \"s\": raw_data has 5 bytes, shape [2] of int64 needs 16");
  }
  // ConstantOfShape reads its only input as the shape.
  ModelBuilder b(13);
  b.initializer("s", make<int64_t>({2}, {2, 3})).node("ConstantOfShape", {"s"}, {"y"});
  b.output("y", DataType::kFloat, {-1, -1});
  find_initializer(b, "s")->mutable_raw_data()->resize(7);
  expect_invalid_model(b, "raw_data has 7 bytes");
}

// Dims that disagree with the data: a scalar weight holding 54 floats made
// ConvTranspose's inference read W's dims out of bounds.
TEST(FuzzRegressions, InitializerDimsMustMatchItsData) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {1, 2, 4, 4}).initializer("w", random_float({2, 3, 3, 3}, 1));
  b.node("ConvTranspose", {"x", "w"}, {"y"}, {attr("kernel_shape", V{3, 3})});
  b.output("y", DataType::kFloat, {-1, -1, -1, -1});
  find_initializer(b, "w")->clear_dims();
  expect_invalid_model(b, "initializer \"w\": raw_data has 216 bytes, shape [] of float needs 4");

  // The typed fields are counted too.
  ModelBuilder c(13);
  c.input("x", DataType::kFloat, {2, 3}).initializer("b", make<float>({3}, {1, 2, 3}));
  c.node("Add", {"x", "b"}, {"y"}).output("y", DataType::kFloat, {2, 3});
  auto* t = find_initializer(c, "b");
  t->clear_raw_data();
  t->add_float_data(1.f);
  expect_invalid_model(c, "initializer \"b\": holds 1 values, shape [3] of float needs 3");

  // Dims that multiply past any tensor size fail before anything is allocated.
  ModelBuilder d(13);
  d.input("x", DataType::kFloat, {2, 3}).initializer("b", make<float>({3}, {1, 2, 3}));
  d.node("Add", {"x", "b"}, {"y"}).output("y", DataType::kFloat, {2, 3});
  auto* u = find_initializer(d, "b");
  u->clear_dims();
  for (int i = 0; i < 3; ++i) u->add_dims(int64_t{1} << 31);
  expect_invalid_model(d, "has more than 2^40 elements");
}

// onnx divides the channels by blocksize * blocksize, which wraps to 0 for
// 2^32: SIGFPE.
TEST(FuzzRegressions, HugeBlocksizeIsRejected) {
  for (const char* op : {"DepthToSpace", "SpaceToDepth"}) {
    SCOPED_TRACE(op);
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 4, 2, 2}).node(op, {"x"}, {"y"}, {attr("blocksize", int64_t{1} << 32)});
    b.output("y", DataType::kFloat, {-1, -1, -1, -1});
    expect_invalid_model(b, "blocksize must be in [1, 2^31), got 4294967296");
  }
}

// A negative batch_dims made onnx index the data's dims below 0.
TEST(FuzzRegressions, NegativeGatherNDBatchDimsIsRejected) {
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {3, 3}).initializer("i", make<int64_t>({2, 2}, {0, 1, 2, 2}));
  b.node("GatherND", {"x", "i"}, {"y"}, {attr("batch_dims", int64_t{INT32_MIN})});
  b.output("y", DataType::kFloat, {-1});
  expect_invalid_model(b, "batch_dims must be non-negative, got -2147483648");
}

// onnx's inference for these ops reads the dims of one input at positions
// taken from another's rank.
TEST(FuzzRegressions, InputRanksOnnxInferenceIndexesAreChecked) {
  {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2, 3, 4}).initializer("w", random_float({4, 5}, 2));
    b.node("ConvTranspose", {"x", "w"}, {"y"}).output("y", DataType::kFloat, {-1, -1, -1});
    expect_invalid_model(b, "(ConvTranspose): the weight W has rank 2, the input X rank 3; they must be equal");
  }
  {
    ModelBuilder b(13);
    b.input("x", DataType::kUInt8, {2, 2}).input("w", DataType::kUInt8, {1, 1, 2, 2});
    b.node("ConvInteger", {"x", "w"}, {"y"}).output("y", DataType::kInt32, {-1, -1, -1, -1});
    expect_invalid_model(b, "(ConvInteger): the weight W has rank 4, the input X rank 2");
  }
  {
    ModelBuilder b(13);
    b.input("x", DataType::kUInt8, {1, 1, 4, 4}).input("w", DataType::kUInt8, {1, 1, 2, 2, 1, 1});
    for (const char* s : {"xs", "ws", "ys"}) b.initializer(s, make<float>({}, {1.f}));
    for (const char* z : {"xz", "wz", "yz"}) b.initializer(z, make<uint8_t>({}, {0}));
    b.node("QLinearConv", {"x", "xs", "xz", "w", "ws", "wz", "ys", "yz"}, {"y"});
    b.output("y", DataType::kUInt8, {-1, -1, -1, -1});
    expect_invalid_model(b, "(QLinearConv): the weight W has rank 6, the input X rank 4");
  }
  {
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {1, 1, 2, 2}).input("i", DataType::kInt64, {});
    b.node("MaxUnpool", {"x", "i"}, {"y"}, {attr("kernel_shape", V{2, 2})});
    b.output("y", DataType::kFloat, {-1, -1, -1, -1});
    expect_invalid_model(b, "(MaxUnpool): the indices I have rank 0, the input X rank 4");
  }
  {
    ModelBuilder b(17);
    b.input("x", DataType::kFloat, {16}).initializer("step", make<int64_t>({}, {4}));
    b.initializer("w", random_float({4}, 3));
    b.node("STFT", {"x", "step", "w"}, {"y"}).output("y", DataType::kFloat, {-1, -1, -1, -1});
    expect_invalid_model(b, "(STFT): the signal must be [batch, length] or [batch, length, 1 or 2], got rank 1");
  }
}

// onnx's inference expanded a local function by its body, and again for the
// call inside it, until the stack overflowed.
TEST(FuzzRegressions, RecursiveLocalFunctionsAreRejected) {
  auto model = [](const std::vector<std::pair<std::string, std::string>>& fns) {
    ModelBuilder b(13);
    b.opset("local", 1);
    b.input("x", DataType::kFloat, {2}).node(fns[0].first, {"x"}, {"y"}, {}, "local");
    b.output("y", DataType::kFloat, {2});
    // The ModelProto has no builder method for functions: add them by hand.
    onnx::ModelProto m;
    EXPECT_TRUE(m.ParseFromString(b.bytes()));
    for (const auto& [name, callee] : fns) {
      // Each function's body is one call, a copy of the graph's node
      // (x -> y) with another op_type.
      const onnx::NodeProto& call = m.graph().node(0);
      auto* f = m.add_functions();
      f->set_name(name);
      f->set_domain(call.domain());
      f->mutable_input()->CopyFrom(call.input());
      f->mutable_output()->CopyFrom(call.output());
      *f->add_node() = call;
      f->mutable_node(0)->set_op_type(callee);
      auto* ai = f->add_opset_import();
      ai->set_version(13);
      auto* local = f->add_opset_import();
      *local->mutable_domain() = f->domain();
      local->set_version(1);
    }
    return m.SerializeAsString();
  };
  struct Case {
    std::vector<std::pair<std::string, std::string>> fns;
    std::string needle;
  };
  for (const auto& c : {Case{{{"F", "F"}}, "local function local::F calls itself (local::F -> local::F)"},
                        Case{{{"A", "B"}, {"B", "A"}}, "calls itself (local::"}}) {
    try {
      Session::load_from_memory(model(c.fns));
      ADD_FAILURE() << "the model loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
}

// MatMul prepacks a constant B for the static shape of A; rows = 2^41 made
// oneDNN trap (SIGFPE) while the session was created.
TEST(FuzzRegressions, HugeStaticShapesDoNotReachOneDNN) {
  {
    // Declared on a graph input: no such tensor can ever be fed.
    ModelBuilder b(13);
    b.input("a", DataType::kFloat, {2, int64_t{1} << 40, 4}).initializer("w", random_float({4, 5}, 4));
    b.node("MatMul", {"a", "w"}, {"y"}).output("y", DataType::kFloat, {-1, -1, -1});
    expect_invalid_model(b, "graph input \"a\" declares shape [2,1099511627776,4], whose dims multiply to more than 2^40");
  }
  {
    ModelBuilder b(13);
    b.input("a", DataType::kFloat, {2, 4}).node("Relu", {"a"}, {"y"}).output("y", DataType::kFloat, {2, 4});
    b.graph().mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-5);
    expect_invalid_model(b, "graph input \"a\" declares a negative dimension -5");
  }
  // Inferred through an Expand: the session loads (the kernels treat the
  // shape as unknown) and a run fails on the size limit.
  ModelBuilder b(13);
  b.input("x", DataType::kFloat, {2, 1, 4}).initializer("s", make<int64_t>({3}, {2, int64_t{1} << 40, 4}));
  b.initializer("w", random_float({4, 5}, 5));
  b.node("Expand", {"x", "s"}, {"e"}).node("MatMul", {"e", "w"}, {"y"}).output("y", DataType::kFloat, {-1, -1, -1});
  auto s = b.session();
  try {
    s->run({Tensor::zeros(DataType::kFloat, {2, 1, 4})});
    ADD_FAILURE() << "the run succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
  }
}

// std::stoll's own exception ("stoll") said nothing about the model.
TEST(FuzzRegressions, MalformedExternalDataNumbersAreNamed) {
  for (const char* bad : {"abc", "-1", "12x"}) {
    SCOPED_TRACE(bad);
    ModelBuilder b(13);
    b.input("x", DataType::kFloat, {2}).initializer("c", make<float>({2}, {1, 2}));
    b.node("Add", {"x", "c"}, {"y"}).output("y", DataType::kFloat, {2});
    auto* t = find_initializer(b, "c");
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* loc = t->add_external_data();
    loc->set_key("location");
    loc->set_value("c.bin");
    auto* off = t->add_external_data();
    off->set_key("offset");
    off->set_value(bad);
    expect_invalid_model(b, std::string("tensor \"c\": external data offset \"") + bad +
                                "\" is not a non-negative integer");
  }
}

// An .npy header of a few bytes declaring 2^28 strings made the reader
// construct them all (8 GB) before it checked the data; a 23-digit dim
// escaped as std::stoll's bare "stoll".
TEST(FuzzRegressions, NpyHeadersAreCheckedBeforeAllocating) {
  auto npy = [](const std::string& dict, const std::string& data) {
    std::string h = dict;
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    return out + h + data;
  };
  struct Case {
    std::string descr, shape, data, needle;
  };
  for (const auto& c : {Case{"|S1", "(268435456,)", "abcdefghij", "npy data is truncated: 10 bytes for shape [268435456]"},
                        Case{"<f4", "(268435456, 4)", "abcd", "npy data is truncated: 4 bytes for shape [268435456,4]"},
                        Case{"|S0", "(268435456,)", "", "npy dtype '|S0' has zero-sized elements"},
                        Case{"<U4611686018427387904", "(4,)", "abcd", "(elements too large)"},
                        Case{"<f4", "(99999999999999999999999, 2)", "", "dimension 99999999999999999999999"}}) {
    SCOPED_TRACE(c.descr + " " + c.shape);
    const std::string bytes =
        npy("{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': " + c.shape + ", }", c.data);
    try {
      parse_npy(bytes, "x.npy");
      ADD_FAILURE() << "parsed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos) << e.what();
    }
  }
  // Still read: an exact fit.
  Tensor t = parse_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0')), "x");
  EXPECT_EQ(t.shape(), (Shape{2}));
  // A repeated key takes its last value, as numpy's dict does.
  t = parse_npy(npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'descr': '<f4', \"shape\": (2,)}",
                    std::string(8, '\0')),
                "x");
  EXPECT_EQ(t.dtype(), DataType::kFloat);
  EXPECT_EQ(t.shape(), (Shape{2}));
}

// The same for a TensorProto: 2^28 strings declared, none given.
TEST(FuzzRegressions, TensorProtoDataIsCheckedBeforeAllocating) {
  onnx::TensorProto p;
  p.set_name("x");
  p.set_data_type(onnx::TensorProto::STRING);
  p.add_dims(int64_t{1} << 28);
  ModelBuilder b(13);
  b.input("x", DataType::kString, {-1}).node("Identity", {"x"}, {"y"}).output("y", DataType::kString, {-1});
  b.graph().add_initializer()->CopyFrom(p);
  expect_invalid_model(b, "initializer \"x\": holds 0 values, shape [268435456] of string needs 268435456");

  // As an input file (.pb): tensor_from_proto checks before it allocates.
  const std::string path = ::testing::TempDir() + "fuzz_regressions_strings.pb";
  {
    std::ofstream f(path, std::ios::binary);
    f << p.SerializeAsString();
  }
  try {
    read_pb(path);
    ADD_FAILURE() << "read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 0 values, shape [268435456] of string"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

// Constant folding computed every all-constant node and only then dropped
// large results: a ConstantOfShape of a constant [2^28] filled 1 GB while
// the session loaded (16 GB for [2^32]). Now it is left to run time.
TEST(FuzzRegressions, ConstantFoldingDoesNotComputeHugeResults) {
  ModelBuilder b(13);
  b.initializer("s", make<int64_t>({1}, {int64_t{1} << 28})).node("ConstantOfShape", {"s"}, {"y"});
  b.output("y", DataType::kFloat, {-1});
  const uint64_t before = memory::counters().os_bytes;
  auto s = b.session();
  EXPECT_LT(memory::counters().os_bytes - before, uint64_t{64} << 20) << "bytes allocated while loading";
}

}  // namespace
