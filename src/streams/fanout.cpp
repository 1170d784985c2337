// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out: the consumer registry and SubscribeToShard. See fanout.hpp
// for the put hook and docs/fanout.md for the delivery model.
#include "streams/fanout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/record_buffer.hpp"
#include "rill/logging.hpp"
#include "storage/pinnable_log.hpp"
#include "streams/engine_impl.hpp"

namespace rill::detail {

/// The buffers of the events of an engine's subscriptions: a buffer released by
/// the last copy of its event comes back here (its largest block kept) instead
/// of being freed, so steady subscribers allocate no data blocks. One pool for
/// all subscriptions: the delivery pool's workers release an event's buffer
/// before they read the next (of any subscription), so a few buffers serve
/// them all and their memory stays warm (a pool per subscription made every
/// new subscription fault in its own megabytes). Shared by the hub and the
/// deleters of the buffers it handed out, so it outlives both.
class event_buffer_pool : public std::enable_shared_from_this<event_buffer_pool> {
 public:
  ~event_buffer_pool() { delete slot_.exchange(nullptr); }

  std::shared_ptr<record_buffer> get() {
    std::unique_ptr<record_buffer> b(slot_.exchange(nullptr, std::memory_order_acquire));
    if (!b) {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        b = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!b) b = std::make_unique<record_buffer>();
    return std::shared_ptr<record_buffer>(b.release(), [pool = shared_from_this()](record_buffer* p) { pool->put(p); });
  }

 private:
  static constexpr std::size_t kKeep = 16;  // buffers kept: events held at once without allocating
  void put(record_buffer* p) {
    std::unique_ptr<record_buffer> b(p);
    if (!b->recycle()) return;  // sanitizer / debug builds: freed, so a late read is caught
    // The last released buffer waits in a slot (no lock: a steady subscriber
    // takes back the buffer it just gave), the others in the list.
    record_buffer* empty = nullptr;
    if (slot_.compare_exchange_strong(empty, b.get(), std::memory_order_release, std::memory_order_relaxed)) {
      b.release();
      return;
    }
    std::lock_guard lock(mu_);
    if (free_.size() < kKeep) free_.push_back(std::move(b));
  }
  std::atomic<record_buffer*> slot_{nullptr};
  std::mutex mu_;
  std::vector<std::unique_ptr<record_buffer>> free_;  // guarded by mu_
};

/// Runs the callback subscriptions of an engine off a manual clock.
///
/// A put does not wake a thread per subscription (at 5 consumers of 4 shards
/// that was 20 futex wake-ups and 40 context switches per put_records call, a
/// third of the CPU). Instead a subscription with something to deliver is
/// queued here once (a flag per subscription keeps it there at most once, so
/// the queue is bounded by the number of subscriptions), and a few workers
/// (one fewer than the machine has cores, at least 1) take subscriptions from the
/// queue and run their handlers, a few events per turn, then requeue them if
/// more is ready. A writer pays an atomic add and a queue push per subscriber,
/// and wakes a sleeping worker only if one sleeps (a woken worker wakes a second
/// if more is queued).
///
/// Isolation: a handler that blocks holds its worker. A watchdog task on the
/// engine's clock, armed only while a handler runs, looks every millisecond:
/// a worker found in the same handler call at two looks is counted as stuck
/// and a new worker is started in its place, so the other subscriptions lose at
/// most a millisecond or two to it (and the writer nothing). A stuck worker that
/// comes back finds the pool over strength and exits once the queue is empty.
class delivery_pool : public std::enable_shared_from_this<delivery_pool> {
 public:
  /// One worker thread and what the watchdog reads of it.
  struct worker {
    std::thread thread;
    std::atomic<std::uint64_t> calls{0};  // +1 entering and leaving a handler: odd inside one
    std::uint64_t seen = 0;               // the watchdog's last look (under mu_)
    bool stuck = false;                   // under mu_
    bool sleeping = false;                // under mu_
    bool signaled = false;                // under mu_
    bool exited = false;                  // under mu_
    std::condition_variable cv;
  };

  delivery_pool(std::shared_ptr<rill::clock> clock, std::shared_ptr<scheduler> timers)
      : clock_(std::move(clock)),
        timers_(std::move(timers)),
        min_workers_(workers_for(std::thread::hardware_concurrency())) {}
  ~delivery_pool() { stop(); }
  delivery_pool(const delivery_pool&) = delete;
  delivery_pool& operator=(const delivery_pool&) = delete;

  /// Starts the workers (called once, by the hub, right after construction).
  void start() {
    std::lock_guard lock(mu_);
    while (live_ < min_workers_) spawn();
  }

  /// Queues a subscription (its run state already says queued).
  void push(std::shared_ptr<fanout_subscription> s) {
    std::shared_ptr<worker> w;
    {
      std::lock_guard lock(mu_);
      // Stopped: the engine is gone and the subscription has delivered its end
      // (released below, off mu_: its destructor takes the shard's lock).
      if (stopped_) return;
      queue_.push_back(std::move(s));
      w = take_sleeper();
    }
    if (w) w->cv.notify_one();
  }

  /// A worker is about to call a handler / has returned from it.
  void enter_call(worker& w) {
    w.calls.fetch_add(1, std::memory_order_seq_cst);
    // seq_cst with tick()'s disarm: either the watchdog sees this call or we
    // see it disarmed and arm it.
    if (!armed_.load(std::memory_order_seq_cst) && !armed_.exchange(true, std::memory_order_seq_cst)) arm();
  }
  static void leave_call(worker& w) { w.calls.fetch_add(1, std::memory_order_release); }

