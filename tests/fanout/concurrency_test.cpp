// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// SubscribeToShard with real threads on the system clock: a writer and pull /
// spin / callback subscribers; every record once, in order; no lost wake-ups.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rill/engine.hpp"
#include "rill/testing.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::value_or_throw;

constexpr int kRecords = 2000;

struct fixture {
  std::shared_ptr<system_clock> clock = std::make_shared<system_clock>();
  engine e{{.clock = clock}};
  std::string consumer;
  fixture() {
    value_or_throw(e.create_stream({.stream_name = "s", .shard_count = 1}), "create");
    const auto arn =
        value_or_throw(e.describe_stream_summary({.stream_name = "s"}), "d").stream_description_summary.stream_arn;
    consumer = value_or_throw(e.register_stream_consumer({.stream_arn = arn, .consumer_name = "c"}), "r")
                   .consumer.consumer_arn;
  }
  void write_all() {
    for (int i = 0; i < kRecords; ++i) {
      const std::string data = std::to_string(i);
      value_or_throw(e.put_record({.stream_name = "s", .data = data, .partition_key = "k"}), "put");
      if (i % 128 == 0) std::this_thread::yield();
    }
  }
};

void pull_all(subscription& sub, std::vector<int>& got) {
  while (static_cast<int>(got.size()) < kRecords) {
    auto r = sub.pull(2s);
    ASSERT_TRUE(r.ok()) << r.error();
    if (!r->has_value()) {
      ASSERT_FALSE(sub.ended());
      continue;
    }
    for (const auto& rec : (*r)->records) got.push_back(std::stoi(std::string(rec.data)));
  }
}

void expect_sequence(const std::vector<int>& got) {
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kRecords));
  for (int i = 0; i < kRecords; ++i) ASSERT_EQ(got[static_cast<std::size_t>(i)], i);
}

TEST(SubscribeToShardConcurrency, PullingSubscriberSeesEveryRecordInOrder) {
  fixture f;
  auto sub =
      value_or_throw(f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000"}), "sub");
  std::vector<int> got;
  std::thread reader([&] { pull_all(*sub, got); });
  f.write_all();
  reader.join();
  expect_sequence(got);
}

TEST(SubscribeToShardConcurrency, SpinningSubscriberSeesEveryRecordInOrder) {
  fixture f;
  auto sub =
      value_or_throw(f.e.subscribe_to_shard(
                         {.consumer_arn = f.consumer, .shard_id = "shardId-000000000000", .options = {.spin = true}}),
                     "sub");
  std::vector<int> got;
  std::thread reader([&] { pull_all(*sub, got); });
  f.write_all();
  reader.join();
  expect_sequence(got);
}

TEST(SubscribeToShardConcurrency, CallbackSubscriberSeesEveryRecordInOrder) {
  fixture f;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> got;
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    ASSERT_TRUE(ev.ok());
    std::lock_guard lock(mu);
    for (const auto& rec : ev->records) got.push_back(std::stoi(std::string(rec.data)));
    cv.notify_all();
  };
  auto sub = value_or_throw(
      f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000", .options = opt}), "sub");
  f.write_all();
  {
    std::unique_lock lock(mu);
    // Test-side wait with a wall-clock bound only as a guard against a hang.
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return static_cast<int>(got.size()) >= kRecords; }));
  }
  sub->cancel();
  std::lock_guard lock(mu);
  expect_sequence(got);
}

// Callback pipes have a delivery thread each. Dropping the handle while records
// flow cancels: on_complete once, no handler call after it.
TEST(SubscribeToShardConcurrency, DroppingACallbackPipeWhileRecordsFlowCompletesIt) {
  fixture f;
  std::mutex mu;
  std::condition_variable cv;
  int events = 0;
  int completes = 0;
  bool late = false;
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    EXPECT_TRUE(ev.ok());
    std::lock_guard lock(mu);
    late = late || completes > 0;
    ++events;
    cv.notify_all();
  };
  opt.on_complete = [&] {
    std::lock_guard lock(mu);
    ++completes;
    cv.notify_all();
  };
  auto sub = value_or_throw(
      f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000", .options = opt}), "sub");
  std::thread writer([&] { f.write_all(); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return events > 0; }));
  }
  sub.reset();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return completes > 0; }));
  }
  writer.join();
  std::lock_guard lock(mu);
  EXPECT_EQ(completes, 1);
  EXPECT_FALSE(late);
}

// A handler may drop the last handle from inside itself (on the delivery thread).
TEST(SubscribeToShardConcurrency, AHandlerMayDropTheLastHandle) {
  fixture f;
  std::mutex mu;
  std::condition_variable cv;
  std::shared_ptr<subscription> sub;
  bool completed = false;
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    EXPECT_TRUE(ev.ok());
    std::lock_guard lock(mu);
    sub.reset();
  };
  opt.on_complete = [&] {
    std::lock_guard lock(mu);
    completed = true;
    cv.notify_all();
  };
  {
    std::lock_guard lock(mu);
    sub = value_or_throw(
        f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000", .options = opt}),
        "sub");
  }
  value_or_throw(f.e.put_record({.stream_name = "s", .data = "x", .partition_key = "k"}), "put");
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return completed; }));
  EXPECT_EQ(sub, nullptr);
}

// An engine destroyed under a live callback pipe ends it with InternalFailure;
// the handle may then only be destroyed.
TEST(SubscribeToShardConcurrency, AnEngineGoingAwayEndsACallbackPipe) {
  auto f = std::make_unique<fixture>();
  std::atomic<int> failures{0};
  std::atomic<int> events{0};
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    if (ev) {
      ++events;
    } else {
      EXPECT_EQ(ev.error().code(), error_code::internal_failure);
      ++failures;
    }
  };
  auto sub = value_or_throw(
      f->e.subscribe_to_shard({.consumer_arn = f->consumer, .shard_id = "shardId-000000000000", .options = opt}),
      "sub");
  f->write_all();
  f.reset();  // joins the delivery thread after it has handed over the failure
  EXPECT_EQ(failures.load(), 1);
  EXPECT_TRUE(sub->ended());
  sub.reset();
}

TEST(SubscribeToShardConcurrency, TakeoverAndDeregisterRaceWithPullers) {
  fixture f;
  auto sub =
      value_or_throw(f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000"}), "sub");
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    for (;;) {
      auto r = sub->pull(50ms);
      if (!r) {
        EXPECT_EQ(r.error().code(), error_code::resource_not_found_exception);
        break;
      }
      if (sub->ended()) break;
    }
    ended = true;
  });
  std::thread writer([&] { f.write_all(); });
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(f.e.deregister_stream_consumer({.consumer_arn = f.consumer}).ok());
  writer.join();
  reader.join();
  EXPECT_TRUE(ended);
}

}  // namespace
}  // namespace rill
