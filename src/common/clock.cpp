// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/clock.hpp"

#include "common/scheduler_context.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/asio.hpp"

namespace rill {

// --- clock ----------------------------------------------------------------------

void clock::sleep_for(duration d) {
  if (d.count() <= 0) return;
  const timestamp now_t = now();
  // Saturate instead of overflowing for huge durations.
  const auto room = timestamp::max() - now_t;
  sleep_until(d >= room ? timestamp::max() : now_t + d);
}

void clock::sleep_until(timestamp t) {
  if (now() >= t) return;
  std::mutex mu;
  std::condition_variable cv;
  bool fired = false;
  auto sched = make_scheduler();
  sched->call_at(t, [&] {
    std::lock_guard lock(mu);
    fired = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return fired; });
}

// --- system_clock -------------------------------------------------------------

timestamp system_clock::now() const noexcept {
  return std::chrono::time_point_cast<duration>(std::chrono::system_clock::now());
}

namespace detail {
namespace {
thread_local bool t_in_task = false;
}  // namespace
bool in_scheduled_task() noexcept { return t_in_task; }
scheduled_task_scope::scheduled_task_scope() noexcept : outer_(t_in_task) { t_in_task = true; }
scheduled_task_scope::~scheduled_task_scope() { t_in_task = outer_; }
}  // namespace detail

namespace {

// Runs tasks on a Boost.Asio io_context served by one thread it owns.
class asio_scheduler final : public scheduler {
 public:
  asio_scheduler() : guard_(io_.get_executor()), worker_([this] { io_.run(); }) {}
  ~asio_scheduler() override { shutdown(); }

  task_id call_at(timestamp due, std::function<void()> task) override {
    std::lock_guard lock(mu_);
    if (stopped_) return 0;
    task_id id = ++next_id_;
    auto timer = std::make_shared<boost::asio::system_timer>(io_);
    timer->expires_at(std::chrono::time_point_cast<std::chrono::system_clock::duration>(due));
    timers_.emplace(id, timer);
    timer->async_wait([this, id, timer, task = std::move(task)](const boost::system::error_code& ec) {
      {
        std::lock_guard lock(mu_);
        // Cancelled, or shut down: the entry is gone.
        if (ec || timers_.erase(id) == 0) return;
      }
      detail::scheduled_task_scope scope;
      task();
    });
    return id;
  }

  bool cancel(task_id id) override {
    std::lock_guard lock(mu_);
    auto it = timers_.find(id);
    if (it == timers_.end()) return false;
    it->second->cancel();
    timers_.erase(it);
    return true;
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      for (auto& [id, timer] : timers_) timer->cancel();
      timers_.clear();
    }
    guard_.reset();
    io_.stop();
    if (worker_.get_id() == std::this_thread::get_id()) {
      worker_.detach();  // shut down from inside a task: cannot join ourselves
    } else if (worker_.joinable()) {
      worker_.join();
    }
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::mutex mu_;
  std::unordered_map<task_id, std::shared_ptr<boost::asio::system_timer>> timers_;  // guarded by mu_
  task_id next_id_ = 0;                                                             // guarded by mu_
  bool stopped_ = false;                                                            // guarded by mu_
  std::thread worker_;  // last: starts after the rest is built
};

}  // namespace

std::unique_ptr<scheduler> system_clock::make_scheduler() { return std::make_unique<asio_scheduler>(); }

void system_clock::sleep_until(timestamp t) {
  std::this_thread::sleep_until(std::chrono::time_point_cast<std::chrono::system_clock::duration>(t));
}

// --- manual_clock -------------------------------------------------------------

namespace {

// Per-scheduler state shared with its queued tasks: a task runs only while its
// scheduler is alive, and shutdown() waits for a running task.
struct scheduler_state {
  std::recursive_mutex run_mu;
  bool alive = true;  // guarded by run_mu
};

}  // namespace

struct manual_clock::impl {
  struct entry {
    std::shared_ptr<scheduler_state> owner;
    std::function<void()> task;
  };
  using key = std::pair<std::int64_t, std::uint64_t>;  // (due ms, order)

  explicit impl(timestamp start) : now_ms(start.time_since_epoch().count()) {}

  // The clock whose tasks the current thread is running (inside run_until).
  static inline thread_local const impl* running = nullptr;

  void refuse_reentry(const char* what) const {
    if (running == this) {
      throw std::logic_error(std::string("rill::manual_clock: ") + what +
                             " from inside a task of the same clock would wait on itself forever");
    }
  }

  // Sleepers under the wait policy, woken when time moves.
  mutable std::mutex time_mu;
  std::condition_variable time_cv;
  std::size_t waiting = 0;  // guarded by time_mu
  std::atomic<sleep_policy> policy{sleep_policy::advance};

  void set_now(std::int64_t ms) {
    now_ms.store(ms);
    std::lock_guard lock(time_mu);
    if (waiting > 0) time_cv.notify_all();
  }

  std::atomic<std::int64_t> now_ms;
  std::mutex mu;
  std::map<key, entry> queue;                              // guarded by mu
  std::unordered_map<std::uint64_t, std::int64_t> due_of;  // order -> due; guarded by mu
  std::uint64_t next_order = 0;                            // guarded by mu
  std::mutex advance_mu;                                   // one advance at a time