  /// Runs what is queued (the ends the engine's shutdown queued), then joins
  /// the workers. A handler that never returns keeps this waiting, as it kept
  /// a subscription's own thread before.
  void stop() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& w : workers_) {
        w->signaled = true;
        w->cv.notify_one();
        if (w->thread.joinable()) threads.push_back(std::move(w->thread));
      }
    }
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();  // the engine destroyed from inside a handler
      } else {
        t.join();
      }
    }
    std::deque<std::shared_ptr<fanout_subscription>> left;
    std::lock_guard lock(mu_);
    stopped_ = true;
    left.swap(queue_);  // released after mu_ (declared before the lock)
  }

 private:
  static constexpr duration kWatchdog = std::chrono::milliseconds(1);

  // One core fewer than the machine has (at least one, at most 16): the rest
  // is the writers'. On 2 cores one worker and one writer each have a core;
  // two workers made three runnable threads on two cores and cost 15-30 % more
  // CPU per put at 5 consumers (more wake-ups, smaller events).
  static std::size_t workers_for(unsigned cores) { return std::clamp<std::size_t>(cores > 1 ? cores - 1 : 1, 1, 16); }

  void spawn() {  // under mu_
    // Threads of workers that exited are joined here, off the writer's path.
    for (auto it = workers_.begin(); it != workers_.end();) {
      if ((*it)->exited) {
        if ((*it)->thread.joinable()) (*it)->thread.join();
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
    auto w = std::make_shared<worker>();
    worker* raw = w.get();
    workers_.push_back(std::move(w));
    ++live_;
    // The thread holds the pool: a subscription released on it may drop the
    // engine's last reference to the pool's hub, never the pool under it.
    raw->thread = std::thread([self = shared_from_this(), raw] { self->run(*raw); });
  }

  // A sleeping worker to wake (held: it may exit and be reaped before the
  // caller, off mu_, notifies it).
  std::shared_ptr<worker> take_sleeper() {  // under mu_
    for (auto& w : workers_) {
      if (w->sleeping && !w->signaled) {
        w->signaled = true;
        return w;
      }
    }
    return nullptr;
  }

  void run(worker& w);  // below fanout_subscription

  void arm() {
    std::weak_ptr<delivery_pool> wp = weak_from_this();
    timers_->call_at(clock_->now() + kWatchdog, [wp] {
      if (auto p = wp.lock()) p->tick();
    });
  }

  /// The watchdog: counts workers stuck in one handler call since the last
  /// look and starts as many new ones as keep min_workers_ free.
  void tick() {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    armed_.store(false, std::memory_order_seq_cst);
    std::size_t stuck = 0;
    bool busy = false;
    for (auto& w : workers_) {
      if (w->exited) continue;
      const std::uint64_t c = w->calls.load(std::memory_order_seq_cst);
      const bool in_call = (c & 1) != 0;
      busy = busy || in_call;
      w->stuck = in_call && c == w->seen;
      w->seen = c;
      if (w->stuck) ++stuck;
    }
    stuck_ = stuck;
    while (live_ < min_workers_ + stuck_) spawn();
    if (busy && !armed_.exchange(true, std::memory_order_seq_cst)) arm();
  }

  std::shared_ptr<rill::clock> clock_;
  std::shared_ptr<scheduler> timers_;
  const std::size_t min_workers_;
  std::atomic<bool> armed_{false};  // a watchdog tick is pending
  std::mutex mu_;
  std::deque<std::shared_ptr<fanout_subscription>> queue_;  // guarded by mu_
  std::list<std::shared_ptr<worker>> workers_;              // guarded by mu_
  std::size_t live_ = 0;                                    // workers not exited; guarded by mu_
  std::size_t stuck_ = 0;                                   // at the watchdog's last look; guarded by mu_
  bool stopping_ = false;                                   // guarded by mu_
  bool stopped_ = false;                                    // guarded by mu_
};

namespace {

constexpr std::uint8_t kListConsumersToken = 0x46;  // distinct from the engine's token kinds
constexpr duration kNextTokenLifetime = std::chrono::seconds(300);

bool valid_consumer_name(std::string_view n) { return !n.empty() && n.size() <= 128 && is_name_chars(n); }

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

/// One SubscribeToShard pipe. See rill::subscription.
class fanout_subscription final : public subscription, public std::enable_shared_from_this<fanout_subscription> {
 public:
  fanout_subscription(fanout_hub& hub, std::shared_ptr<stream_state> st, std::shared_ptr<shard_state> sh,
                      std::string consumer_arn, subscription_options options, std::uint64_t position, bool limited,
                      timestamp now)
      : clock_(hub.clock),
        timers_(hub.sched),
        lifetime_(hub.opt.subscription_lifetime),
        heartbeat_interval_(hub.opt.heartbeat_interval),
        stream_(std::move(st)),
        shard_(std::move(sh)),
        consumer_arn_(std::move(consumer_arn)),
        opt_(std::move(options)),
        limited_(limited),
        pipe_(hub.opt.pipe_bytes_per_second, hub.opt.pipe_bytes_per_second, now),
        position_(position),
        pool_(hub.buffers) {
    manual_ = dynamic_cast<manual_clock*>(clock_.get());
    pinnable_ = dynamic_cast<const pinnable_log*>(shard_->log.get());  // the log is the shard's for life
    // Callback mode: on a manual clock delivery is a task of a scheduler of the
    // clock (it runs inside advance()); otherwise the hub's delivery pool runs
    // it (a put costs the writer an atomic add and, when the subscription is
    // not already queued or running, a queue push: no thread or task per put).
    if (opt_.handler && manual_) delivery_ = clock_->make_scheduler();
    if (opt_.handler && !manual_) runner_ = hub.delivery();
  }

  ~fanout_subscription() override {
    unregister();
    if (delivery_) delivery_->shutdown();
  }

  /// Joins the shard's subscribers and starts the timers.
  void start(timestamp now) {
    {
      std::lock_guard lock(shard_->fanout.mu);
      shard_->fanout.subs.push_back(this);
      shard_->fanout.count.fetch_add(1, std::memory_order_acq_rel);
      registered_ = true;
    }
    std::weak_ptr<fanout_subscription> w = weak_from_this();
    timers_->call_at(now + lifetime_, [w] {
      if (auto s = w.lock()) s->finish(std::nullopt);
    });
    schedule_heartbeat(now);
    wake();  // records may already be there
  }

  result<std::optional<subscribe_to_shard_event>> try_pull() override {
    if (opt_.handler) return std::optional<subscribe_to_shard_event>{};
    return produce();
  }

  result<std::optional<subscribe_to_shard_event>> pull(duration timeout) override {
    if (opt_.handler) return std::optional<subscribe_to_shard_event>{};
    auto r = produce();
    if (!r || r->has_value() || ended() || timeout <= duration::zero()) return r;
    const timestamp deadline = clock_->now() + timeout;
    if (manual_ && manual_->get_sleep_policy() == manual_clock::sleep_policy::advance) {
      // Nobody else moves this clock: move it ourselves (see subscription::pull).
      std::uint64_t seen = signals_.load(std::memory_order_acquire);
      while (clock_->now() < deadline) {
        // Millisecond steps (the clock's resolution), so the wait ends at the
        // first task that wakes us (a heartbeat, an expiry, a takeover).
        const timestamp step = std::min(deadline, clock_->now() + std::chrono::milliseconds(1));
        manual_->sleep_until(step);
        if (signals_.load(std::memory_order_acquire) != seen) {
          r = produce();
          if (!r || r->has_value() || ended()) return r;
          seen = signals_.load(std::memory_order_acquire);
        }
      }
      return produce();
    }
    for (;;) {
      const std::uint64_t seen = signals_.load(std::memory_order_acquire);
      if (opt_.spin && !manual_) {
        // The signal is checked every iteration, the clock (a virtual call and
        // a clock_gettime) every 64th, so a put is seen a pause later, not a clock read later.
        for (unsigned spins = 0; signals_.load(std::memory_order_acquire) == seen; ++spins) {
          if ((spins & 63) == 63 && clock_->now() >= deadline) break;
          cpu_relax();
        }
      } else {
        // A timer on the engine's clock ends the wait; the condition variable
        // never times out by itself. The timer is kept between calls: one
        // armed for an earlier deadline than ours wakes us early (we re-arm),
        // so a steady reader arms about one timer per timeout, not per event.
        bool arm = false;
        std::uint64_t fires = 0;
        {
          std::lock_guard lock(mu_);
          if (!timer_armed_ || timer_deadline_ > deadline) {
            timer_armed_ = true;
            timer_deadline_ = deadline;
            arm = true;
          }
          fires = timer_fires_;
        }
        if (arm) {
          std::weak_ptr<fanout_subscription> w = weak_from_this();
          timers_->call_at(deadline, [w, deadline] {
            if (auto s = w.lock()) s->time_out(deadline);
          });
        }
        {
          std::unique_lock lock(mu_);
          waiting_.store(true, std::memory_order_seq_cst);
          cv_.wait(lock, [&] {
            return signals_.load(std::memory_order_seq_cst) != seen || timer_fires_ != fires || detached_;
          });
          waiting_.store(false, std::memory_order_relaxed);
        }
      }
      r = produce();
      if (!r || r->has_value() || ended() || clock_->now() >= deadline) return r;
      std::lock_guard lock(mu_);
      if (detached_) return r;
    }
  }

  [[nodiscard]] bool ended() const override { return over_.load(std::memory_order_acquire); }

  void cancel() override { finish(std::nullopt); }

  void pause() override { paused_.store(true, std::memory_order_seq_cst); }

  void resume() override {
    if (paused_.exchange(false, std::memory_order_seq_cst)) wake();
  }

  /// Ends the subscription: with an exception event, or normally (nullopt).
  /// The first reason wins; records not yet delivered stay in the shard.
  void finish(std::optional<error> e) {
    {
      std::lock_guard lock(mu_);
      if (over_ || end_requested_) return;
      end_requested_ = true;
      attention_.store(true, std::memory_order_release);
      pending_ = std::move(e);
    }
    wake();
  }

  /// The engine is going away. (A callback subscription off a manual clock is
  /// now queued to hand its handler the InternalFailure; the hub's shutdown
  /// then stops the pool, which runs the queue first.)
  void detach() {
    finish(error(error_code::internal_failure, "The engine has shut down"));
    if (delivery_) delivery_->shutdown();
    std::lock_guard lock(mu_);
    detached_ = true;
    attention_.store(true, std::memory_order_release);
    cv_.notify_all();
  }

  /// The caller's last handle is gone: cancel. Off a manual clock the delivery
  /// pool holds its own reference until the end is delivered. On a manual clock
  /// the end (on_complete) is a task run by advance()/run_due(): a task of the
  /// engine's timers, queued after that delivery task (same due time, later
  /// order), keeps the subscription alive until then. The engine's shutdown
  /// drops the task (and with it the subscription) if the clock never gets there.
  static void drop_handle(std::shared_ptr<fanout_subscription> self) {
    self->cancel();
    if (!self->delivery_) return;
    const auto timers = self->timers_;
    const timestamp now = self->clock_->now();
    timers->call_at(now, [keep = std::move(self)]() mutable { keep.reset(); });
  }

  /// A put, a timer or an end: something to look at.
  void wake() {
    signals_.fetch_add(1, std::memory_order_seq_cst);
    if (delivery_) {
      // seq_cst, as drain()'s store and resume()'s flag: a drain that missed
      // resume()'s flag is followed by another (see drain()).
      if (!drain_pending_.exchange(true, std::memory_order_seq_cst)) {
        std::weak_ptr<fanout_subscription> w = weak_from_this();
        delivery_->call_at(clock_->now(), [w] {
          if (auto s = w.lock()) s->drain();
        });
      }
      return;
    }
    if (runner_) {
      queue();
      return;
    }
    if (waiting_.load(std::memory_order_seq_cst)) {
      // Taking the lock orders us after a waiter's predicate check; notifying
      // after releasing it spares the woken waiter a block on mu_.
      { std::lock_guard lock(mu_); }
      cv_.notify_all();
    }
  }

 private:
  void time_out(timestamp deadline) {
    std::lock_guard lock(mu_);
    if (deadline == timer_deadline_) timer_armed_ = false;
    ++timer_fires_;
    cv_.notify_all();
  }

  void schedule_heartbeat(timestamp now) {
    std::weak_ptr<fanout_subscription> w = weak_from_this();
    timers_->call_at(now + heartbeat_interval_, [w] {
      auto s = w.lock();
      if (!s) return;
      {
        std::lock_guard lock(s->mu_);
        if (s->over_ || s->end_requested_ || s->detached_) return;
        s->heartbeat_due_ = true;
        s->attention_.store(true, std::memory_order_release);
      }
      s->wake();
      s->schedule_heartbeat(s->clock_->now());
    });
  }

  void unregister() {
    if (!registered_) return;
    std::lock_guard lock(shard_->fanout.mu);
    auto& v = shard_->fanout.subs;
    v.erase(std::remove(v.begin(), v.end(), this), v.end());
    shard_->fanout.count.fetch_sub(1, std::memory_order_acq_rel);
    registered_ = false;
  }

  /// Marks the subscription over (caller holds read_mu_, not mu_).
  void close() {
    {
      std::lock_guard lock(mu_);
      over_ = true;
      attention_.store(true, std::memory_order_release);
    }
    unregister();
  }

  /// Callback mode: hands the ready events to the handler, at most `budget` of
  /// them (then `more`); `idle` when nothing is ready, `ended` once the
  /// subscription has ended (its exception or on_complete delivered).
  ///
  /// Paused by the subscriber: returns `idle` without reading; records and
  /// heartbeats wait until resume(), whose wake() runs drain() again (on a
  /// manual clock, a new task: the flag is read after drain_pending_ is cleared,
  /// all seq_cst; off it, queue() puts the subscription back in the delivery
  /// pool's queue, or marks a running one to look again).
  /// An end is delivered even while paused, so a subscriber that cancels a
  /// paused subscription (a client gone while its socket was full) or an engine
  /// going away never waits on a resume() that will not come.
  enum class drained { idle, more, ended };
  drained drain(int budget = std::numeric_limits<int>::max(), delivery_pool::worker* w = nullptr) {
    drain_pending_.store(false, std::memory_order_seq_cst);
    const auto call = [&](auto&& f) {
      if (w) runner_->enter_call(*w);
      f();
      if (w) delivery_pool::leave_call(*w);
    };
    for (int n = 0;; ++n) {
      if (paused_.load(std::memory_order_seq_cst) && !ending()) return drained::idle;
      if (n == budget) return drained::more;
      auto r = produce();
      if (!r) {
        call([&] { opt_.handler(std::move(r).error()); });
        return drained::ended;
      }
      if (!r->has_value()) {
        if (ended()) {
          if (!completed_) {
            completed_ = true;
            if (opt_.on_complete) call([&] { opt_.on_complete(); });
          }
          return drained::ended;
        }
        return drained::idle;
      }
      call([&] { opt_.handler(std::move(**r)); });
    }
  }

  /// An end has been requested or reached, or the engine is going away.
  bool ending() const {
    if (!attention_.load(std::memory_order_acquire)) return false;
    std::lock_guard lock(mu_);
    return over_ || end_requested_ || detached_;
  }

  // Callback mode off a manual clock: where the subscription is in the pool.
  // idle → queued (wake) → running (a worker) → idle, or → again when woken
  // while running (the worker looks once more), or → done once it has ended.
  enum run_state : int { kIdle, kQueued, kRunning, kAgain, kDone };

  /// wake() in callback mode off a manual clock: queue the subscription unless
  /// it is queued or running already (then the worker sees the new signal).
  void queue() {
    int st = run_.load(std::memory_order_seq_cst);
    for (;;) {
      if (st == kIdle) {
        if (!run_.compare_exchange_weak(st, kQueued, std::memory_order_seq_cst)) continue;
        // Fails only while the subscription is being destroyed (nothing to deliver to).
        if (auto self = weak_from_this().lock()) runner_->push(std::move(self));
        return;
      }
      if (st == kRunning) {
        if (!run_.compare_exchange_weak(st, kAgain, std::memory_order_seq_cst)) continue;
        return;
      }
      return;  // queued, again or done
    }
  }

 public:
  /// A pool worker's turn: at most kTurn events, then back to the end of the
  /// queue if more is ready, so one busy subscription cannot hold a worker.
  void serve(delivery_pool::worker& w) {
    run_.store(kRunning, std::memory_order_seq_cst);
    for (;;) {
      switch (drain(kTurn, &w)) {
        case drained::ended: run_.store(kDone, std::memory_order_seq_cst); return;
        case drained::more:
          run_.store(kQueued, std::memory_order_seq_cst);
          runner_->push(shared_from_this());
          return;
        case drained::idle: break;
      }
      int st = kRunning;
      if (run_.compare_exchange_strong(st, kIdle, std::memory_order_seq_cst)) return;
      run_.store(kRunning, std::memory_order_seq_cst);  // woken meanwhile: look again
    }
  }

 private:
  static constexpr int kTurn = 8;

  /// The log records produce() collected (viewing the log), per thread: a
  /// pool worker serves every subscription from the same warm memory (a
  /// vector per subscription made 20 pipes touch 20 cold ones).
  static std::vector<log_record>& scratch_records() {
    static thread_local std::vector<log_record> records;
    return records;
  }

  /// Builds ev.records from the log records produce() collected (scratch_records(),
  /// viewing the log: under the shard's lock, or pinned): gathers their stored
  /// bytes into runs, copies the runs into one pooled block, and makes the
  /// records view the copy. Under read_mu_.
  void copy_out(subscribe_to_shard_event& ev) {
    const std::vector<log_record>& scratch = scratch_records();
    runs_.clear();
    const auto add = [this](const char* p, std::size_t n) {
      if (n == 0) return;
      const auto at = reinterpret_cast<std::uintptr_t>(p);
      if (!runs_.empty()) {
        auto& r = runs_.back();
        const std::uintptr_t end = r.first + r.second;
        if (at >= end && at - end <= kRunGap) {
          r.second = at + n - r.first;
          return;
        }
      }
      runs_.emplace_back(at, n);
    };
    for (const log_record& rec : scratch) {
      const std::size_t k = rec.partition_key.size();
      if (rec.partition_key.data() + k == rec.data.data()) {
        add(rec.partition_key.data(), k + rec.data.size());
      } else {
        add(rec.partition_key.data(), k);
        add(rec.data.data(), rec.data.size());
      }
    }
    std::size_t total = 0;
    for (const auto& r : runs_) total += r.second;
    std::shared_ptr<record_buffer> buf = pool_->get();
    char* const base = buf->allocate(std::bit_ceil(std::max<std::size_t>(total, 4096)));
    std::size_t off = 0;
    for (const auto& r : runs_) {
      std::memcpy(base + off, reinterpret_cast<const char*>(r.first), r.second);
      off += r.second;
    }
    // The records, viewing the copy: a cursor over the runs, in the order
    // their bytes were gathered (each record's key, then its data).
    std::size_t ri = 0;
    std::size_t run_off = 0;
    const auto move = [&](std::string_view v) -> std::string_view {
      if (v.empty()) return std::string_view(base, 0);
      const auto at = reinterpret_cast<std::uintptr_t>(v.data());
      while (at < runs_[ri].first || at >= runs_[ri].first + runs_[ri].second) run_off += runs_[ri++].second;
      return std::string_view(base + run_off + (at - runs_[ri].first), v.size());
    };
    const std::uint32_t index = shard_->id.index();
    const std::uint64_t create_s = shard_->create_s;
    std::int64_t last_ms = -1;
    std::uint64_t seconds = 0;
    auto& out = ev.records;
    out.reserve(scratch.size());
    for (const log_record& rec : scratch) {
      const std::string_view key = move(rec.partition_key);
      const std::string_view data = move(rec.data);
      const std::int64_t ms = rec.arrival.time_since_epoch().count();
      if (ms != last_ms) {
        last_ms = ms;
        seconds = seconds_of(rec.arrival);
      }
      out.push_back(record{sequence_number(create_s, index, rec.offset + 1, seconds), rec.arrival, data, key,
                           rec.encrypted ? encryption_type::kms : encryption_type::none});
    }
    ev.buffer = std::move(buf);
  }

  /// Spin mode: the continuation text of an event ending at `position` in
  /// second `s`, made ahead. Under read_mu_.
  void stash_continuation(std::uint64_t position, std::uint64_t s) {
    if (!stash_.empty() && stash_position_ == position && stash_seconds_ == s) return;
    stash_ = sequence_number(shard_->create_s, shard_->id.index(), position, s).to_string();
    stash_position_ = position;
    stash_seconds_ = s;
  }

  /// The next event, read from the shard now.
  result<std::optional<subscribe_to_shard_event>> produce() {
    using out_t = std::optional<subscribe_to_shard_event>;
    std::lock_guard rl(read_mu_);
    bool heartbeat = false;
    // Nothing flagged (the common case): no need for mu_.
    if (attention_.load(std::memory_order_acquire)) {
      std::unique_lock lock(mu_);
      if (over_) return out_t{};
      if (end_requested_) {
        auto e = std::move(pending_);
        pending_.reset();
        lock.unlock();
        close();
        if (e) return *std::move(e);
        return out_t{};
      }
      heartbeat = heartbeat_due_;
    }
    const timestamp now = clock_->now();
    const auto gone = [&]() -> result<out_t> {
      close();
      return error(
          error_code::resource_not_found_exception,
          fmt::format("Stream or shard {} of consumer {} no longer exists", shard_->id.to_string(), consumer_arn_));
    };
    std::shared_lock sl(stream_->mu);
    if (stream_->removed) return gone();
    // The shard's lock: a writer holds it for an append (microseconds); waiting
    // a few microseconds for it spares the writer waking a reader that slept
    // on it (a futex system call on the put's path). Then it blocks as usual.
    std::shared_lock shl(shard_->mu, std::try_to_lock);
    for (int spins = 0; !shl.owns_lock() && spins < kLockSpins; ++spins) {
      cpu_relax();
      (void)shl.try_lock();
    }
    if (!shl.owns_lock()) shl.lock();
    const shard_log& log = *shard_->log;
    const std::uint64_t readable = log.offset_at_or_after(stream_->horizon(now) + duration(1));
    std::uint64_t from = std::max(position_, readable);
    subscribe_to_shard_event ev;
    bool copy = false;  // ev.records view the log: copy_out() before returning them
    const pinnable_log* const pinnable = pinnable_;
    bool pinned = false;
    // Unpins on every path out (also an exception from an allocation).
    struct unpin_guard {
      const pinnable_log* log;
      bool& pinned;
      ~unpin_guard() {
        if (pinned) log->unpin();
      }
    } unpin{pinnable, pinned};
    const auto release = [&] {  // the locks go; the views stay valid (pinned) or are copied first
      if (copy && pinnable) {
        pinnable->pin();
        pinned = true;
      } else if (copy) {
        copy_out(ev);
        copy = false;
      }
      shl.unlock();
      sl.unlock();
    };
    const bool allowed = !limited_ || pipe_.positive(now);
    if (allowed && from < log.end_offset()) {
      const std::size_t max_records = static_cast<std::size_t>(std::clamp(opt_.max_event_records, 1, 10000));
      const std::size_t max_bytes = static_cast<std::size_t>(std::max<std::int64_t>(1, opt_.max_event_bytes));
      // Under the lock only the log's records are collected (views into the
      // log); copy_out() then makes the event: one copy of the stored bytes, as
      // runs (a log stores a segment's records back to back, so a run is
      // usually a whole segment's part, two-byte headers included), into one
      // pooled block the event shares (as get_records results do), and the
      // records viewing it. A pinnable log (memory storage) is pinned and
      // copy_out() runs after the locks are released, so a writer waits for
      // neither the copy nor the records' building; other logs are copied
      // under the lock.
      auto& scratch = scratch_records();
      scratch.clear();
      const auto read = log.read(from, max_records, max_bytes, [&scratch](std::span<const log_record> batch) {
        scratch.insert(scratch.end(), batch.begin(), batch.end());
      });
      if (read.records > 0) {
        from = read.next_offset;
        copy = true;
      }
      if (limited_) pipe_.take(static_cast<std::int64_t>(read.bytes), now);
    } else if (!allowed) {
      // The pipe's 2 MiB/s is spent: look again when it has refilled a little.
      std::weak_ptr<fanout_subscription> w = weak_from_this();
      timers_->call_at(now + std::chrono::milliseconds(200), [w] {
        if (auto s = w.lock()) s->wake();
      });
    }
    position_ = from;
    const std::uint64_t end = log.end_offset();
    if (shard_->closed && position_ >= shard_->close_offset) {
      for (const auto& child_id : shard_->children) {
        const auto& child = child_id.index() < stream_->shards.size() ? stream_->shards[child_id.index()] : nullptr;
        if (!child) continue;
        child_shard c;
        c.shard_id = child->id;
        if (child->parent) c.parent_shards.push_back(*child->parent);
        if (child->adjacent_parent) c.parent_shards.push_back(*child->adjacent_parent);
        c.hash_key_range = child->range();
        ev.child_shards.push_back(std::move(c));
      }
      release();
      if (copy) copy_out(ev);
      close();
      return out_t(std::move(ev));
    }
    if (!copy && !heartbeat) {
      if (opt_.spin && !manual_) {
        // A spinning puller's next event most likely ends one record on, in
        // this second: its continuation's text is made now, while it waits,
        // not between the put and its return (≈ 75 ns of the latency).
        release();
        stash_continuation(position_ + 1, seconds_of(now));
      }
      return out_t{};
    }
    ev.millis_behind_latest =
        position_ >= end ? 0 : std::max<std::int64_t>(0, (now - log.arrival_time(position_)).count());
    release();
    if (copy) copy_out(ev);
    const std::uint64_t cont_s = seconds_of(now);
    if (!stash_.empty() && stash_position_ == position_ && stash_seconds_ == cont_s) {
      ev.continuation_sequence_number = std::move(stash_);
    } else {
      ev.continuation_sequence_number =
          sequence_number(shard_->create_s, shard_->id.index(), position_, cont_s).to_string();
    }
    stash_.clear();
    if (heartbeat || attention_.load(std::memory_order_acquire)) {
      std::lock_guard lock(mu_);
      heartbeat_due_ = false;  // this event is the heartbeat
      attention_.store(over_ || end_requested_ || detached_, std::memory_order_release);
    }
    return out_t(std::move(ev));
  }

  std::shared_ptr<rill::clock> clock_;  // declared first: outlives the schedulers made from it
  std::shared_ptr<scheduler> timers_;   // the hub's; call_at is a no-op once it has shut down
  const duration lifetime_;
  const duration heartbeat_interval_;
  manual_clock* manual_ = nullptr;
  std::shared_ptr<stream_state> stream_;
  std::shared_ptr<shard_state> shard_;
  std::string consumer_arn_;
  subscription_options opt_;
  const bool limited_;

  std::mutex read_mu_;      // serializes produce()
  token_bucket pipe_;       // guarded by read_mu_
  std::uint64_t position_;  // guarded by read_mu_
  std::shared_ptr<event_buffer_pool> pool_;
  static constexpr int kLockSpins = 256;    // produce(): tries of the shard's lock before blocking
  const pinnable_log* pinnable_ = nullptr;  // the shard's log, if its bytes can be pinned
  std::string stash_;                       // stash_continuation(); guarded by read_mu_
  std::uint64_t stash_position_ = 0;
  std::uint64_t stash_seconds_ = 0;
  // produce()'s runs of stored bytes (address, length); kept for their capacity.
  std::vector<std::pair<std::uintptr_t, std::size_t>> runs_;  // guarded by read_mu_
  // At most this many bytes between two pieces are copied along to keep one
  // run: a memory log's two-byte key-length header, which lies in the same
  // segment. (Two separate allocations are never this close, so no byte outside
  // a stored segment is read; a storage with a wider gap gets more runs.)
  static constexpr std::size_t kRunGap = 2;
  bool completed_ = false;  // the delivering task's or pool worker's (one at a time)

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<std::uint64_t> signals_{0};
  std::atomic<bool> waiting_{false};
  std::atomic<bool> drain_pending_{false};
  std::atomic<bool> paused_{false};  // subscription::pause()
  bool registered_ = false;          // changed by start() and unregister()
  // Set (under mu_) while any of over_, end_requested_, heartbeat_due_,
  // detached_ is: produce() and ending() skip mu_ when it is clear.
  std::atomic<bool> attention_{false};
  std::atomic<bool> over_{false};  // written under mu_; ended() reads it without
  // Guarded by mu_.
  bool end_requested_ = false;
  std::optional<error> pending_;
  bool heartbeat_due_ = false;
  bool detached_ = false;
  bool timer_armed_ = false;       // a pull() timeout task is pending
  timestamp timer_deadline_{};     // the earliest pending one's
  std::uint64_t timer_fires_ = 0;  // pull() timeout tasks run so far

  std::unique_ptr<scheduler> delivery_;    // callback mode on a manual clock
  std::shared_ptr<delivery_pool> runner_;  // callback mode otherwise
  std::atomic<int> run_{kIdle};            // run_state, with runner_
};

void delivery_pool::run(worker& w) {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      // Over strength (a stuck worker came back) or stopping: leave.
      if (stopping_ || live_ > min_workers_ + stuck_) {
        --live_;
        w.exited = true;
        return;
      }
      w.sleeping = true;
      w.cv.wait(lock, [&] { return w.signaled || stopping_; });
      w.sleeping = false;
      w.signaled = false;
      continue;
    }
    auto s = std::move(queue_.front());
    queue_.pop_front();
    std::shared_ptr<worker> helper = queue_.empty() ? nullptr : take_sleeper();
    lock.unlock();
    if (helper) helper->cv.notify_one();
    helper.reset();
    s->serve(w);
    s.reset();  // may destroy the subscription (its handle was dropped)
    lock.lock();
  }
}

