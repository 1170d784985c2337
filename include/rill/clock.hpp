// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Time is injected. Nothing in rill reads the system clock or sleeps except
// through a `clock` and the `scheduler` it makes:
//
//   * `system_clock` reads the wall clock; its schedulers run tasks on a
//     Boost.Asio io_context with one worker thread, owned by the scheduler (and
//     so by the engine that made it).
//   * `manual_clock` stands still until a test calls `advance()`; `advance()`
//     runs every task that falls due, in due-time order, synchronously on the
//     calling thread, with `now()` set to each task's due time while it runs.
//
// Retention, iterator expiry, status transitions, rate limits and metrics all
// read this one clock, so a test can age a stream by a day in microseconds:
//
//   auto clock = std::make_shared<rill::manual_clock>();
//   rill::engine engine({.clock = clock});
//   ... put records ...
//   clock->advance(std::chrono::hours(25));   // retention trims here
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "rill/types.hpp"

namespace rill {

/// Runs tasks at times on its clock.
///
/// Thread safety: all methods may be called from any thread, including from a
/// running task. Tasks run one at a time per scheduler; a task must not block
/// waiting for another task of the same scheduler.
class scheduler {
 public:
  using task_id = std::uint64_t;

  virtual ~scheduler() = default;
  /// Runs `task` once at `due` (or as soon as possible if `due` has passed).
  /// Returns an id for cancel().
  virtual task_id call_at(timestamp due, std::function<void()> task) = 0;
  /// Cancels a task that has not started. Returns false if it already ran, is
  /// running, or is unknown.
  virtual bool cancel(task_id id) = 0;
  /// Stops running tasks: pending ones are dropped, a running one is waited for
  /// (unless called from inside a task). Idempotent; the destructor calls it.
  virtual void shutdown() = 0;
};

/// A source of time that can make schedulers on that time.
///
/// Thread safety: now() may be called from any thread concurrently.
class clock {
 public:
  virtual ~clock() = default;
  /// The current time.
  [[nodiscard]] virtual timestamp now() const noexcept = 0;
  /// A new scheduler driven by this clock. The caller owns it; the clock must
  /// outlive it.
  [[nodiscard]] virtual std::unique_ptr<scheduler> make_scheduler() = 0;

  /// Blocks the calling thread until now() ≥ t (returns at once if it already
  /// is). The one way rill code (and code tested with rill, such as a
  /// producer's backoff) should wait for time to pass: on a manual_clock it
  /// moves or waits for the manual time, never the wall clock (see there).
  /// This default waits for a task of a scheduler of this clock; system_clock
  /// and manual_clock override it. Thread safety: any thread.
  virtual void sleep_until(timestamp t);
  /// sleep_until(now() + d); d ≤ 0 returns at once.
  void sleep_for(duration d);
};

/// The wall clock (std::chrono::system_clock), in milliseconds. Its schedulers
/// each own a Boost.Asio io_context and one thread that runs the tasks.
class system_clock final : public clock {
 public:
  [[nodiscard]] timestamp now() const noexcept override;
  [[nodiscard]] std::unique_ptr<scheduler> make_scheduler() override;
  /// std::this_thread::sleep_until on the wall clock.
  void sleep_until(timestamp t) override;
};

/// A clock that moves only when told to. The default start is
/// 2024-01-01T00:00:00Z, so sequence numbers and timestamps look realistic.
///
/// Thread safety: now() from any thread; advance(), advance_to() and run_due() from one thread at a
/// time (typically the test's). Tasks run inside advance(), on its thread.
///
/// Sleeping on a manual clock (sleep_until / sleep_for), by sleep_policy:
///   * `advance` (the default): the sleeper moves time itself, as
///     advance_to(t) would, running the tasks that fall due, and returns. A
///     single-threaded test of code that backs off never hangs, and a
///     one-minute backoff takes microseconds. Sleepers and advance() calls
///     are serialized, so time never moves backwards.
///   * `wait`: the sleeper blocks until another thread (the test) moves the
///     clock to t or beyond. For tests in which one thread owns time while
///     workers sleep; sleepers() tells the test how many are waiting.
/// In either policy, sleeping — or calling advance(), advance_to() or
/// run_due() — from inside a task this clock is running would wait on itself
/// forever; it throws std::logic_error instead.
class manual_clock final : public clock {
 public:
  static constexpr timestamp default_start{std::chrono::milliseconds(1'704'067'200'000LL)};

  enum class sleep_policy : std::uint8_t { advance, wait };

  explicit manual_clock(timestamp start = default_start);
  ~manual_clock() override;

  [[nodiscard]] timestamp now() const noexcept override;
  [[nodiscard]] std::unique_ptr<scheduler> make_scheduler() override;

  /// Moves time forward by `d` (≥ 0), running every task due up to the new time
  /// in due-time order (ties in scheduling order), each with now() == its due time.
  /// Time saturates at timestamp::max() (advance(duration::max()) is safe).
  void advance(duration d);
  /// Moves time forward to `t` (no-op if `t` is not later than now()).
  void advance_to(timestamp t);
  /// Runs the tasks already due at now() (advance by zero).
  void run_due();
  /// Tasks scheduled and not yet run, over all schedulers of this clock.
  [[nodiscard]] std::size_t pending_tasks() const;

  /// See the class comment. Throws std::logic_error from inside a task of this clock.
  void sleep_until(timestamp t) override;
  /// How sleepers behave (default: advance). Any thread.
  void set_sleep_policy(sleep_policy policy) noexcept;
  [[nodiscard]] sleep_policy get_sleep_policy() const noexcept;
  /// Threads blocked in sleep_until under the `wait` policy right now.
  [[nodiscard]] std::size_t sleepers() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
