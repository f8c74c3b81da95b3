#include "exec/memory_planner.h"

#include <malloc.h>

#include <atomic>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/memory.h"
#include "exec/memory_plan.h"

namespace pier::exec {

namespace {

constexpr size_t kMaxRecorded = 16384;    // allocations of one run worth planning
constexpr int kMaxFailures = 3;           // deviations before a signature stays on the pool
constexpr size_t kMaxPrewarmBytes = size_t{64} << 20;
constexpr size_t kHugeArenaBytes = size_t{16} << 20;

struct KeyHash {
  size_t operator()(const std::vector<int64_t>& k) const noexcept {
    uint64_t h = 1469598103934665603ull;
    for (int64_t v : k) h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
    return static_cast<size_t>(h);
  }
};

// Tensor bytes in use by one run. Blocks can be released after the run
// (outputs), so their deleters share ownership of it.
struct RunStats {
  std::atomic<int64_t> live{0};
  int64_t peak = 0;  // written by the run thread only
  void add(size_t b) {
    const int64_t now = live.fetch_add(static_cast<int64_t>(b), std::memory_order_relaxed) + static_cast<int64_t>(b);
    if (now > peak) peak = now;
  }
  void sub(size_t b) { live.fetch_sub(static_cast<int64_t>(b), std::memory_order_relaxed); }
};

// One arena laid out by `plan`. Reference counted: one reference for
// whoever owns it (an entry's idle list or a run) and one per block handed
// out, so an arena whose blocks outlive their run is freed by the last one.
struct Arena {
  Arena(std::shared_ptr<const MemoryPlan> p, std::shared_ptr<std::atomic<size_t>> counter)
      : plan(std::move(p)), held_bytes(std::move(counter)), bytes(plan->arena_bytes) {
    // Huge pages (fewer TLB misses) only where rounding up to 2 MiB wastes
    // little: a huge page is resident as a whole.
    if (bytes >= kHugeArenaBytes) base = static_cast<char*>(memory::os_alloc_huge(bytes));
    else if (bytes) base = static_cast<char*>(memory::os_alloc(bytes));
    alive = std::make_unique<std::atomic<uint8_t>[]>(plan->size());
    held_bytes->fetch_add(bytes);
  }
  ~Arena() {
    memory::os_free(base);
    held_bytes->fetch_sub(bytes);
  }
  std::shared_ptr<const MemoryPlan> plan;
  std::shared_ptr<std::atomic<size_t>> held_bytes;
  size_t bytes = 0;
  char* base = nullptr;
  std::unique_ptr<std::atomic<uint8_t>[]> alive;  // per allocation: handed out, not yet released
  std::atomic<int64_t> refs{1};
};

void unref(Arena* a) {
  if (a->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete a;
}

struct Record {
  Record(size_t b, int64_t s) : bytes(b), start(s) {}
  size_t bytes;
  int64_t start;
  std::atomic<int64_t> end{AllocInterval::kEscaped};
};

// The allocations of a recording run. Blocks released during the run go
// back to the OS (the replayed runs will not need them); those released
// after it (outputs) go to the pool, where replayed runs find them.
struct Recorder {
  std::atomic<int64_t> clock{0};
  std::deque<Record> records;  // stable addresses
  std::atomic<bool> done{false};
};

struct Entry {
  enum class State { kNew, kRecording, kReady, kDynamic };
  State state = State::kNew;
  std::shared_ptr<const MemoryPlan> plan;
  std::vector<Arena*> idle;
  int failures = 0;
  uint64_t last_use = 0;
  bool evicted = false;
};

void drop_arenas(Entry& e) {
  for (Arena* a : e.idle) unref(a);
  e.idle.clear();
}

}  // namespace

struct MemoryPlanner::Impl {
  explicit Impl(size_t m) : max_plans(m) {}
  ~Impl() {
    for (auto& kv : entries) drop_arenas(*kv.second);
  }
  std::mutex mu;
  std::unordered_map<std::vector<int64_t>, std::shared_ptr<Entry>, KeyHash> entries;
  uint64_t tick = 0;
  size_t max_plans;
  size_t last_peak = 0;
  std::shared_ptr<std::atomic<size_t>> arena_bytes = std::make_shared<std::atomic<size_t>>(0);

  // Forgets the least recently used signature that is not being recorded.
  void evict_one() {
    auto victim = entries.end();
    for (auto it = entries.begin(); it != entries.end(); ++it)
      if (it->second->state != Entry::State::kRecording &&
          (victim == entries.end() || it->second->last_use < victim->second->last_use))
        victim = it;
    if (victim == entries.end()) return;
    victim->second->evicted = true;
    drop_arenas(*victim->second);
    entries.erase(victim);
  }
};

class MemoryPlanner::Run::State final : public memory::RunAllocator {
 public:
  enum class Mode { kRecord, kReplay, kPool };