std::shared_ptr<delivery_pool> fanout_hub::delivery() {
  std::lock_guard lock(mu);
  if (!pool && !stopped) {
    pool = std::make_shared<delivery_pool>(clock, sched);
    pool->start();
  }
  return pool;
}

// --- the hub -------------------------------------------------------------------

fanout_hub::fanout_hub(std::shared_ptr<rill::clock> c, fanout_options o)
    : clock(std::move(c)), opt(o), sched(clock->make_scheduler()), buffers(std::make_shared<event_buffer_pool>()) {}

fanout_hub::~fanout_hub() { shutdown(); }

void fanout_hub::notify(shard_state& sh) {
  std::lock_guard lock(sh.fanout.mu);
  for (auto* s : sh.fanout.subs) s->wake();
}

std::int32_t fanout_hub::consumer_count(std::uint64_t uid) const {
  std::lock_guard lock(mu);
  auto it = consumers.find(uid);
  return it == consumers.end() ? 0 : static_cast<std::int32_t>(it->second.size());
}

void fanout_hub::end_consumer_subscriptions(const std::string& arn, const error& e) {
  for (auto it = leases.lower_bound({arn, 0}); it != leases.end() && it->first.first == arn;) {
    if (auto s = it->second.sub.lock()) s->finish(e);
    it = leases.erase(it);
  }
}

