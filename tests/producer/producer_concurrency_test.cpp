// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The producer on the system clock: callers on several threads, PutRecords on
// sender threads, flush_sync, blocking back-pressure, shutdown while callers
// are adding. Also run under ThreadSanitizer (label "concurrency").
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "rill/engine.hpp"
#include "rill/kpl.hpp"
#include "rill/producer.hpp"

namespace {

std::multiset<std::string> read_back(rill::engine& e) {
  std::multiset<std::string> out;
  auto shards = e.list_shards({.stream_name = "s"});
  EXPECT_TRUE(shards.ok());
  for (const auto& sh : shards->shards) {
    auto it = e.get_shard_iterator({.stream_name = "s",
                                    .shard_id = sh.shard_id.to_string(),
                                    .shard_iterator_type = rill::shard_iterator_type::trim_horizon});
    EXPECT_TRUE(it.ok());
    std::string iter = it->shard_iterator;
    for (;;) {
      auto got = e.get_records({.shard_iterator = iter});
      EXPECT_TRUE(got.ok());
      if (!got.ok()) break;
      if (got->records.empty() && got->millis_behind_latest == 0) break;
      for (const auto& r : got->records) {
        auto d = rill::kpl::deaggregate(r, sh.hash_key_range);
        EXPECT_TRUE(d.out_of_range.empty());
        EXPECT_NE(d.format, rill::kpl::record_format::checksum_mismatch);
        for (const auto& u : d.records) out.insert(std::string(u.data));
      }
      if (!got->next_shard_iterator) break;
      iter = *got->next_shard_iterator;
    }
  }
  return out;
}

TEST(ProducerConcurrency, ManyCallersOnTheSystemClockLoseAndDuplicateNothing) {
  rill::engine e;
  ASSERT_TRUE(e.create_stream({.stream_name = "s", .shard_count = 4}).ok());
  rill::producer_configuration c;
  c.clock = std::shared_ptr<rill::clock>(&e.clock(), [](rill::clock*) {});
  c.metrics = e.metrics();
  c.record_max_buffered_time = 20;
  c.max_outstanding_records = 500;  // blocking back-pressure engages
  c.max_connections = 4;
  rill::producer p(e, c);
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2500; ++i) {
        std::string data = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = p.add_user_record({.stream_name = "s", .partition_key = data, .data = data},
                                   [&](const rill::user_record_result& res) { res.successful ? ++ok : ++failed; });
        ASSERT_TRUE(r.ok()) << r.error();
        EXPECT_LE(p.outstanding_records_count(), 500u + 4u);
        if (i % 1000 == 999) p.flush();
      }
    });
  }
  for (auto& t : threads) t.join();
  p.flush_sync();
  EXPECT_EQ(p.outstanding_records_count(), 0u);
  EXPECT_EQ(ok.load(), 10000);
  EXPECT_EQ(failed.load(), 0);
  auto got = read_back(e);
  EXPECT_EQ(got.size(), 10000u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), 10000u);
}

TEST(ProducerConcurrency, ShutdownWhileCallersAddFinishesEveryAcceptedRecord) {
  rill::engine e;
  ASSERT_TRUE(e.create_stream({.stream_name = "s", .shard_count = 2}).ok());
  rill::producer_configuration c;
  c.clock = std::shared_ptr<rill::clock>(&e.clock(), [](rill::clock*) {});
  c.record_max_buffered_time = 50;
  std::atomic<int> accepted{0}, finished{0}, refused{0};
  {
    rill::producer p(e, c);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; !stop.load() || i < 100; ++i) {
          std::string data = std::to_string(t) + ":" + std::to_string(i);
          auto r = p.add_user_record({.stream_name = "s", .partition_key = data, .data = data},
                                     [&](const rill::user_record_result&) { ++finished; });
          if (r.ok()) {
            ++accepted;
          } else {
            EXPECT_EQ(r.error().code(), rill::error_code::resource_in_use_exception);
            ++refused;
            return;
          }
        }
      });
    }
    while (accepted.load() < 3000) std::this_thread::yield();
    p.shutdown();
    stop = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(p.outstanding_records_count(), 0u);
  }
  EXPECT_EQ(finished.load(), accepted.load());
  EXPECT_EQ(refused.load(), 3);
}

}  // namespace
