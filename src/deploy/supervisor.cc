#include "deploy/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "deploy/process.h"
#include "deploy/store.h"
#include "workspace/error.h"

namespace pier::deploy {

namespace {

using Clock = std::chrono::steady_clock;

void logf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void logf(const char* fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::fprintf(stderr, "%s pier-supervisor[%d]: %s\n", ts, static_cast<int>(::getpid()), msg);
  std::fflush(stderr);
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "stopped";
}

// The last line of the log that says "error", for a short failure message.
std::string last_error_line(const std::string& log) {
  std::ifstream f(log);
  std::string line, found;
  while (std::getline(f, line))
    if (line.find("error") != std::string::npos && line.find("pier-supervisor") == std::string::npos) found = line;
  return found;
}

struct Child {
  pid_t pid = 0;
  int64_t start = 0;
  int64_t generation = 0;
  int replica = 0;
  int ready_fd = -1;  // read end; -1 once ready or failed
  bool ready = false;
  bool retiring = false;  // sent SIGTERM on purpose: do not restart
  Clock::time_point started, term_sent;
};

class Supervisor {
 public:
  explicit Supervisor(const SupervisorOptions& opt) : opt_(opt), store_(opt.paths) {}
  int run();

 private:
  void spawn(int64_t generation, int replica, const Spec& spec, const std::vector<ModelVersion>& models);
  void on_exit(pid_t pid, int status);
  void on_ready_fd(Child& c);
  void record();
  void begin_update();
  void finish_switch();
  void fail_update(const std::string& why);
  void stop_all(bool retire_only_old);
  int count(int64_t generation, bool ready_only) const;
  void safe(const char* what, const std::function<void()>& fn);