result<void> fanout_hub::on_delete_stream(const stream_state& s, bool enforce) {
  std::lock_guard lock(mu);
  auto it = consumers.find(s.uid);
  if (it == consumers.end() || it->second.empty()) return {};
  if (!enforce) {
    return error(
        error_code::resource_in_use_exception,
        fmt::format("Consumers exist in stream {} and enforceConsumerDeletion is either not set or is false", s.name));
  }
  for (auto& [name, c] : it->second) {
    end_consumer_subscriptions(
        c->arn, error(error_code::resource_not_found_exception, fmt::format("Consumer {} not found.", c->arn)));
  }
  consumers.erase(it);
  return {};
}

void fanout_hub::shutdown() {
  std::vector<std::shared_ptr<fanout_subscription>> subs;
  {
    std::lock_guard lock(mu);
    if (stopped) return;
    stopped = true;
    for (auto& [key, l] : leases) {
      if (auto s = l.sub.lock()) subs.push_back(std::move(s));
    }
    leases.clear();
  }
  sched->shutdown();
  for (auto& s : subs) s->detach();
  subs.clear();
  std::shared_ptr<delivery_pool> p;
  {
    std::lock_guard lock(mu);
    p = pool;
  }
  if (p) p->stop();  // runs the queued ends (InternalFailure), joins the workers
}

}  // namespace rill::detail

