// Processes and sockets for local deployments.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace pier::deploy {

// Start time of a process (clock ticks since boot, /proc/PID/stat field 22),
// or 0 when there is no such process or it has exited (a zombie).
int64_t process_start(int64_t pid);
// True while the process `pid` that started at `start` runs (not a reused pid).
bool process_alive(int64_t pid, int64_t start);
// Waits until the process is gone; false on timeout.
bool wait_gone(int64_t pid, int64_t start, std::chrono::milliseconds timeout);

// A TCP socket bound to host:port and listening (close-on-exec), with
// SO_REUSEADDR. Port 0 picks a free port; `port` is set to the one bound.
// Throws ws::Error with a clear message (in use, not an address here, ...).
int open_listener(const std::string& host, int& port);

// n random bytes from the kernel, as URL-safe base64 without padding.
std::string random_key(size_t bytes = 32);

// Starts `argv` as a daemon: in a new session, with stdin from /dev/null,
// stdout and stderr appended to `log`, and `fd` (when >= 0) as descriptor 3.
// Returns once the daemon has been started (its pid is not known here).
void spawn_daemon(const std::vector<std::string>& argv, const std::string& log, int fd);

// The running pier executable.
std::string self_exe();

}  // namespace pier::deploy