  // Runs tasks due at or before `limit`, then sets now to max(now, limit).
  void run_until(std::int64_t limit) {
    refuse_reentry("advancing the clock");
    std::lock_guard advancing(advance_mu);
    struct running_scope {
      explicit running_scope(const impl* c) : saved(running) { running = c; }
      ~running_scope() { running = saved; }
      const impl* saved;
    } scope(this);
    for (;;) {
      entry e;
      {
        std::lock_guard lock(mu);
        auto it = queue.begin();
        if (it == queue.end() || it->first.first > limit) break;
        if (it->first.first > now_ms.load()) set_now(it->first.first);
        due_of.erase(it->first.second);
        e = std::move(it->second);
        queue.erase(it);
      }
      std::lock_guard run(e.owner->run_mu);
      detail::scheduled_task_scope scope;
      if (e.owner->alive) e.task();
    }
    if (limit > now_ms.load()) set_now(limit);
  }

  class manual_scheduler final : public scheduler {
   public:
    explicit manual_scheduler(impl* clock) : clock_(clock), state_(std::make_shared<scheduler_state>()) {}
    ~manual_scheduler() override { shutdown(); }

    task_id call_at(timestamp due, std::function<void()> task) override {
      std::lock_guard lock(clock_->mu);
      if (stopped_) return 0;
      task_id id = ++clock_->next_order;
      std::int64_t ms = due.time_since_epoch().count();
      clock_->queue.emplace(key{ms, id}, entry{state_, std::move(task)});
      clock_->due_of.emplace(id, ms);
      return id;
    }

    bool cancel(task_id id) override {
      std::function<void()> dropped;  // declared before the lock: destroyed after it is released
      std::lock_guard lock(clock_->mu);
      auto it = clock_->due_of.find(id);
      if (it == clock_->due_of.end()) return false;  // ran, running, or unknown
      auto q = clock_->queue.find({it->second, id});
      if (q == clock_->queue.end() || q->second.owner != state_) return false;
      dropped = std::move(q->second.task);  // destroyed after the lock is released
      clock_->queue.erase(q);
      clock_->due_of.erase(it);
      return true;
    }

    void shutdown() override {
      // The dropped tasks are destroyed after the clock's lock is released: a
      // task may own what it runs on (the last reference to an object whose
      // destructor shuts down its own scheduler of this clock).
      std::vector<std::function<void()>> dropped;
      {
        std::lock_guard lock(clock_->mu);
        if (stopped_) return;
        stopped_ = true;
        for (auto it = clock_->queue.begin(); it != clock_->queue.end();) {
          if (it->second.owner == state_) {
            clock_->due_of.erase(it->first.second);
            dropped.push_back(std::move(it->second.task));
            it = clock_->queue.erase(it);
          } else {
            ++it;
          }
        }
      }
      dropped.clear();
      std::lock_guard run(state_->run_mu);  // waits for a running task
      state_->alive = false;
    }

   private:
    impl* clock_;
    std::shared_ptr<scheduler_state> state_;
    bool stopped_ = false;  // guarded by clock_->mu
  };
};

manual_clock::manual_clock(timestamp start) : impl_(std::make_unique<impl>(start)) {}
manual_clock::~manual_clock() = default;

timestamp manual_clock::now() const noexcept { return timestamp(duration(impl_->now_ms.load())); }

std::unique_ptr<scheduler> manual_clock::make_scheduler() {
  return std::make_unique<impl::manual_scheduler>(impl_.get());
}

void manual_clock::advance(duration d) {
  if (d.count() < 0) d = duration(0);
  // Saturates at timestamp::max() rather than overflowing (advance(duration::max())).
  std::int64_t limit = 0;
  if (__builtin_add_overflow(impl_->now_ms.load(), d.count(), &limit)) limit = duration::max().count();
  impl_->run_until(limit);
}

void manual_clock::advance_to(timestamp t) {
  impl_->run_until(std::max(t.time_since_epoch().count(), impl_->now_ms.load()));
}

void manual_clock::run_due() { impl_->run_until(impl_->now_ms.load()); }

std::size_t manual_clock::pending_tasks() const {
  std::lock_guard lock(impl_->mu);
  return impl_->queue.size();
}

void manual_clock::sleep_until(timestamp t) {
  impl_->refuse_reentry("sleep_until");
  const std::int64_t ms = t.time_since_epoch().count();
  if (impl_->policy.load() == sleep_policy::advance) {
    if (ms > impl_->now_ms.load()) impl_->run_until(ms);
    return;
  }
  std::unique_lock lock(impl_->time_mu);
  ++impl_->waiting;
  impl_->time_cv.notify_all();  // a test may wait for sleepers() to change
  impl_->time_cv.wait(lock, [&] { return impl_->now_ms.load() >= ms; });
  --impl_->waiting;
}

void manual_clock::set_sleep_policy(sleep_policy policy) noexcept { impl_->policy.store(policy); }

manual_clock::sleep_policy manual_clock::get_sleep_policy() const noexcept { return impl_->policy.load(); }

std::size_t manual_clock::sleepers() const {
  std::lock_guard lock(impl_->time_mu);
  return impl_->waiting;
}

}  // namespace rill