namespace rill {

using detail::consumer_state;
using detail::fanout_hub;
using detail::shard_state;
using detail::stream_state;
using detail::validation;

namespace {

consumer to_consumer(const consumer_state& c) { return {c.name, c.arn, c.status, c.created}; }

struct consumer_arn_parts {
  std::string stream_arn;
  std::string name;
  std::uint64_t seconds = 0;
};

std::optional<consumer_arn_parts> parse_consumer_arn(std::string_view arn) {
  const auto at = arn.rfind("/consumer/");
  if (at == std::string_view::npos) return std::nullopt;
  const auto colon = arn.rfind(':');
  if (colon == std::string_view::npos || colon < at + 10) return std::nullopt;
  consumer_arn_parts p;
  p.stream_arn = std::string(arn.substr(0, at));
  p.name = std::string(arn.substr(at + 10, colon - at - 10));
  const auto digits = arn.substr(colon + 1);
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    p.seconds = p.seconds * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  if (!detail::valid_consumer_name(p.name)) return std::nullopt;
  return p;
}

constexpr std::string_view kConsumerArnPattern =
    "^(arn):aws.*:kinesis:.*:\\d{12}:.*stream\\/[a-zA-Z0-9_.-]+\\/consumer\\/[a-zA-Z0-9_.-]+:[0-9]+";

void validate_consumer_name(validation& v, const std::string& name) {
  if (name.empty()) {
    v.length_at_least(name, "consumerName", 1);
  } else if (name.size() > 128) {
    v.length_at_most(name, "consumerName", 128);
  } else if (!detail::is_name_chars(name)) {
    v.pattern(name, "consumerName", "[a-zA-Z0-9_.-]+");
  }
}

void validate_consumer_arn(validation& v, const std::string& arn) {
  if (arn.empty()) {
    v.length_at_least(arn, "consumerARN", 1);
  } else if (arn.size() > 2048) {
    v.length_at_most(arn, "consumerARN", 2048);
  } else if (!parse_consumer_arn(arn)) {
    v.pattern(arn, "consumerARN", kConsumerArnPattern);
  }
}

struct found_consumer {
  std::shared_ptr<stream_state> stream;
  std::shared_ptr<consumer_state> consumer;
  consumer_state copy;  // read under the hub's lock
};

/// The consumer a describe/deregister request names.
template <class Impl>
result<found_consumer> find_consumer(Impl& d, std::string_view op, const describe_stream_consumer_request& req) {
  validation v;
  if (req.consumer_arn) validate_consumer_arn(v, *req.consumer_arn);
  if (req.consumer_name) validate_consumer_name(v, *req.consumer_name);
  if (!v.ok()) return v.error();
  std::string stream_arn;
  std::string name;
  if (req.consumer_arn) {
    if (req.consumer_name || req.stream_arn) {
      return detail::invalid_argument("Provide either ConsumerARN or both StreamARN and ConsumerName, not both.");
    }
    auto p = parse_consumer_arn(*req.consumer_arn);
    stream_arn = std::move(p->stream_arn);
    name = std::move(p->name);
  } else if (req.consumer_name && req.stream_arn) {
    stream_arn = *req.stream_arn;
    name = *req.consumer_name;
  } else {
    return detail::invalid_argument("Either ConsumerARN or both StreamARN and ConsumerName must be provided.");
  }
  auto s = d.lookup(std::nullopt, stream_arn);
  if (!s) return s.error();
  if (auto admitted = d.enter(op, (*s)->name); !admitted) return admitted.error();
  std::lock_guard lock(d.fanout.mu);
  auto it = d.fanout.consumers.find((*s)->uid);
  std::shared_ptr<consumer_state> c;
  if (it != d.fanout.consumers.end()) {
    auto ci = it->second.find(name);
    if (ci != it->second.end() && (!req.consumer_arn || ci->second->arn == *req.consumer_arn)) c = ci->second;
  }
  if (!c) {
    return error(error_code::resource_not_found_exception,
                 fmt::format("Consumer {} under stream {} not found.", req.consumer_arn.value_or(name), (*s)->name));
  }
  return found_consumer{*s, c, *c};
}

}  // namespace

result<register_stream_consumer_result> engine::register_stream_consumer(const register_stream_consumer_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.stream_arn.empty()) v.length_at_least(req.stream_arn, "streamARN", 1);
  validate_consumer_name(v, req.consumer_name);
  if (!v.ok()) return v.error();
  auto s = d.lookup(std::nullopt, req.stream_arn);
  if (!s) return s.error();
  stream_state& st = **s;
  if (auto admitted = d.enter("RegisterStreamConsumer", st.name); !admitted) return admitted.error();
  {
    std::shared_lock lock(st.mu);
    if (st.status == stream_status::creating || st.status == stream_status::deleting) {
      return detail::stream_not_active(d.at(st.name), st.status);
    }
  }
  auto& hub = d.fanout;
  const timestamp now = d.now();
  std::lock_guard lock(hub.mu);
  auto& cs = hub.consumers[st.uid];
  if (cs.count(req.consumer_name) != 0) {
    return error(error_code::resource_in_use_exception, fmt::format("Consumer {} exists", req.consumer_name));
  }
  if (static_cast<std::int64_t>(cs.size()) >= hub.opt.max_consumers_per_stream) {
    return error(
        error_code::limit_exceeded_exception,
        fmt::format("Only {} consumers can be registered to a stream at once", hub.opt.max_consumers_per_stream));
  }
  const auto creating = std::count_if(cs.begin(), cs.end(),
                                      [](const auto& kv) { return kv.second->status == consumer_status::creating; });
  if (creating >= hub.opt.max_creating_consumers) {
    return error(error_code::limit_exceeded_exception,
                 fmt::format("Only {} consumers can be created at the same time", hub.opt.max_creating_consumers));
  }
  auto c = std::make_shared<consumer_state>();
  c->name = req.consumer_name;
  c->stream_arn = st.arn;
  c->stream_uid = st.uid;
  c->created = now;
  c->arn = fmt::format("{}/consumer/{}:{}", st.arn, req.consumer_name, detail::seconds_of(now));
  if (hub.opt.register_consumer_delay <= duration::zero()) {
    c->status = consumer_status::active;
  } else {
    std::weak_ptr<consumer_state> w = c;
    hub.sched->call_at(now + hub.opt.register_consumer_delay, [&hub, w] {
      std::lock_guard l(hub.mu);
      if (auto cc = w.lock(); cc && cc->status == consumer_status::creating) cc->status = consumer_status::active;
    });
  }
  cs.emplace(c->name, c);
  logger()->debug("registered consumer {}", c->arn);
  return register_stream_consumer_result{to_consumer(*c)};
}

