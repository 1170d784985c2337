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
};

/// The wall clock (std::chrono::system_clock), in milliseconds. Its schedulers
/// each own a Boost.Asio io_context and one thread that runs the tasks.
class system_clock final : public clock {
 public:
  [[nodiscard]] timestamp now() const noexcept override;
  [[nodiscard]] std::unique_ptr<scheduler> make_scheduler() override;
};

/// A clock that moves only when told to. The default start is
/// 2024-01-01T00:00:00Z, so sequence numbers and timestamps look realistic.
///
/// Thread safety: now() from any thread; advance(), advance_to() and run_due() from one thread at a
/// time (typically the test's). Tasks run inside advance(), on its thread.
class manual_clock final : public clock {
 public:
  static constexpr timestamp default_start{std::chrono::milliseconds(1'704'067'200'000LL)};

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

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
