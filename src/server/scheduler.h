// Inference workers: a fixed pool of threads in front of per-model queues.
//
// Each served model has its own FIFO queue and a cap on how many of its
// requests run at once. Idle workers take the next job round-robin over the
// models that have work and are under their cap, so requests to different
// models run at the same time and one busy (or slow) model cannot take every
// worker while another model waits. The HTTP I/O threads only enqueue.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pier::server {

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  // A job learns when it was enqueued (for the queue-time metric).
  using Job = std::function<void(Clock::time_point enqueued)>;

  // An idle worker (one at a time) polls for new jobs for `spin`, yielding
  // the CPU in between, before it sleeps: under load a job then starts
  // without a thread wake-up.
  explicit Scheduler(int workers, std::chrono::microseconds spin = std::chrono::microseconds(0));
  ~Scheduler();  // shutdown()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Adds a queue; `max_running` caps its jobs running at once, `max_queued`
  // its jobs waiting. Call before the first submit().
  size_t add_queue(int max_running, size_t max_queued);
  // False (and the job is dropped) when the queue is full or the scheduler
  // is shutting down.
  bool submit(size_t queue, Job job);
  // Runs every job already queued, then stops and joins the workers.
  void shutdown();
  int workers() const { return static_cast<int>(threads_.size()); }

 private:
  struct Queue {
    std::deque<std::pair<Job, Clock::time_point>> jobs;
    int running = 0;
    int max_running = 1;
    size_t max_queued = 0;
  };
  void work();
  // Index of the next runnable queue after `cursor_`, or -1.
  long pick() const;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Queue> queues_;
  size_t cursor_ = 0;
  bool stopping_ = false;
  std::chrono::microseconds spin_;
  std::atomic<size_t> queued_{0};  // jobs in all queues; read without the lock by a spinning worker
  bool spinning_ = false;          // a worker is polling (under mu_)
  int sleepers_ = 0;               // workers waiting on cv_ (under mu_)
  std::vector<std::thread> threads_;
};

}  // namespace pier::server
