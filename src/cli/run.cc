// pier run: load a model, bind inputs from files, run (optionally timed),
// write outputs.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>

#include "cli/commands.h"
#include "pier/engine.h"
#include "pier/tensor_io.h"

namespace pier::cli {

namespace {

struct RunArgs {
  std::string model;
  std::vector<std::string> inputs;
  std::string outdir;
  std::string format = "npy";
  int threads = 0;
  int repeat = 1;
  int warmup = 0;
  bool json = false;
  double timeout = 0;  // seconds per run; 0: none
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// Inputs for a model run without -i: deterministic pseudo-random values,
// unknown dims taken as 1. Meant for timing, not for meaningful output.
Value synthesize(const ValueInfo& info, std::mt19937& rng) {
  if (info.kind != Value::Kind::kTensor)
    throw Error(ErrorCode::kInvalidArgument, "input \"" + info.name + "\" is not a tensor; give it with -i");
  Shape shape;
  for (int64_t d : info.dims) shape.push_back(d < 0 ? 1 : d);
  Tensor t = Tensor::zeros(info.dtype, shape);
  std::uniform_real_distribution<float> uni(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (info.dtype) {
      case DataType::kFloat: t.data<float>()[i] = uni(rng); break;
      case DataType::kDouble: t.data<double>()[i] = uni(rng); break;
      case DataType::kFloat16: t.data<Float16>()[i] = Float16(uni(rng)); break;
      case DataType::kInt64: t.data<int64_t>()[i] = static_cast<int64_t>(rng() % 10); break;
      case DataType::kInt32: t.data<int32_t>()[i] = static_cast<int32_t>(rng() % 10); break;
      default: break;  // zeros
    }
  }
  return t;
}

void print_value(size_t k, const ValueInfo& info, const Value& v) {
  std::printf("output %zu \"%s\": ", k, info.name.c_str());
  if (v.is_none()) {
    std::printf("empty optional\n");
    return;
  }
  if (v.is_sequence()) {
    std::printf("sequence of %zu tensors\n", v.items().size());
    return;
  }
  if (v.is_map() || v.is_map_sequence()) {
    // A short summary: the type, the count, and the first map's first keys.
    const Value::Map* first = nullptr;
    if (v.is_map()) {
      first = &v.as_map();
      std::printf("map(%s, %s) of %lld entries", dtype_name(v.key_type()), dtype_name(v.elem_type()),
                  static_cast<long long>(first->keys.numel()));
    } else {
      if (!v.maps().empty()) first = &v.maps().front();
      std::printf("sequence of %zu map(%s, %s)", v.maps().size(), dtype_name(v.key_type()), dtype_name(v.elem_type()));
    }
    if (first && first->keys.numel() > 0) {
      const int64_t n = std::min<int64_t>(first->keys.numel(), 4);
      std::printf("%s {", v.is_map() ? "" : "; first");
      for (int64_t i = 0; i < n; ++i) {
        if (first->keys.dtype() == DataType::kString)
          std::printf("%s\"%s\": ", i ? ", " : "", first->keys.data<std::string>()[i].c_str());
        else
          std::printf("%s%lld: ", i ? ", " : "", static_cast<long long>(first->keys.data<int64_t>()[i]));
        const Tensor& vals = first->values;
        switch (vals.dtype()) {
          case DataType::kFloat: std::printf("%.6g", vals.data<float>()[i]); break;
          case DataType::kDouble: std::printf("%.6g", vals.data<double>()[i]); break;
          case DataType::kInt64: std::printf("%lld", static_cast<long long>(vals.data<int64_t>()[i])); break;
          case DataType::kString: std::printf("\"%s\"", vals.data<std::string>()[i].c_str()); break;
          default: std::printf("?");
        }
      }
      std::printf("%s}", first->keys.numel() > n ? ", ..." : "");
    }
    std::printf("\n");
    return;
  }
  const Tensor& t = v.tensor();
  std::printf("%s %s", dtype_name(t.dtype()), shape_str(t.shape()).c_str());
  const int64_t n = std::min<int64_t>(t.numel(), 8);
  if (n > 0 && t.dtype() != DataType::kString && t.dtype() != DataType::kBool) {
    std::printf(" [");
    for (int64_t i = 0; i < n; ++i) {
      double x = 0;
      switch (t.dtype()) {
        case DataType::kFloat: x = t.data<float>()[i]; break;
        case DataType::kDouble: x = t.data<double>()[i]; break;
        case DataType::kInt64: x = static_cast<double>(t.data<int64_t>()[i]); break;
        case DataType::kInt32: x = t.data<int32_t>()[i]; break;
        case DataType::kFloat16: x = static_cast<float>(t.data<Float16>()[i]); break;
        default: x = 0;
      }
      std::printf("%s%.6g", i ? ", " : "", x);
    }
    std::printf("%s]", t.numel() > n ? ", ..." : "");
  }
  std::printf("\n");
}

int run_command(const RunArgs& a) {
  if (a.repeat < 1) throw Error(ErrorCode::kInvalidArgument, "--repeat must be at least 1");
  if (a.warmup < 0) throw Error(ErrorCode::kInvalidArgument, "--warmup must not be negative");
  SessionOptions opts;
  opts.threads = a.threads;
  auto t0 = Clock::now();
  auto session = Session::load(a.model, opts);
  const double load_ms = ms_since(t0);

  const auto& want = session->inputs();
  std::vector<Value> inputs;
  if (a.inputs.empty() && !want.empty()) {
    std::mt19937 rng(42);
    for (const auto& info : want) inputs.push_back(synthesize(info, rng));
    std::fprintf(stderr, "pier: no -i given; using generated inputs\n");
  } else {
    if (a.inputs.size() != want.size()) {
      std::string names;
      for (const auto& w : want) names += "\n  " + w.name + ": " + w.type_str();
      throw Error(ErrorCode::kInvalidArgument, "the model takes " + std::to_string(want.size()) + " inputs, got " +
                                                   std::to_string(a.inputs.size()) + " -i files; inputs:" + names);
    }
    for (size_t i = 0; i < want.size(); ++i) inputs.push_back(read_value_file(a.inputs[i], &want[i]));
  }

  RunOptions ro;
  ro.timeout = std::chrono::milliseconds(static_cast<int64_t>(a.timeout * 1000));
  for (int i = 0; i < a.warmup; ++i) session->run(inputs, ro);
  std::vector<double> times;
  std::vector<Value> outputs;
  for (int i = 0; i < a.repeat; ++i) {
    auto t1 = Clock::now();
    outputs = session->run(inputs, ro);
    times.push_back(ms_since(t1));
  }

  const auto& out_info = session->outputs();
  if (!a.outdir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(a.outdir, ec);
    if (ec) throw Error(ErrorCode::kIO, a.outdir + ": cannot create directory (" + ec.message() + ")");
    for (size_t k = 0; k < outputs.size(); ++k) {
      const std::string base = a.outdir + "/output_" + std::to_string(k);
      if (a.format == "pb") {
        write_pb(base + ".pb", outputs[k], out_info[k].name, out_info[k].optional);
      } else {
        if (!outputs[k].is_tensor())
          throw Error(ErrorCode::kInvalidArgument, "output " + std::to_string(k) +
                                                       " is not a tensor and cannot be written as .npy; use --format pb");
        write_npy(base + ".npy", outputs[k].tensor());
      }
    }
  } else if (!a.json) {
    for (size_t k = 0; k < outputs.size(); ++k) print_value(k, out_info[k], outputs[k]);
  }

  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double t : times) mean += t;
  mean /= static_cast<double>(times.size());
  const size_t n = sorted.size();
  const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  const double p90 = sorted[std::min(n - 1, static_cast<size_t>(0.9 * static_cast<double>(n - 1) + 0.5))];
  if (a.json) {
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("load_ms"); w.Double(load_ms);
    w.Key("runs"); w.Int(static_cast<int>(n));
    w.Key("min_ms"); w.Double(sorted.front());
    w.Key("median_ms"); w.Double(median);
    w.Key("mean_ms"); w.Double(mean);
    w.Key("p90_ms"); w.Double(p90);
    w.EndObject();
    std::printf("%s\n", buf.GetString());
  } else {
    if (a.repeat > 1)
      std::printf("load %.2f ms; %zu runs: min %.3f ms, median %.3f ms, mean %.3f ms, p90 %.3f ms\n", load_ms, n,
                  sorted.front(), median, mean, p90);
    const MemoryStats m = session->memory_stats();
    constexpr double kMiB = 1024.0 * 1024.0;
    std::fprintf(stderr, "pier: memory: peak %.2f MiB of tensors in use in the last run; arena %.2f MiB; %zu plan%s\n",
                 static_cast<double>(m.peak_bytes) / kMiB, static_cast<double>(m.arena_bytes) / kMiB, m.plans,
                 m.plans == 1 ? "" : "s");
  }
  return 0;
}

}  // namespace

void add_run_command(CLI::App& app, CommandRunner& runner) {
  auto args = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a model on input files");
  cmd->add_option("model", args->model, "ONNX model file")->required();
  cmd->add_option("-i,--input", args->inputs,
                  "Input file (.npy, or ONNX TensorProto/SequenceProto/OptionalProto .pb); each -i binds to the next "
                  "graph input without an initializer. Without -i, inputs are generated.");
  cmd->add_option("-o,--output-dir", args->outdir, "Write outputs to OUTDIR/output_K.npy (or .pb)");
  cmd->add_option("--format", args->format, "Output file format")->check(CLI::IsMember({"npy", "pb"}));
  cmd->add_option("--threads", args->threads, "Intra-op threads (0 = one per core)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--repeat", args->repeat, "Timed runs")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "Untimed runs before the timed ones")->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout", args->timeout, "Seconds one run may take before it is stopped (0: no limit)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_flag("--json", args->json,
                "Print timing as one JSON line: load_ms, runs, min_ms, median_ms, mean_ms, p90_ms");
  cmd->callback([args, &runner] { runner.set([args] { return run_command(*args); }); });
}

}  // namespace pier::cli