  SupervisorOptions opt_;
  Store store_;
  Deployment d_;
  std::map<pid_t, Child> children_;
  bool creating_ = true;
  bool stopping_ = false;
  Clock::time_point stop_deadline_;
  // Replicas to start again: (when, replica) for the current generation.
  std::vector<std::pair<Clock::time_point, int>> restarts_;
  int crash_streak_ = 0;
  // An update: the generation starting, its spec and models.
  std::optional<int64_t> updating_;
  Spec update_spec_;
  std::vector<ModelVersion> update_models_;
  Clock::time_point update_deadline_;
  bool draining_old_ = false;
  int exit_code_ = 0;
  std::string create_error_;
};

void Supervisor::safe(const char* what, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    logf("cannot record %s in the workspace: %s", what, e.what());
  }
}

int Supervisor::count(int64_t generation, bool ready_only) const {
  int n = 0;
  for (const auto& [pid, c] : children_)
    if (c.generation == generation && !c.retiring && (!ready_only || c.ready)) ++n;
  return n;
}

void Supervisor::record() {
  std::vector<ServerProcess> v;
  for (const auto& [pid, c] : children_) v.push_back({c.pid, c.start, c.generation, c.ready});
  safe("the server processes", [&] { store_.set_servers(d_.name, v); });
}

void Supervisor::spawn(int64_t generation, int replica, const Spec& spec, const std::vector<ModelVersion>& models) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    logf("pipe: %s", std::strerror(errno));
    restarts_.push_back({Clock::now() + std::chrono::seconds(1), replica});
    return;
  }
  std::vector<std::string> argv = {opt_.pier, "serve", "--workspace", opt_.paths.root.string()};
  for (const auto& m : models) argv.insert(argv.end(), {"--model", m.name + ":" + std::to_string(m.version)});
  argv.insert(argv.end(), {"--host", d_.host, "--port", std::to_string(d_.port), "--listen-fd", "3", "--ready-fd", "4",
                           "--stop-idle-grace", "2", "--drain-timeout", std::to_string(static_cast<int>(opt_.drain_timeout))});
  if (spec.workers) argv.insert(argv.end(), {"--workers", std::to_string(spec.workers)});
  if (spec.threads) argv.insert(argv.end(), {"--threads", std::to_string(spec.threads)});
  std::string keys;
  for (const auto& k : spec.api_keys) keys += (keys.empty() ? "" : ",") + k;
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  // The keys go in the environment, not on the command line (which any
  // user can read in /proc).
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "PIER_API_KEYS=", 14) != 0) env_s.emplace_back(*e);
  if (!keys.empty()) env_s.push_back("PIER_API_KEYS=" + keys);
  std::vector<char*> env;
  for (auto& e : env_s) env.push_back(e.data());
  env.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    logf("fork: %s", std::strerror(errno));
    ::close(fds[0]);
    ::close(fds[1]);
    restarts_.push_back({Clock::now() + std::chrono::seconds(1), replica});
    return;
  }
  if (pid == 0) {
    // The server dies with the supervisor, so that nothing is left running.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);
    const int l = ::fcntl(opt_.listen_fd, F_DUPFD_CLOEXEC, 10);
    const int r = ::fcntl(fds[1], F_DUPFD_CLOEXEC, 10);
    if (l < 0 || r < 0 || ::dup2(l, 3) < 0 || ::dup2(r, 4) < 0) ::_exit(127);
    ::close_range(5, ~0U, 0);  // the database, other servers' pipes, ...
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execve(args[0], args.data(), env.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  Child c;
  c.pid = pid;
  c.generation = generation;
  c.replica = replica;
  c.ready_fd = fds[0];
  c.started = Clock::now();
  // The start time identifies the process even once its pid is reused.
  for (int i = 0; i < 50 && !(c.start = process_start(pid)); ++i) ::usleep(1000);
  children_[pid] = c;
  logf("started server pid %d (generation %lld, replica %d)", static_cast<int>(pid), static_cast<long long>(generation), replica);
}

void Supervisor::on_ready_fd(Child& c) {
  char buf[64];
  const ssize_t n = ::read(c.ready_fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  ::close(c.ready_fd);
  c.ready_fd = -1;
  if (n > 0 && std::string(buf, static_cast<size_t>(n)).rfind("ready", 0) == 0) {
    c.ready = true;
    logf("server pid %d is ready", static_cast<int>(c.pid));
    record();
    if (c.generation == d_.generation) crash_streak_ = 0;
    if (creating_ && count(d_.generation, true) == d_.spec.replicas) {
      creating_ = false;
      safe("the state", [&] { store_.set_state(d_.name, kHealthy, ""); });
      logf("deployment %s is Healthy on %s", d_.name.c_str(), d_.base_uri().c_str());
    } else if (!creating_ && !updating_ && !stopping_ && count(d_.generation, true) == d_.spec.replicas) {
      safe("the state", [&] { store_.set_state(d_.name, kHealthy, ""); });
    }
    if (updating_ && c.generation == *updating_ && count(*updating_, true) == update_spec_.replicas) finish_switch();
  }
  // EOF without "ready": the server is failing; its exit is handled in on_exit.
}

void Supervisor::begin_update() {
  Deployment fresh;
  try {
    fresh = store_.get(d_.name);
  } catch (const std::exception& e) {
    logf("cannot read the deployment: %s", e.what());
    return;
  }
  if (fresh.target_generation <= d_.generation || updating_ || draining_old_) return;
  updating_ = fresh.target_generation;
  update_spec_ = fresh.target_spec;
  update_models_ = fresh.target_models;
  update_deadline_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(opt_.ready_timeout * 1000));
  std::string what;
  for (const auto& m : update_models_) what += (what.empty() ? "" : ", ") + m.name + ":" + std::to_string(m.version);
  logf("update to generation %lld (%s): starting %d server(s)", static_cast<long long>(*updating_), what.c_str(),
       update_spec_.replicas);
  for (int i = 0; i < update_spec_.replicas; ++i) spawn(*updating_, i, update_spec_, update_models_);
  record();
}

// Every server of the new generation accepts on the socket: the old ones
// stop accepting and finish their requests.
void Supervisor::finish_switch() {
  const int64_t old = d_.generation;
  d_.generation = *updating_;
  d_.spec = update_spec_;
  d_.models = update_models_;
  updating_.reset();
  restarts_.clear();
  logf("generation %lld serves; draining generation %lld", static_cast<long long>(d_.generation), static_cast<long long>(old));
  for (auto& [pid, c] : children_)
    if (c.generation != d_.generation && !c.retiring) {
      c.retiring = true;
      c.term_sent = Clock::now();
      ::kill(pid, SIGTERM);
    }
  draining_old_ = true;
  record();
  if (count(old, false) == 0) {
    bool any = false;
    for (const auto& [pid, c] : children_) any |= c.generation != d_.generation;
    if (!any) {
      draining_old_ = false;
      safe("the update", [&] {
        store_.commit_update(d_.name);
        store_.set_state(d_.name, kHealthy, "");
      });
      logf("update done");
    }
  }
}

void Supervisor::fail_update(const std::string& why) {
  logf("update to generation %lld failed: %s; generation %lld keeps serving", static_cast<long long>(*updating_),
       why.c_str(), static_cast<long long>(d_.generation));
  for (auto& [pid, c] : children_)
    if (c.generation == *updating_ && !c.retiring) {
      c.retiring = true;
      c.term_sent = Clock::now();
      ::kill(pid, SIGKILL);
    }
  const int64_t gen = *updating_;
  updating_.reset();
  safe("the failed update", [&] {
    store_.abort_update(d_.name, "update to generation " + std::to_string(gen) + " failed: " + why);
  });
  record();
}

void Supervisor::on_exit(pid_t pid, int status) {
  auto it = children_.find(pid);
  if (it == children_.end()) return;
  Child c = it->second;
  children_.erase(it);
  if (c.ready_fd >= 0) ::close(c.ready_fd);
  const std::string how = exit_text(status);
  if (c.retiring || stopping_) {
    logf("server pid %d %s", static_cast<int>(pid), how.c_str());
    record();
    if (draining_old_) {
      bool any = false;
      for (const auto& [p, o] : children_) any |= o.generation != d_.generation;
      if (!any) {
        draining_old_ = false;
        safe("the update", [&] {
          store_.commit_update(d_.name);
          store_.set_state(d_.name, kHealthy, "");
        });
        logf("update done: the old servers have drained");
      }
    }
    return;
  }
  if (updating_ && c.generation == *updating_) {
    const std::string err = last_error_line(store_.log_path(d_.name));
    fail_update("a new server " + how + " before it was ready" + (err.empty() ? "" : ": " + err));
    return;
  }
  if (creating_) {
    const std::string err = last_error_line(store_.log_path(d_.name));
    create_error_ = "pier serve " + how + " before it was ready" + (err.empty() ? "" : ": " + err);
    logf("%s", create_error_.c_str());
    exit_code_ = 1;
    stopping_ = true;
    stop_deadline_ = Clock::now() + std::chrono::seconds(5);
    for (auto& [p, o] : children_) ::kill(p, SIGKILL);
    record();
    return;
  }
  // A server of the serving generation died: start another.
  safe("the restart", [&] { store_.add_restart(d_.name); });
  const bool was_ready = c.ready;
  const bool short_lived = Clock::now() - c.started < std::chrono::seconds(10);
  if (!was_ready || short_lived) ++crash_streak_;
  else crash_streak_ = 0;
  const int delay_ms = crash_streak_ <= 1 ? 0 : std::min(30000, 250 << std::min(crash_streak_, 7));
  logf("server pid %d %s; starting another%s", static_cast<int>(pid), how.c_str(),
       delay_ms ? (" in " + std::to_string(delay_ms) + " ms").c_str() : "");
  if (crash_streak_ >= 3) {
    const std::string err = last_error_line(store_.log_path(d_.name));
    safe("the state", [&] {
      store_.set_state(d_.name, kFailed,
                       "pier serve keeps exiting (" + how + ")" + (err.empty() ? "" : ": " + err) +
                           "; the supervisor keeps restarting it");
    });
  }
  restarts_.push_back({Clock::now() + std::chrono::milliseconds(delay_ms), c.replica});
  record();
}

int Supervisor::run() {
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    logf("signalfd: %s", std::strerror(errno));
    return 1;
  }
  d_ = store_.get(opt_.name);
  const int64_t self_start = process_start(::getpid());
  store_.set_supervisor(d_.name, ::getpid(), self_start);
  logf("supervising deployment %s on %s (%d replica%s)", d_.name.c_str(), d_.base_uri().c_str(), d_.spec.replicas,
       d_.spec.replicas == 1 ? "" : "s");
  // A record left Updating by a supervisor that died mid-update: serve the
  // recorded generation.
  if (d_.target_generation != d_.generation) safe("the abandoned update", [&] { store_.abort_update(d_.name, "the update was interrupted"); });
  creating_ = d_.state == kCreating;
  for (int i = 0; i < d_.spec.replicas; ++i) spawn(d_.generation, i, d_.spec, d_.models);
  record();
  const auto create_deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(opt_.ready_timeout * 1000));

  for (;;) {
    if (stopping_ && children_.empty()) break;
    // Timers: restarts due, readiness deadlines, the stop deadline.
    const auto now = Clock::now();
    if (!stopping_) {
      for (auto it = restarts_.begin(); it != restarts_.end();) {
        if (it->first <= now) {
          spawn(d_.generation, it->second, d_.spec, d_.models);
          record();
          it = restarts_.erase(it);
        } else {
          ++it;
        }
      }
      if (creating_ && now >= create_deadline) {
        create_error_ = "the servers were not ready after " + std::to_string(static_cast<int>(opt_.ready_timeout)) + " s";
        logf("%s", create_error_.c_str());
        exit_code_ = 1;
        stopping_ = true;
        stop_deadline_ = now + std::chrono::seconds(5);
        for (auto& [p, c] : children_) ::kill(p, SIGKILL);
      }
      if (updating_ && now >= update_deadline_) fail_update("the new servers were not ready in time");
    } else if (now >= stop_deadline_) {
      for (auto& [p, c] : children_) ::kill(p, SIGKILL);
      stop_deadline_ = now + std::chrono::seconds(3600);
    }
    // Stopping old servers that take too long to drain.
    for (auto& [p, c] : children_)
      if (c.retiring && c.term_sent != Clock::time_point{} &&
          now - c.term_sent > std::chrono::milliseconds(static_cast<int64_t>(opt_.drain_timeout * 1000) + 5000)) {
        ::kill(p, SIGKILL);
        c.term_sent = Clock::time_point{};
      }

    std::vector<pollfd> fds;
    fds.push_back({sfd, POLLIN, 0});
    std::vector<pid_t> owners;
    for (auto& [pid, c] : children_)
      if (c.ready_fd >= 0) {
        fds.push_back({c.ready_fd, POLLIN, 0});
        owners.push_back(pid);
      }
    int timeout_ms = 200;
    for (const auto& [when, r] : restarts_)
      timeout_ms = std::min<int>(timeout_ms, static_cast<int>(std::max<int64_t>(
                                                 0, std::chrono::duration_cast<std::chrono::milliseconds>(when - now).count())));
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) {
      logf("poll: %s", std::strerror(errno));
      break;
    }
    for (size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents) {
        auto it = children_.find(owners[i - 1]);
        if (it != children_.end() && it->second.ready_fd >= 0) on_ready_fd(it->second);
      }
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
          if (!stopping_) {
            logf("stopping: SIGTERM to every server");
            stopping_ = true;
            stop_deadline_ = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(opt_.drain_timeout * 1000) + 5000);
            restarts_.clear();
            for (auto& [p, c] : children_) {
              c.retiring = true;
              ::kill(p, SIGTERM);
            }
          }
        } else if (si.ssi_signo == SIGHUP) {
          if (!stopping_ && !creating_) begin_update();
        }
      }
    }
    // Reap every child that has exited (SIGCHLD may merge several).
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      on_exit(pid, status);
    }
  }
  ::close(opt_.listen_fd);  // the port is free from here on
  if (!create_error_.empty()) safe("the failure", [&] { store_.set_state(d_.name, kFailed, create_error_); });
  safe("the exit", [&] {
    store_.set_servers(d_.name, {});
    store_.set_supervisor(d_.name, 0, 0);
  });
  logf("supervisor exits");
  return exit_code_;
}

}  // namespace

int run_supervisor(const SupervisorOptions& opt) {
  try {
    Supervisor s(opt);
    return s.run();
  } catch (const std::exception& e) {
    logf("error: %s", e.what());
    try {
      Store st(opt.paths);
      st.set_state(opt.name, kFailed, std::string("supervisor: ") + e.what());
      st.set_supervisor(opt.name, 0, 0);
    } catch (...) {
    }
    return 1;
  }
}

}  // namespace pier::deploy