result<describe_stream_consumer_result> engine::describe_stream_consumer(const describe_stream_consumer_request& req) {
  auto f = find_consumer(*impl_, "DescribeStreamConsumer", req);
  if (!f) return f.error();
  const auto& c = f->copy;
  return describe_stream_consumer_result{{c.name, c.arn, c.status, c.created, c.stream_arn}};
}

result<void> engine::deregister_stream_consumer(const deregister_stream_consumer_request& req) {
  auto& d = *impl_;
  auto f = find_consumer(d, "DeregisterStreamConsumer", req);
  if (!f) return f.error();
  auto& hub = d.fanout;
  std::lock_guard lock(hub.mu);
  auto c = f->consumer;
  if (c->status == consumer_status::deleting) return {};
  c->status = consumer_status::deleting;
  hub.end_consumer_subscriptions(
      c->arn, error(error_code::resource_not_found_exception, fmt::format("Consumer {} not found.", c->arn)));
  const auto remove = [&hub, uid = c->stream_uid, name = c->name, w = std::weak_ptr<consumer_state>(c)] {
    auto it = hub.consumers.find(uid);
    if (it == hub.consumers.end()) return;
    auto ci = it->second.find(name);
    if (ci != it->second.end() && ci->second == w.lock()) it->second.erase(ci);
    if (it->second.empty()) hub.consumers.erase(it);
  };
  if (hub.opt.deregister_consumer_delay <= duration::zero()) {
    remove();
  } else {
    hub.sched->call_at(d.now() + hub.opt.deregister_consumer_delay, [&hub, remove] {
      std::lock_guard l(hub.mu);
      remove();
    });
  }
  return {};
}

