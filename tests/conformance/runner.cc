// ONNX backend conformance runner.
//
// Runs every case of the ONNX backend test data (Debian's libonnx-testdata)
// through the engine and compares outputs the way ONNX Runtime's runner
// does: |got - want| <= atol + rtol * |want| for floating types, exact for
// integers, bools and strings. Each case runs in a forked child, so a crash
// or a hang is recorded against that case alone.
//
// It writes a JSON report and prints one summary line, and fails (exit 1)
// if a case on the expected-pass list does not pass.
#include <dirent.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "compare.h"
#include "pier/engine.h"
#include "pier/tensor_io.h"

namespace {

struct Case {
  std::string suite, name, dir;
  std::string id() const { return suite + "/" + name; }
};

struct Result {
  std::string status;  // pass, fail, unsupported, skipped
  std::string message;
  double ms = 0;
};

std::vector<std::string> list_dir(const std::string& dir, bool dirs_only) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (dirs_only && e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
    out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

// Runs one case in this (child) process; returns status and message.
Result run_case(const Case& c, double rtol, double atol) {
  using pier::ErrorCode;
  pier::SessionOptions opts;
  opts.threads = 1;
  std::unique_ptr<pier::Session> session;
  try {
    session = pier::Session::load(c.dir + "/model.onnx", opts);
  } catch (const pier::Error& e) {
    return {e.code() == ErrorCode::kUnsupported ? "unsupported" : "fail", std::string("load: ") + e.what()};
  }
  const auto sets = list_dir(c.dir, true);
  int n_sets = 0;
  for (const auto& set : sets) {
    if (set.rfind("test_data_set_", 0) != 0) continue;
    ++n_sets;
    const std::string sd = c.dir + "/" + set;
    std::vector<pier::Value> inputs;
    const auto& want_in = session->inputs();
    for (size_t i = 0;; ++i) {
      const std::string p = sd + "/input_" + std::to_string(i) + ".pb";
      if (!exists(p)) break;
      if (i >= want_in.size()) return {"fail", "test data has more inputs than the model"};
      inputs.push_back(pier::read_value_file(p, &want_in[i]));
    }
    std::vector<pier::Value> outs;
    try {
      outs = session->run(inputs);
    } catch (const pier::Error& e) {
      return {e.code() == ErrorCode::kUnsupported ? "unsupported" : "fail", set + ": run: " + e.what()};
    }
    const auto& want_out = session->outputs();
    for (size_t k = 0; k < outs.size(); ++k) {
      const std::string p = sd + "/output_" + std::to_string(k) + ".pb";
      if (!exists(p)) continue;
      pier::Value want = pier::read_value_file(p, &want_out[k]);
      std::string why = pier::conformance::compare_values(outs[k], want, rtol, atol);
      if (!why.empty()) return {"fail", set + ": output " + std::to_string(k) + " (" + want_out[k].name + "): " + why};
    }
  }
  if (n_sets == 0) return {"fail", "no test data sets"};
  return {"pass", ""};
}

struct Child {
  pid_t pid;
  int fd;
  size_t index;
  std::chrono::steady_clock::time_point start;
  std::string out;
};

std::string escape_json(const std::string& s) {
  std::string o;
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      o += '\\';
      o += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else {
      o += static_cast<char>(ch);
    }
  }
  return o;
}

std::map<std::string, std::string> read_list(const std::string& path) {
  std::map<std::string, std::string> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.find_first_of(" \t");
    std::string id = line.substr(0, sp);
    std::string rest = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
    out[id] = rest;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Pier ONNX backend conformance runner"};
  std::string data = "/usr/share/libonnx-testdata/data";
  std::vector<std::string> suites = {"node", "simple", "pytorch-converted", "pytorch-operator"};
  std::string expected, skipped, report = "conformance.json", filter;
  int jobs = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  double timeout_s = 120, rtol = 1e-3, atol = 1e-5, min_pass_rate = 0;
  bool update = false, verbose = false;
  app.add_option("--data", data, "Root of the backend test data");
  app.add_option("--suites", suites, "Suites to run")->delimiter(',');
  app.add_option("--expected", expected, "Expected-pass list: a case on it that fails fails the run");
  app.add_option("--skipped", skipped, "Cases not run, each with its reason");
  app.add_option("--report", report, "JSON report path");
  app.add_option("--filter", filter, "Only cases whose suite/name matches this regex");
  app.add_option("-j,--jobs", jobs, "Cases run at once");
  app.add_option("--timeout", timeout_s, "Seconds per case");
  app.add_option("--rtol", rtol);
  app.add_option("--atol", atol);
  app.add_option("--min-pass-rate", min_pass_rate, "Fail unless this fraction of all cases pass");
  app.add_flag("--update-expected", update, "Add newly passing cases to the expected-pass list");
  app.add_flag("-v,--verbose", verbose, "Print every non-passing case");
  CLI11_PARSE(app, argc, argv);

  std::vector<Case> cases;
  for (const auto& s : suites) {
    const std::string sd = data + "/" + s;
    auto names = list_dir(sd, true);
    if (names.empty()) {
      std::fprintf(stderr, "conformance: no cases under %s (is libonnx-testdata installed?)\n", sd.c_str());
      return 2;
    }
    for (const auto& n : names) {
      Case c{s, n, sd + "/" + n};
      if (!filter.empty() && !std::regex_search(c.id(), std::regex(filter))) continue;
      cases.push_back(c);
    }
  }
  const auto skip = skipped.empty() ? std::map<std::string, std::string>() : read_list(skipped);
  const auto expect = expected.empty() ? std::map<std::string, std::string>() : read_list(expected);

  std::vector<Result> results(cases.size());
  std::vector<size_t> todo;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto it = skip.find(cases[i].id());
    if (it != skip.end()) results[i] = {"skipped", it->second};
    else todo.push_back(i);
  }

