// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// clock::sleep_for / sleep_until on both clocks.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "rill/clock.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;

// What a user's retry loop looks like: it only knows a rill::clock.
int retry_with_backoff(clock& c, int failures_before_success, duration first_backoff) {
  duration backoff = first_backoff;
  int attempts = 1;
  for (int f = 0; f < failures_before_success; ++f, ++attempts) {
    c.sleep_for(backoff);
    backoff *= 2;
  }
  return attempts;
}

TEST(ManualClockSleep, ASingleThreadedSleeperAdvancesTimeItself) {
  manual_clock clock;
  const timestamp t0 = clock.now();
  // 1 + 2 + 4 + 8 + 16 minutes of backoff, no wall time.
  const auto wall = std::chrono::steady_clock::now();
  EXPECT_EQ(retry_with_backoff(clock, 5, 1min), 6);
  EXPECT_EQ(clock.now(), t0 + 31min);
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 5s);
}

TEST(ManualClockSleep, SleepingRunsTheTasksThatFallDue) {
  manual_clock clock;
  auto sched = clock.make_scheduler();
  const timestamp t0 = clock.now();
  std::vector<timestamp> ran;
  sched->call_at(t0 + 10s, [&] { ran.push_back(clock.now()); });
  sched->call_at(t0 + 90s, [&] { ran.push_back(clock.now()); });
  clock.sleep_until(t0 + 30s);
  EXPECT_EQ(ran, std::vector<timestamp>{t0 + 10s});
  clock.sleep_for(0ms);   // no-op
  clock.sleep_for(-5ms);  // no-op
  clock.sleep_until(t0);  // in the past: no-op
  EXPECT_EQ(clock.now(), t0 + 30s);
  clock.sleep_for(60s);
  EXPECT_EQ(ran, (std::vector<timestamp>{t0 + 10s, t0 + 90s}));
}

TEST(ManualClockSleep, SleepingOrAdvancingInsideATaskOfTheClockThrowsInsteadOfHanging) {
  manual_clock clock;
  auto sched = clock.make_scheduler();
  int thrown = 0;
  sched->call_at(clock.now() + 1s, [&] {
    try {
      clock.sleep_for(1s);
    } catch (const std::logic_error&) {
      ++thrown;
    }
    try {
      clock.advance(1s);
    } catch (const std::logic_error&) {
      ++thrown;
    }
  });
  clock.advance(2s);
  EXPECT_EQ(thrown, 2);
  clock.sleep_for(1s);  // outside a task: fine again
}

TEST(SystemClockSleep, SleepsOnTheWallClock) {
  system_clock clock;
  const auto before = std::chrono::steady_clock::now();
  clock.sleep_for(20ms);
  EXPECT_GE(std::chrono::steady_clock::now() - before, 19ms);
  clock.sleep_until(clock.now() - 1s);  // in the past: at once
}

// A clock that only implements now() and make_scheduler() gets the default
// sleep_until, which waits for a task of its own scheduler.
class wrapped_system_clock final : public clock {
 public:
  timestamp now() const noexcept override { return inner_.now(); }
  std::unique_ptr<scheduler> make_scheduler() override { return inner_.make_scheduler(); }

 private:
  system_clock inner_;
};

TEST(ClockSleep, TheDefaultWaitsForASchedulerTask) {
  wrapped_system_clock clock;
  const timestamp due = clock.now() + 30ms;
  clock.sleep_until(due);
  EXPECT_GE(clock.now(), due);
}

}  // namespace
}  // namespace rill
