// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// manual_clock sleepers on other threads (label "concurrency": also run under TSan).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "rill/clock.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;

TEST(ManualClockSleep, UnderTheWaitPolicyASleeperWaitsForAnotherThreadToAdvance) {
  manual_clock clock;
  clock.set_sleep_policy(manual_clock::sleep_policy::wait);
  EXPECT_EQ(clock.get_sleep_policy(), manual_clock::sleep_policy::wait);
  const timestamp t0 = clock.now();
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    clock.sleep_for(5s);
    woke = true;
  });
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.advance(4s);
  EXPECT_FALSE(woke.load());  // not yet: 1 s to go
  EXPECT_EQ(clock.sleepers(), 1u);
  clock.advance(1s);
  sleeper.join();
  EXPECT_TRUE(woke.load());
  EXPECT_EQ(clock.now(), t0 + 5s);  // the sleeper did not move time
  EXPECT_EQ(clock.sleepers(), 0u);
}

TEST(ManualClockSleep, AdvancingSleepersOnManyThreadsNeverMoveTimeBackwards) {
  manual_clock clock;
  const timestamp t0 = clock.now();
  std::vector<std::thread> threads;
  std::atomic<int> backwards{0};
  for (int i = 1; i <= 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 50; ++k) {
        const timestamp before = clock.now();
        clock.sleep_for(std::chrono::milliseconds(i));
        if (clock.now() < before + std::chrono::milliseconds(i)) ++backwards;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(backwards.load(), 0);
  EXPECT_GE(clock.now(), t0 + 200ms);
}

}  // namespace
}  // namespace rill
