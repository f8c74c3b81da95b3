#include "deploy/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <linux/close_range.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "workspace/error.h"

namespace pier::deploy {

using ws::ErrorKind;
using ws::fail;

int64_t process_start(int64_t pid) {
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!f || !std::getline(f, s)) return 0;
  // "PID (COMM) STATE ..."; COMM may hold spaces and parentheses.
  const size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  // fields[0] is STATE (field 3); start time is field 22.
  if (fields.size() < 20 || fields[0] == "Z" || fields[0] == "X") return 0;
  return std::stoll(fields[19]);
}

bool process_alive(int64_t pid, int64_t start) { return start != 0 && process_start(pid) == start; }

bool wait_gone(int64_t pid, int64_t start, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid, start)) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int open_listener(const std::string& host, int& port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *v6;
  } else {
    fail(ErrorKind::kInvalidArgument, "--host \"" + host + "\" is not an IPv4 or IPv6 address");
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(ErrorKind::kIO, std::string("socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const std::string where = (ss.ss_family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == EADDRINUSE) fail(ErrorKind::kConflict, "port " + std::to_string(port) + " on " + host + " is in use; choose another --port (0: any free port)");
    if (e == EACCES) fail(ErrorKind::kIO, "no permission to listen on " + where + " (ports below 1024 need privileges)");
    if (e == EADDRNOTAVAIL) fail(ErrorKind::kInvalidArgument, "--host " + host + " is not an address of this machine");
    fail(ErrorKind::kIO, "cannot listen on " + where + ": " + std::strerror(e));
  }
  socklen_t l = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &l);
  port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

std::string random_key(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::kIO, std::string("getrandom: ") + std::strerror(errno));
    }
    got += static_cast<size_t>(n);
  }
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : raw) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      out += abc[(acc >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits) out += abc[(acc << (6 - bits)) & 63];
  return out;
}

std::string self_exe() {
  std::error_code ec;
  auto p = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec) fail(ErrorKind::kIO, "cannot find the pier executable: " + ec.message());
  return p.string();
}

void spawn_daemon(const std::vector<std::string>& argv, const std::string& log, int fd) {
  const int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logfd < 0) fail(ErrorKind::kIO, "cannot write " + log + ": " + std::strerror(errno));
  const int nullfd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(logfd);
    if (nullfd >= 0) ::close(nullfd);
    fail(ErrorKind::kIO, std::string("fork: ") + std::strerror(errno));
  }
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::setsid();
    const pid_t grandchild = ::fork();
    if (grandchild != 0) ::_exit(grandchild < 0 ? 1 : 0);
    // Move the descriptors out of the way, then into place.
    const int l = ::fcntl(logfd, F_DUPFD_CLOEXEC, 10);
    const int n = nullfd >= 0 ? ::fcntl(nullfd, F_DUPFD_CLOEXEC, 10) : -1;
    const int s = fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 10) : -1;
    if (l < 0 || (fd >= 0 && s < 0)) ::_exit(127);
    if (n >= 0) ::dup2(n, 0);
    ::dup2(l, 1);
    ::dup2(l, 2);
    if (s >= 0) ::dup2(s, 3);
    // Nothing else of ours or of whoever started us goes with the daemon.
    ::close_range(s >= 0 ? 4 : 3, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir("/") != 0) ::_exit(127);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(logfd);
  if (nullfd >= 0) ::close(nullfd);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(ErrorKind::kIO, "cannot start the supervisor process");
}

}  // namespace pier::deploy
