#include "server/scheduler.h"

#include <algorithm>

namespace pier::server {

Scheduler::Scheduler(int workers, std::chrono::microseconds spin) : spin_(spin) {
  const int n = std::max(1, workers);
  threads_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { work(); });
}

Scheduler::~Scheduler() { shutdown(); }

size_t Scheduler::add_queue(int max_running, size_t max_queued) {
  std::lock_guard<std::mutex> lk(mu_);
  Queue q;
  q.max_running = std::max(1, max_running);
  q.max_queued = std::max<size_t>(1, max_queued);
  queues_.push_back(std::move(q));
  return queues_.size() - 1;
}

bool Scheduler::submit(size_t queue, Job job) {
  bool wake;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ || queue >= queues_.size()) return false;
    Queue& q = queues_[queue];
    if (q.jobs.size() >= q.max_queued) return false;
    q.jobs.emplace_back(std::move(job), Clock::now());
    queued_.fetch_add(1, std::memory_order_release);
    // A polling worker will see the job; wake a sleeper only when none polls.
    wake = sleepers_ > 0 && !spinning_;
  }
  if (wake) cv_.notify_one();
  return true;
}

long Scheduler::pick() const {
  const size_t n = queues_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (cursor_ + k) % n;
    const Queue& q = queues_[i];
    if (!q.jobs.empty() && q.running < q.max_running) return static_cast<long>(i);
  }
  return -1;
}

void Scheduler::work() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    long i = pick();
    if (i < 0 && !stopping_ && spin_.count() > 0 && !spinning_) {
      spinning_ = true;
      lk.unlock();
      const auto until = Clock::now() + spin_;
      while (queued_.load(std::memory_order_acquire) == 0 && Clock::now() < until) std::this_thread::yield();
      lk.lock();
      spinning_ = false;
      i = pick();
    }
    if (i < 0) {
      ++sleepers_;
      cv_.wait(lk, [&] {
        i = pick();
        return i >= 0 || stopping_;
      });
      --sleepers_;
      if (i < 0) return;  // stopping, and nothing runnable is left
    }
    Queue& q = queues_[static_cast<size_t>(i)];
    auto [job, enqueued] = std::move(q.jobs.front());
    q.jobs.pop_front();
    queued_.fetch_sub(1, std::memory_order_relaxed);
    ++q.running;
    cursor_ = static_cast<size_t>(i) + 1;
    // Another worker may take the next job (a polling one finds it alone).
    const bool more = pick() >= 0 && sleepers_ > 0 && !spinning_;
    lk.unlock();
    if (more) cv_.notify_one();
    try {
      job(enqueued);
    } catch (...) {
      // Jobs answer their own errors; nothing may escape into the worker.
    }
    job = nullptr;  // release what the job holds before taking the lock
    lk.lock();
    --queues_[static_cast<size_t>(i)].running;
    // This queue may be runnable again now that one of its jobs finished.
    if (!queues_[static_cast<size_t>(i)].jobs.empty() && sleepers_ > 0) cv_.notify_one();
  }
}

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

}  // namespace pier::server