  std::vector<Child> running;
  size_t next = 0;
  jobs = std::max(jobs, 1);
  while (next < todo.size() || !running.empty()) {
    while (next < todo.size() && static_cast<int>(running.size()) < jobs) {
      const size_t idx = todo[next++];
      int fds[2];
      if (pipe(fds) != 0) return 2;
      std::fflush(nullptr);
      pid_t pid = fork();
      if (pid == 0) {
        close(fds[0]);
        Result r;
        try {
          r = run_case(cases[idx], rtol, atol);
        } catch (const std::exception& e) {
          r = {"fail", std::string("error: ") + e.what()};
        }
        std::string msg = r.status + "\t" + r.message;
        ssize_t ignored = write(fds[1], msg.data(), msg.size());
        (void)ignored;
        close(fds[1]);
        _exit(0);
      }
      close(fds[1]);
      running.push_back({pid, fds[0], idx, std::chrono::steady_clock::now(), ""});
    }
    std::vector<pollfd> pfds;
    for (const auto& c : running) pfds.push_back({c.fd, POLLIN, 0});
    poll(pfds.data(), pfds.size(), 200);
    for (size_t k = 0; k < running.size();) {
      Child& c = running[k];
      bool done = false;
      if (pfds.size() > k && (pfds[k].revents & (POLLIN | POLLHUP))) {
        char buf[4096];
        ssize_t n = read(c.fd, buf, sizeof buf);
        if (n > 0) c.out.append(buf, static_cast<size_t>(n));
        else done = true;
      }
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.start).count();
      if (!done && secs > timeout_s) {
        kill(c.pid, SIGKILL);
        c.out = "fail\ttimeout after " + std::to_string(static_cast<int>(timeout_s)) + " s";
        done = true;
      }
      if (!done) {
        ++k;
        continue;
      }
      int status = 0;
      waitpid(c.pid, &status, 0);
      close(c.fd);
      Result r;
      r.ms = secs * 1000;
      size_t tab = c.out.find('\t');
      if (WIFSIGNALED(status) && c.out.rfind("fail\ttimeout", 0) != 0) {
        r.status = "fail";
        r.message = std::string("crashed: ") + strsignal(WTERMSIG(status));
      } else if (tab == std::string::npos) {
        r.status = "fail";
        r.message = "child exited without a result";
      } else {
        r.status = c.out.substr(0, tab);
        r.message = c.out.substr(tab + 1);
      }
      results[c.index] = r;
      running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
      pfds.erase(pfds.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }

  // ---- report ----
  struct Counts {
    int pass = 0, fail = 0, unsupported = 0, skipped = 0, total = 0;
  };
  std::map<std::string, Counts> per_suite;
  Counts all;
  for (size_t i = 0; i < cases.size(); ++i) {
    for (Counts* c : {&per_suite[cases[i].suite], &all}) {
      c->total++;
      const auto& s = results[i].status;
      if (s == "pass") c->pass++;
      else if (s == "unsupported") c->unsupported++;
      else if (s == "skipped") c->skipped++;
      else c->fail++;
    }
  }
  std::ofstream rep(report);
  rep << "{\n  \"summary\": {";
  bool first = true;
  auto counts_json = [](const Counts& c) {
    return "{\"pass\": " + std::to_string(c.pass) + ", \"fail\": " + std::to_string(c.fail) +
           ", \"unsupported\": " + std::to_string(c.unsupported) + ", \"skipped\": " + std::to_string(c.skipped) +
           ", \"total\": " + std::to_string(c.total) + "}";
  };
  for (const auto& [s, c] : per_suite) {
    rep << (first ? "\n" : ",\n") << "    \"" << s << "\": " << counts_json(c);
    first = false;
  }
  rep << "\n  },\n  \"total\": " << counts_json(all) << ",\n  \"cases\": [";
  for (size_t i = 0; i < cases.size(); ++i) {
    rep << (i ? ",\n" : "\n") << "    {\"suite\": \"" << cases[i].suite << "\", \"name\": \"" << cases[i].name
        << "\", \"status\": \"" << results[i].status << "\", \"ms\": " << static_cast<int64_t>(results[i].ms)
        << ", \"message\": \"" << escape_json(results[i].message) << "\"}";
  }
  rep << "\n  ]\n}\n";
  rep.close();

  if (verbose)
    for (size_t i = 0; i < cases.size(); ++i)
      if (results[i].status != "pass")
        std::printf("%-11s %s: %s\n", results[i].status.c_str(), cases[i].id().c_str(), results[i].message.c_str());

  std::string line = "conformance: " + std::to_string(all.pass) + "/" + std::to_string(all.total) + " pass";
  char pct[32];
  std::snprintf(pct, sizeof pct, " (%.1f%%)", all.total ? 100.0 * all.pass / all.total : 0.0);
  line += pct;
  line += ", " + std::to_string(all.fail) + " fail, " + std::to_string(all.unsupported) + " unsupported, " +
          std::to_string(all.skipped) + " skipped |";
  for (const auto& [s, c] : per_suite)
    line += " " + s + " " + std::to_string(c.pass) + "/" + std::to_string(c.total) + " (fail " +
            std::to_string(c.fail) + ", unsupported " + std::to_string(c.unsupported) + ")";
  std::printf("%s\n", line.c_str());
  std::printf("report: %s\n", report.c_str());

  int rc = 0;
  std::vector<std::string> regressed, fresh;
  for (size_t i = 0; i < cases.size(); ++i) {
    const bool listed = expect.count(cases[i].id()) != 0;
    const bool pass = results[i].status == "pass";
    if (listed && !pass) regressed.push_back(cases[i].id() + ": " + results[i].status + ": " + results[i].message);
    if (!listed && pass) fresh.push_back(cases[i].id());
  }
  if (!regressed.empty()) {
    std::printf("REGRESSIONS: %zu expected-pass cases did not pass:\n", regressed.size());
    for (const auto& r : regressed) std::printf("  %s\n", r.c_str());
    rc = 1;
  }
  if (!fresh.empty() && !expected.empty()) {
    if (update) {
      std::set<std::string> merged;
      for (const auto& [id, _] : expect) merged.insert(id);
      for (const auto& id : fresh) merged.insert(id);
      std::ofstream f(expected);
      f << "# Conformance cases that pass and must keep passing (suite/case). This list only grows.\n";
      for (const auto& id : merged) f << id << "\n";
      std::printf("added %zu newly passing cases to %s\n", fresh.size(), expected.c_str());
    } else {
      std::printf("%zu passing cases are not on the expected list (run with --update-expected to add them)\n",
                  fresh.size());
    }
  }
  if (all.total && static_cast<double>(all.pass) / all.total < min_pass_rate) {
    std::printf("pass rate below the required %.1f%%\n", 100 * min_pass_rate);
    rc = 1;
  }
  return rc;
}
