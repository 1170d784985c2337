// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The scheduler's thread safety: one thread drives the clock (all worker tasks
// and processor callbacks run there), while others put records, read the
// workers' state, checkpoint asynchronously through checkpointers kept past
// their callback, and finally shut a worker down gracefully. Run under TSan in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "rill/engine.hpp"
#include "rill/kcl.hpp"

namespace rill::kcl {
namespace {

using namespace std::chrono_literals;

struct shared_state {
  std::mutex mu;
  std::vector<std::shared_ptr<record_processor_checkpointer>> checkpointers;
  std::atomic<std::size_t> processed{0};
};

struct async_processor final : shard_record_processor {
  shared_state& s;
  explicit async_processor(shared_state& st) : s(st) {}
  void initialize(const initialization_input&) override {}
  void process_records(const process_records_input& in) override {
    s.processed += in.records.size();
    std::lock_guard lock(s.mu);
    s.checkpointers.push_back(in.checkpointer);  // checkpointed later, from another thread
  }
  void lease_lost(const lease_lost_input&) override {}
  void shard_ended(const shard_ended_input& in) override { (void)in.checkpointer->checkpoint(); }
  void shutdown_requested(const shutdown_requested_input& in) override { (void)in.checkpointer->checkpoint(); }
};

TEST(KclConcurrency, CheckpointsAndQueriesFromOtherThreadsWhileTheClockRuns) {
  auto clock = std::make_shared<manual_clock>();
  engine e({.clock = clock});
  ASSERT_TRUE(e.create_stream({.stream_name = "s", .shard_count = 4}));
  auto store = make_memory_lease_store();
  shared_state st;
  auto make = [&](const std::string& id) {
    config c;
    c.stream_name = "s";
    c.worker_identifier = id;
    c.kinesis = &e;
    c.lease_store = store;
    c.clock = clock;
    c.shard_record_processor_factory = [&st] { return std::make_unique<async_processor>(st); };
    c.idle_time_between_reads_in_millis = 100ms;
    auto s = scheduler::create(std::move(c));
    EXPECT_TRUE(s);
    (*s)->start();
    return std::move(*s);
  };
  auto a = make("a");
  auto b = make("b");

  std::atomic<bool> stop{false};
  std::atomic<std::size_t> put{0};
  std::thread driver([&] {
    while (!stop) clock->advance(50ms);
  });
  std::thread producer([&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string pk = "k" + std::to_string(i);
      if (e.put_record({.stream_name = "s", .data = pk, .partition_key = pk})) ++put;
    }
  });
  std::thread checkpointer([&] {
    int ok = 0, refused = 0;
    while (!stop) {
      std::vector<std::shared_ptr<record_processor_checkpointer>> batch;
      {
        std::lock_guard lock(st.mu);
        batch.swap(st.checkpointers);
      }
      for (auto& c : batch) {
        auto r = c->checkpoint();
        (r ? ok : refused)++;
        (void)c->last_checkpoint_value();
      }
      (void)a->shards();
      (void)b->shards();
    }
    EXPECT_GT(ok + refused, 0);
  });
  producer.join();
  // Wait (on the driver's progress, not on time) until everything was processed.
  while (st.processed < put) std::this_thread::yield();
  auto result = b->graceful_shutdown();  // from this thread, while the driver runs the clock
  EXPECT_TRUE(result);
  stop = true;
  driver.join();
  checkpointer.join();
  EXPECT_GE(st.processed.load(), put.load());
  EXPECT_TRUE(b->shards().empty());
}

// Pushed fan-out on the wall clock: the subscription's delivery thread queues
// events and signals the worker's scheduler thread while a producer puts.
TEST(KclConcurrency, PushedFanOutOnTheSystemClockProcessesEveryRecordOnce) {
  auto clock = std::make_shared<system_clock>();
  engine e({.clock = clock});
  ASSERT_TRUE(e.create_stream({.stream_name = "s", .shard_count = 2}));
  std::mutex mu;
  std::map<std::string, int> seen;
  struct counting final : shard_record_processor {
    std::mutex& mu;
    std::map<std::string, int>& seen;
    counting(std::mutex& m, std::map<std::string, int>& s) : mu(m), seen(s) {}
    void initialize(const initialization_input&) override {}
    void process_records(const process_records_input& in) override {
      std::lock_guard lock(mu);
      for (const auto& r : in.records) ++seen[std::string(r.data)];
      (void)in.checkpointer->checkpoint();
    }
    void lease_lost(const lease_lost_input&) override {}
    void shard_ended(const shard_ended_input& in) override { (void)in.checkpointer->checkpoint(); }
    void shutdown_requested(const shutdown_requested_input& in) override { (void)in.checkpointer->checkpoint(); }
  };
  config c;
  c.stream_name = "s";
  c.worker_identifier = "w";
  c.kinesis = &e;
  c.lease_store = make_memory_lease_store();
  c.clock = clock;
  c.shard_record_processor_factory = [&] { return std::make_unique<counting>(mu, seen); };
  // A queue that does not fill here: the 5 s rule of a cancel-and-renew would
  // only slow this test down (AtMostMaxPendingEventsWaitForTheProcessor covers it).
  c.retrieval = make_fan_out_retrieval_factory({.max_pending_events = 1 << 20});
  auto w = std::move(*scheduler::create(std::move(c)));
  w->start();
  constexpr int n = 500;
  std::thread producer([&] {
    for (int i = 0; i < n; ++i) {
      const std::string v = "v" + std::to_string(i);
      EXPECT_TRUE(e.put_record({.stream_name = "s", .data = v, .partition_key = v}));
    }
  });
  producer.join();
  const timestamp deadline = clock->now() + 30s;
  for (;;) {
    {
      std::lock_guard lock(mu);
      if (seen.size() == static_cast<std::size_t>(n) || clock->now() > deadline) break;
    }
    clock->sleep_for(2ms);
  }
  EXPECT_TRUE(w->graceful_shutdown());
  std::lock_guard lock(mu);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
  for (const auto& [v, k] : seen) EXPECT_EQ(k, 1) << v;
}

}  // namespace
}  // namespace rill::kcl