  State(std::shared_ptr<Impl> impl, std::vector<int64_t> key) : impl_(std::move(impl)) {
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      auto it = impl_->entries.find(key);
      if (it == impl_->entries.end()) {
        if (impl_->entries.size() >= impl_->max_plans) impl_->evict_one();
        it = impl_->entries.emplace(std::move(key), std::make_shared<Entry>()).first;
      }
      entry_ = it->second;
      entry_->last_use = ++impl_->tick;
      if (entry_->state == Entry::State::kNew) {
        entry_->state = Entry::State::kRecording;
        mode_ = Mode::kRecord;
        recorder_ = std::make_shared<Recorder>();
      } else if (entry_->state == Entry::State::kReady) {
        if (!entry_->idle.empty()) {
          arena_ = entry_->idle.back();
          entry_->idle.pop_back();
        } else {
          try {
            arena_ = new Arena(entry_->plan, impl_->arena_bytes);
          } catch (const std::exception&) {
            arena_ = nullptr;  // out of memory: this run uses the pool
          }
        }
        if (arena_) {
          mode_ = Mode::kReplay;
          plan_ = arena_->plan.get();
        }
      }
    }
    uncaught_ = std::uncaught_exceptions();
    scope_.emplace(this);
  }

  std::shared_ptr<void> allocate(size_t bytes) override {
    switch (mode_) {
      case Mode::kReplay: {
        const size_t i = next_++;
        if (!deviated_ && i < plan_->size() && plan_->bytes[i] == bytes) {
          const int64_t off = plan_->offset[i];
          if (off != MemoryPlan::kExternal && released_before(i)) return from_arena(i, static_cast<size_t>(off), bytes);
        } else {
          deviated_ = true;
        }
        return from_pool(bytes);
      }
      case Mode::kRecord:
        if (recorder_->records.size() < kMaxRecorded) return recorded(bytes);
        overflow_ = true;
        return from_pool(bytes);
      case Mode::kPool: break;
    }
    return from_pool(bytes);
  }