result<list_stream_consumers_result> engine::list_stream_consumers(const list_stream_consumers_request& req) {
  auto& d = *impl_;
  validation v;
  if (req.max_results && *req.max_results < 1) v.value_at_least(*req.max_results, "maxResults", 1);
  if (req.max_results && *req.max_results > 10000) v.value_at_most(*req.max_results, "maxResults", 10000);
  if (!req.stream_arn && !req.next_token) v.fail_null("streamARN");
  if (!v.ok()) return v.error();
  const timestamp now = d.now();
  std::optional<std::uint64_t> token_uid;
  std::string after;
  if (req.next_token) {
    auto payload = d.tokens.open(*req.next_token);
    detail::payload_reader r(payload ? *payload : std::string_view());
    std::uint8_t kind = 0;
    std::int64_t issued = 0;
    std::uint64_t uid = 0;
    if (!payload || !r.u8(kind) || kind != detail::kListConsumersToken || !r.i64(issued) || !r.u64(uid) ||
        !r.str(after) || !r.done()) {
      return detail::invalid_argument("Invalid NextToken.");
    }
    if (now - timestamp(duration(issued)) > detail::kNextTokenLifetime) {
      return error(error_code::expired_next_token_exception,
                   fmt::format("The NextToken has expired. Tokens expire {} seconds after they are issued.",
                               detail::kNextTokenLifetime.count() / 1000));
    }
    token_uid = uid;
  }
  std::shared_ptr<stream_state> st;
  if (req.stream_arn) {
    auto s = d.lookup(std::nullopt, req.stream_arn);
    if (!s) return s.error();
    st = *s;
    if (token_uid && *token_uid != st->uid) return detail::invalid_argument("Invalid NextToken.");
  } else {
    std::shared_lock lock(d.streams_mu);
    for (const auto& [name, s] : d.streams) {
      if (s->uid == *token_uid) st = s;
    }
    if (!st) return detail::invalid_argument("Invalid NextToken.");
  }
  if (req.stream_creation_timestamp && *req.stream_creation_timestamp != st->created) {
    return detail::stream_not_found(d.at(st->name));
  }
  if (auto admitted = d.enter("ListStreamConsumers", st->name); !admitted) return admitted.error();
  const std::size_t limit = static_cast<std::size_t>(req.max_results.value_or(100));
  list_stream_consumers_result out;
  std::lock_guard lock(d.fanout.mu);
  auto it = d.fanout.consumers.find(st->uid);
  if (it == d.fanout.consumers.end()) return out;
  auto ci = after.empty() ? it->second.begin() : it->second.upper_bound(after);
  for (; ci != it->second.end() && out.consumers.size() < limit; ++ci)
    out.consumers.push_back(to_consumer(*ci->second));
  if (ci != it->second.end()) {
    out.next_token = d.tokens.seal(detail::payload_writer()
                                       .u8(detail::kListConsumersToken)
                                       .i64(now.time_since_epoch().count())
                                       .u64(st->uid)
                                       .str(out.consumers.back().consumer_name)
                                       .take());
  }
  return out;
}

