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
    // The continuation resumes right after the event's last record (spin mode
    // makes its text ahead of time: it must still be this one).
    ASSERT_TRUE((*r)->continuation_sequence_number.has_value());
    const auto cont = sequence_number::parse(*(*r)->continuation_sequence_number);
    ASSERT_TRUE(cont.has_value());
    if (!(*r)->records.empty()) {
      const auto& last = (*r)->records.back().sequence_number;
      ASSERT_EQ(cont->seq_index(), last.seq_index());
      ASSERT_EQ(cont->shard_create_seconds(), last.shard_create_seconds());
      ASSERT_GE(cont->seq_time_seconds(), last.seq_time_seconds());
    }
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
  std::mutex mu;  // what the handler touches outlives the engine (which joins the delivery workers)
  std::condition_variable cv;
  std::vector<int> got;
  fixture f;
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

// Dropping the handle while records
// flow cancels: on_complete once, no handler call after it.
TEST(SubscribeToShardConcurrency, DroppingACallbackPipeWhileRecordsFlowCompletesIt) {
  std::mutex mu;  // what the handler touches outlives the engine (which joins the delivery workers)
  std::condition_variable cv;
  int events = 0;
  int completes = 0;
  bool late = false;
  fixture f;
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

// Callback pipes share the engine's delivery pool (a few workers). Many pipes
// on several shards, fed by put_records: each sees every record of its shard
// exactly once and in order, its handler one call at a time.
TEST(SubscribeToShardConcurrency, ManyCallbackPipesOnAFewWorkersEachSeeTheirShardInOrder) {
  constexpr int kShards = 4;
  constexpr int kConsumers = 5;
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 100;
  struct pipe {
    std::atomic<int> in_handler{0};
    std::atomic<bool> overlapped{false};
    std::vector<int> got;  // written by the pipe's handler only (one call at a time)
    std::atomic<int> count{0};
  };
  // Declared before the engine: its destruction joins the delivery workers
  // (a handler call may still run after cancel()) before the pipes go.
  std::vector<std::unique_ptr<pipe>> pipes;
  auto clock = std::make_shared<system_clock>();
  engine e{{.clock = clock}};
  value_or_throw(e.create_stream({.stream_name = "s", .shard_count = kShards}), "create");
  const auto arn =
      value_or_throw(e.describe_stream_summary({.stream_name = "s"}), "d").stream_description_summary.stream_arn;
  std::vector<std::shared_ptr<subscription>> subs;
  for (int c = 0; c < kConsumers; ++c) {
    const auto consumer =
        value_or_throw(e.register_stream_consumer({.stream_arn = arn, .consumer_name = "c" + std::to_string(c)}), "r")
            .consumer.consumer_arn;
    for (int sh = 0; sh < kShards; ++sh) {
      pipes.push_back(std::make_unique<pipe>());
      pipe* p = pipes.back().get();
      subscription_options opt;
      opt.max_event_records = 37;  // several events per put_records, several turns per wake-up
      opt.handler = [p](result<subscribe_to_shard_event> ev) {
        ASSERT_TRUE(ev.ok()) << ev.error();
        if (p->in_handler.fetch_add(1) != 0) p->overlapped = true;
        for (const auto& rec : ev->records) p->got.push_back(std::stoi(std::string(rec.data)));
        p->count.fetch_add(static_cast<int>(ev->records.size()));
        p->in_handler.fetch_sub(1);
      };
      subs.push_back(
          value_or_throw(e.subscribe_to_shard({.consumer_arn = consumer,
                                               .shard_id = shard_id(static_cast<std::uint32_t>(sh)).to_string(),
                                               .options = opt}),
                         "sub"));
    }
  }
  // Explicit hash keys spread the records over the shards: shard = i % kShards.
  std::vector<std::string> datas;
  std::vector<std::string> hashes;
  const auto shards = value_or_throw(e.list_shards({.stream_name = "s"}), "list").shards;
  ASSERT_EQ(shards.size(), static_cast<std::size_t>(kShards));
  for (int i = 0; i < kBatches * kPerBatch; ++i) datas.push_back(std::to_string(i));
  for (int sh = 0; sh < kShards; ++sh) {
    hashes.push_back(shards[static_cast<std::size_t>(sh)].hash_key_range.starting_hash_key.to_string());
  }
  for (int b = 0; b < kBatches; ++b) {
    put_records_request req{.stream_name = "s"};
    for (int i = b * kPerBatch; i < (b + 1) * kPerBatch; ++i) {
      req.records.push_back({.data = datas[static_cast<std::size_t>(i)],
                             .partition_key = "k",
                             .explicit_hash_key = hashes[static_cast<std::size_t>(i % kShards)]});
    }
    auto r = value_or_throw(e.put_records(req), "put");
    ASSERT_EQ(r.failed_record_count, 0);
  }
  const int per_shard = kBatches * kPerBatch / kShards;
  // Test-side wait with a wall-clock bound only as a guard against a hang.
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (auto& p : pipes) {
    while (p->count.load() < per_shard && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  }
  for (auto& s : subs) s->cancel();
  subs.clear();
  for (std::size_t i = 0; i < pipes.size(); ++i) {
    const int sh = static_cast<int>(i % kShards);
    const auto& got = pipes[i]->got;
    ASSERT_EQ(got.size(), static_cast<std::size_t>(per_shard)) << "pipe " << i;
    for (int k = 0; k < per_shard; ++k) ASSERT_EQ(got[static_cast<std::size_t>(k)], k * kShards + sh) << "pipe " << i;
    EXPECT_FALSE(pipes[i]->overlapped) << "pipe " << i;
  }
}

// Handlers that block hold pool workers; the pool starts new ones, so another
// subscription still gets every record while they are blocked, and the blocked
// ones get theirs, in order, once released. More blocked handlers than the pool
// has workers (at most 16).
TEST(SubscribeToShardConcurrency, BlockedHandlersDoNotHoldUpOtherSubscriptions) {
  constexpr int kBlocked = 17;
  // What the handlers touch is declared before the engine (in the fixture),
  // whose destruction joins the delivery workers.
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  int blocked_now = 0;
  std::vector<std::vector<int>> got(kBlocked);
  std::vector<int> live;
  std::atomic<int> live_count{0};
  fixture f;
  const auto arn =
      value_or_throw(f.e.describe_stream_summary({.stream_name = "s"}), "d").stream_description_summary.stream_arn;
  std::vector<std::shared_ptr<subscription>> subs;
  for (int c = 0; c < kBlocked; ++c) {
    const auto consumer =
        value_or_throw(f.e.register_stream_consumer({.stream_arn = arn, .consumer_name = "b" + std::to_string(c)}), "r")
            .consumer.consumer_arn;
    subscription_options opt;
    opt.handler = [&, c](result<subscribe_to_shard_event> ev) {
      ASSERT_TRUE(ev.ok());
      std::unique_lock lock(mu);
      ++blocked_now;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });  // stalls its worker until released
      --blocked_now;
      for (const auto& rec : ev->records) got[static_cast<std::size_t>(c)].push_back(std::stoi(std::string(rec.data)));
      cv.notify_all();
    };
    subs.push_back(value_or_throw(
        f.e.subscribe_to_shard({.consumer_arn = consumer, .shard_id = "shardId-000000000000", .options = opt}), "sub"));
  }
  value_or_throw(f.e.put_record({.stream_name = "s", .data = "0", .partition_key = "k"}), "put");
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return blocked_now == kBlocked; }));
  }
  // Every blocked handler holds a worker now. A fresh subscriber still sees every record.
  subscription_options opt;
  opt.handler = [&](result<subscribe_to_shard_event> ev) {
    ASSERT_TRUE(ev.ok());
    for (const auto& rec : ev->records) live.push_back(std::stoi(std::string(rec.data)));
    live_count.fetch_add(static_cast<int>(ev->records.size()));
  };
  auto live_sub = value_or_throw(
      f.e.subscribe_to_shard({.consumer_arn = f.consumer, .shard_id = "shardId-000000000000", .options = opt}), "sub");
  for (int i = 1; i < kRecords; ++i) {
    const std::string data = std::to_string(i);
    value_or_throw(f.e.put_record({.stream_name = "s", .data = data, .partition_key = "k"}), "put");
  }
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  while (live_count.load() < kRecords - 1 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
  live_sub->cancel();
  ASSERT_EQ(live.size(), static_cast<std::size_t>(kRecords - 1));
  for (int i = 1; i < kRecords; ++i) ASSERT_EQ(live[static_cast<std::size_t>(i - 1)], i);
  {
    std::unique_lock lock(mu);
    EXPECT_EQ(blocked_now, kBlocked);  // still blocked: nothing waited for them
    released = true;
    cv.notify_all();
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] {
      for (const auto& g : got) {
        if (static_cast<int>(g.size()) < kRecords) return false;
      }
      return true;
    }));
  }
  for (auto& s : subs) s->cancel();
  std::lock_guard lock(mu);
  for (const auto& g : got) expect_sequence(g);
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