  // Called once, when the run ends (normally or by an exception).
  void finish() {
    scope_.reset();
    const bool failed = std::uncaught_exceptions() > uncaught_;
    std::shared_ptr<const MemoryPlan> new_plan;
    if (mode_ == Mode::kRecord) {
      recorder_->done.store(true, std::memory_order_release);
      if (!failed && !overflow_) {
        std::vector<AllocInterval> intervals;
        intervals.reserve(recorder_->records.size());
        for (const Record& r : recorder_->records)
          intervals.push_back(AllocInterval{r.bytes, r.start, r.end.load(std::memory_order_acquire)});
        try {
          new_plan = std::make_shared<const MemoryPlan>(plan_memory(intervals));
        } catch (const std::exception&) {
          new_plan.reset();
        }
        // The recorded run's blocks were freed to the C heap, which keeps
        // them; the arena replaces them, so give them back to the OS rather
        // than holding both.
        if (new_plan) malloc_trim(0);
      }
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->last_peak = static_cast<size_t>(stats_->peak);
    Entry& e = *entry_;
    switch (mode_) {
      case Mode::kRecord:
        if (e.evicted) break;
        if (failed) {
          e.state = Entry::State::kNew;
        } else if (!new_plan) {
          e.state = Entry::State::kDynamic;
        } else {
          e.plan = new_plan;
          e.state = Entry::State::kReady;
          prepare(e);
        }
        break;
      case Mode::kReplay: {
        const bool current = e.plan.get() == plan_ && !e.evicted;
        const bool deviation = !failed && (deviated_ || next_ != plan_->size());
        // Blocks still held after the run: the arena cannot be reused.
        const bool escaped = arena_->refs.load(std::memory_order_acquire) != 1;
        if (current && !deviation && !escaped) e.idle.push_back(arena_);
        else unref(arena_);
        if (current && (deviation || escaped)) {
          drop_arenas(e);
          e.plan.reset();
          e.state = ++e.failures >= kMaxFailures ? Entry::State::kDynamic : Entry::State::kNew;
        }
        break;
      }
      case Mode::kPool: break;
    }
  }

 private:
  // Every earlier allocation that shares bytes with allocation i has been
  // released (as it was when the plan was recorded).
  bool released_before(size_t i) const {
    for (uint32_t k = plan_->conflict_begin[i]; k < plan_->conflict_begin[i + 1]; ++k)
      if (arena_->alive[plan_->conflicts[k]].load(std::memory_order_acquire)) return false;
    return true;
  }

  std::shared_ptr<void> from_arena(size_t i, size_t offset, size_t bytes) {
    Arena* a = arena_;
    a->alive[i].store(1, std::memory_order_relaxed);
    a->refs.fetch_add(1, std::memory_order_relaxed);
    stats_->add(bytes);
    return std::shared_ptr<void>(a->base + offset, [a, i, bytes, st = stats_](void*) {
      st->sub(bytes);
      a->alive[i].store(0, std::memory_order_release);
      unref(a);
    });
  }

  std::shared_ptr<void> from_pool(size_t bytes) {
    size_t cap = 0;
    void* p = memory::pool_alloc(bytes, &cap);
    stats_->add(bytes);
    return std::shared_ptr<void>(p, [cap, bytes, st = stats_](void* q) {
      st->sub(bytes);
      memory::pool_free(q, cap);
    });
  }

  std::shared_ptr<void> recorded(size_t bytes) {
    const size_t cap = memory::pool_block_size(bytes);
    void* p = memory::os_alloc(cap);
    Record* r = &recorder_->records.emplace_back(bytes, recorder_->clock.fetch_add(1));
    stats_->add(bytes);
    return std::shared_ptr<void>(p, [rec = recorder_, r, cap, bytes, st = stats_](void* q) {
      r->end.store(rec->clock.fetch_add(1), std::memory_order_release);
      st->sub(bytes);
      if (rec->done.load(std::memory_order_acquire)) memory::pool_free(q, cap);
      else memory::os_free(q);
    });
  }

  // After recording: one arena ready, and pool blocks for the allocations
  // that escape, so that the next run with this signature allocates nothing.
  void prepare(Entry& e) {
    try {
      e.idle.push_back(new Arena(e.plan, impl_->arena_bytes));
      size_t warmed = 0;
      for (size_t i = 0; i < e.plan->size(); ++i) {
        if (e.plan->offset[i] != MemoryPlan::kExternal) continue;
        const size_t cap = memory::pool_block_size(e.plan->bytes[i]);
        if (warmed + cap > kMaxPrewarmBytes) break;
        memory::pool_free(memory::os_alloc(cap), cap);
        warmed += cap;
      }
    } catch (const std::exception&) {
      // Out of memory: the next run creates what it needs.
    }
  }

  std::shared_ptr<Impl> impl_;
  std::shared_ptr<Entry> entry_;
  Mode mode_ = Mode::kPool;
  std::shared_ptr<RunStats> stats_ = std::make_shared<RunStats>();
  std::shared_ptr<Recorder> recorder_;
  bool overflow_ = false;
  Arena* arena_ = nullptr;
  const MemoryPlan* plan_ = nullptr;
  size_t next_ = 0;
  bool deviated_ = false;
  int uncaught_ = 0;
  std::optional<memory::ScopedRunAllocator> scope_;
};

MemoryPlanner::MemoryPlanner(size_t max_plans) : impl_(std::make_shared<Impl>(max_plans)) {}
MemoryPlanner::~MemoryPlanner() = default;

MemoryPlanner::Run::Run(MemoryPlanner& planner, std::vector<int64_t> signature)
    : state_(std::make_unique<State>(planner.impl_, std::move(signature))) {}

MemoryPlanner::Run::~Run() { state_->finish(); }

MemoryStats MemoryPlanner::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  MemoryStats s;
  s.arena_bytes = impl_->arena_bytes->load();
  s.peak_bytes = impl_->last_peak;
  for (const auto& kv : impl_->entries)
    if (kv.second->state == Entry::State::kReady) ++s.plans;
  return s;
}

std::vector<int64_t> MemoryPlanner::signature(const std::vector<Value>& inputs) {
  std::vector<int64_t> k;
  k.reserve(inputs.size() * 7);
  auto tensor = [&k](const Tensor& t) {
    k.push_back(static_cast<int64_t>(t.dtype()));
    k.push_back(t.rank());
    k.insert(k.end(), t.shape().begin(), t.shape().end());
  };
  for (const Value& v : inputs) {
    k.push_back(static_cast<int64_t>(v.kind()));
    switch (v.kind()) {
      case Value::Kind::kTensor: tensor(v.tensor()); break;
      case Value::Kind::kSequence:
        k.push_back(static_cast<int64_t>(v.elem_type()));
        k.push_back(static_cast<int64_t>(v.items().size()));
        for (const Tensor& t : v.items()) tensor(t);
        break;
      case Value::Kind::kMap:
        tensor(v.as_map().keys);
        tensor(v.as_map().values);
        break;
      case Value::Kind::kMapSequence:
        k.push_back(static_cast<int64_t>(v.maps().size()));
        for (const auto& m : v.maps()) {
          tensor(m.keys);
          tensor(m.values);
        }
        break;
      case Value::Kind::kNone: break;
    }
  }
  return k;
}

}  // namespace pier::exec
