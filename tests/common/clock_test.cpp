// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/clock.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace rill {
namespace {

using namespace std::chrono_literals;

TEST(ManualClock, StandsStillUntilAdvanced) {
  manual_clock clock;
  const auto t0 = clock.now();
  EXPECT_EQ(t0, manual_clock::default_start);
  EXPECT_EQ(clock.now(), t0);
  clock.advance(1500ms);
  EXPECT_EQ(clock.now(), t0 + 1500ms);
  clock.advance(-5ms);  // never backwards
  EXPECT_EQ(clock.now(), t0 + 1500ms);
}

TEST(ManualClock, RunsDueTasksInOrderWithTheirDueTime) {
  manual_clock clock;
  auto sched = clock.make_scheduler();
  const auto t0 = clock.now();
  std::vector<std::pair<int, timestamp>> ran;
  sched->call_at(t0 + 30ms, [&] { ran.emplace_back(3, clock.now()); });
  sched->call_at(t0 + 10ms, [&] { ran.emplace_back(1, clock.now()); });
  sched->call_at(t0 + 10ms, [&] { ran.emplace_back(2, clock.now()); });  // tie: scheduling order
  sched->call_at(t0 + 50ms, [&] { ran.emplace_back(5, clock.now()); });
  clock.advance(30ms);
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_EQ(ran[0], std::make_pair(1, t0 + 10ms));
  EXPECT_EQ(ran[1], std::make_pair(2, t0 + 10ms));
  EXPECT_EQ(ran[2], std::make_pair(3, t0 + 30ms));
  EXPECT_EQ(clock.pending_tasks(), 1u);
  clock.advance(20ms);
  EXPECT_EQ(ran.size(), 4u);
}

TEST(ManualClock, TasksMayScheduleTasksThatFallDueInTheSameAdvance) {
  manual_clock clock;
  auto sched = clock.make_scheduler();
  int ticks = 0;
  std::function<void()> tick = [&] {
    ++ticks;
    sched->call_at(clock.now() + 1s, tick);
  };
  sched->call_at(clock.now() + 1s, tick);
  clock.advance(10s);
  EXPECT_EQ(ticks, 10);
}

TEST(ManualClock, CancelAndShutdownDropTasks) {
  manual_clock clock;
  auto sched = clock.make_scheduler();
  int ran = 0;
  auto id = sched->call_at(clock.now() + 1s, [&] { ++ran; });
  EXPECT_TRUE(sched->cancel(id));
  EXPECT_FALSE(sched->cancel(id));
  sched->call_at(clock.now() + 1s, [&] { ++ran; });
  sched->shutdown();
  clock.advance(2s);
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(clock.pending_tasks(), 0u);
}

TEST(ManualClock, DestroyingASchedulerRemovesItsTasksOnly) {
  manual_clock clock;
  auto keep = clock.make_scheduler();
  int kept = 0;
  int dropped = 0;
  keep->call_at(clock.now() + 1s, [&] { ++kept; });
  {
    auto gone = clock.make_scheduler();
    gone->call_at(clock.now() + 1s, [&] { ++dropped; });
  }
  clock.advance(1s);
  EXPECT_EQ(kept, 1);
  EXPECT_EQ(dropped, 0);
}

TEST(SystemClock, SchedulerRunsTasksOnItsOwnThread) {
  system_clock clock;
  auto sched = clock.make_scheduler();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread::id ran_on;
  sched->call_at(clock.now(), [&] {
    std::lock_guard lock(mu);
    ran_on = std::this_thread::get_id();
    done = true;
    cv.notify_all();
  });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return done; }));  // a bound for a hung test, not a timing assertion
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

TEST(SystemClock, CancelledTaskNeverRuns) {
  system_clock clock;
  auto sched = clock.make_scheduler();
  std::atomic<int> ran = 0;
  auto id = sched->call_at(clock.now() + 1h, [&] { ++ran; });
  EXPECT_TRUE(sched->cancel(id));
  sched->shutdown();
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace rill