result<std::shared_ptr<subscription>> engine::subscribe_to_shard(const subscribe_to_shard_request& req) {
  auto& d = *impl_;
  validation v;
  validate_consumer_arn(v, req.consumer_arn);
  if (req.shard_id.empty()) v.length_at_least(req.shard_id, "shardId", 1);
  if (req.shard_id.size() > 128) v.length_at_most(req.shard_id, "shardId", 128);
  if (!v.ok()) return v.error();
  const auto& pos = req.starting_position;
  const bool by_seq =
      pos.type == shard_iterator_type::at_sequence_number || pos.type == shard_iterator_type::after_sequence_number;
  if (by_seq != pos.sequence_number.has_value()) {
    return detail::invalid_argument(by_seq ? "StartingPosition needs a SequenceNumber for this type."
                                           : "A SequenceNumber is only allowed with AT_ or AFTER_SEQUENCE_NUMBER.");
  }
  if ((pos.type == shard_iterator_type::at_timestamp) != pos.timestamp.has_value()) {
    return detail::invalid_argument("A Timestamp is required for AT_TIMESTAMP and only allowed with it.");
  }
  if (pos.sequence_number && !detail::is_decimal(*pos.sequence_number, 129)) {
    v.pattern(*pos.sequence_number, "startingPosition.sequenceNumber", detail::kSequenceNumberPattern);
    return v.error();
  }
  const auto parts = parse_consumer_arn(req.consumer_arn);
  auto s = d.lookup(std::nullopt, parts->stream_arn);
  if (!s) return s.error();
  std::shared_ptr<stream_state> st = *s;
  if (auto admitted = d.enter("SubscribeToShard", st->name); !admitted) return admitted.error();
  auto& hub = d.fanout;
  {
    std::lock_guard lock(hub.mu);
    std::shared_ptr<consumer_state> c;
    if (auto it = hub.consumers.find(st->uid); it != hub.consumers.end()) {
      if (auto ci = it->second.find(parts->name); ci != it->second.end() && ci->second->arn == req.consumer_arn) {
        c = ci->second;
      }
    }
    if (!c) {
      return error(error_code::resource_not_found_exception,
                   fmt::format("Consumer {} under stream {} not found.", req.consumer_arn, st->name));
    }
    if (c->status != consumer_status::active) {
      return error(error_code::resource_in_use_exception, fmt::format("Consumer {} is not ACTIVE, instead in state {}",
                                                                      req.consumer_arn, to_string(c->status)));
    }
  }
  const auto id = shard_id::parse(req.shard_id);
  const timestamp now = d.now();
  std::shared_ptr<shard_state> sh;
  std::uint64_t position = 0;
  {
    std::shared_lock lock(st->mu);
    const shard_state* found =
        (!id || st->status == stream_status::creating || st->removed) ? nullptr : st->live_shard(id, now);
    if (!found) {
      return id ? detail::shard_does_not_exist(d.at(st->name), *id)
                : error(error_code::resource_not_found_exception,
                        fmt::format("Shard {} in stream {} under account {} does not exist", req.shard_id, st->name,
                                    d.opt.account_id));
    }
    sh = st->shards[id->index()];
    std::shared_lock shl(sh->mu);
    const shard_log& log = *sh->log;
    const std::uint64_t readable = log.offset_at_or_after(st->horizon(now) + duration(1));
    const std::uint64_t end = log.end_offset();
    switch (pos.type) {
      case shard_iterator_type::trim_horizon: position = readable; break;
      case shard_iterator_type::latest: position = end; break;
      case shard_iterator_type::at_timestamp:
        position = std::max(readable, *pos.timestamp > now ? end : log.offset_at_or_after(*pos.timestamp));
        break;
      case shard_iterator_type::at_sequence_number:
      case shard_iterator_type::after_sequence_number: {
        auto seq = sequence_number::parse(*pos.sequence_number);
        if (!seq || seq->shard().index() != sh->id.index() || seq->shard_create_seconds() != sh->create_s ||
            seq->seq_index() > end + 1) {
          return detail::invalid_argument(
              fmt::format("Invalid StartingSequenceNumber {} for shard {} in stream {} under account {}.",
                          *pos.sequence_number, sh->id.to_string(), st->name, d.opt.account_id));
        }
        const std::uint64_t at = seq->seq_index() == 0 ? 0 : seq->seq_index() - 1;
        position = pos.type == shard_iterator_type::at_sequence_number ? at : seq->seq_index();
        position = std::clamp(position, readable, std::max(readable, end));
        break;
      }
    }
  }
  const bool limited = [&] {
    std::shared_lock lock(st->mu);
    return st->limits.enabled;
  }();
  auto sub =
      std::make_shared<detail::fanout_subscription>(hub, st, sh, req.consumer_arn, req.options, position, limited, now);
  {
    std::lock_guard lock(hub.mu);
    if (hub.stopped) return detail::internal_failure("The engine has shut down");
    auto& lease = hub.leases[{req.consumer_arn, sh->id.index()}];
    auto old = lease.sub.lock();
    if (lease.started != timestamp{} && now - lease.started < hub.opt.takeover_after) {
      return error(
          error_code::resource_in_use_exception,
          fmt::format("Another active subscription exists for consumer {} and shard {}; try again after {} ms",
                      req.consumer_arn, sh->id.to_string(), (lease.started + hub.opt.takeover_after - now).count()));
    }
    if (old) {
      old->finish(error(error_code::resource_in_use_exception,
                        fmt::format("Subscription of consumer {} to shard {} was taken over by a newer one",
                                    req.consumer_arn, sh->id.to_string())));
    }
    lease.started = now;
    lease.sub = sub;
  }
  sub->start(now);
  // The caller's handle: dropping it cancels. (A callback subscription keeps
  // itself alive until it has delivered the end: drop_handle().)
  detail::fanout_subscription* raw = sub.get();
  return std::shared_ptr<subscription>(raw, [keep = std::move(sub)](subscription*) mutable {
    detail::fanout_subscription::drop_handle(std::move(keep));
  });
}

}  // namespace rill
