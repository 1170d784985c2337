// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Delivery streams on the system clock, from several threads at once: puts,
// flushes, describes and the scheduler's interval flushes race; every record
// arrives exactly once (no failures are injected, so no retry may duplicate).
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "helpers.hpp"

namespace rill::testing {
namespace {

TEST(DeliveryConcurrency, ConcurrentPutsFlushesAndIntervalTimersLoseNothing) {
  temp_dir dir;
  auto clock = std::make_shared<system_clock>();
  local_firehose f({.clock = clock, .s3_directory = dir.path});
  auto c = s3();
  c.buffering_hints = hints(1, 1);
  c.processing_configuration = delivery::processing_configuration{
      .enabled = true, .processors = {{.type = "AppendDelimiterToRecord", .parameters = {}}}};
  RILL_ASSERT_OK(f.create_delivery_stream({.delivery_stream_name = "s", .extended_s3_destination_configuration = c}));
  constexpr int kThreads = 4, kBatches = 60, kPerBatch = 50;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<std::string> data;
        for (int i = 0; i < kPerBatch; ++i)
          data.push_back("t" + std::to_string(t) + "-" + std::to_string(b * kPerBatch + i) + std::string(200, 'x'));
        std::vector<delivery::record> recs;
        for (auto& d : data) recs.push_back({d});
        auto r = f.put_record_batch({.delivery_stream_name = "s", .records = recs});
        ASSERT_TRUE(r.ok() && r->failed_put_count == 0);
      }
    });
  }
  std::thread other([&] {
    while (!done) {
      (void)f.flush("s");
      (void)f.describe_delivery_stream({.delivery_stream_name = "s"});
      (void)f.statistics("s");
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  other.join();
  RILL_ASSERT_OK(f.shutdown());
  std::multiset<std::string> got;
  for (const auto& [k, v] : read_tree(dir.path / "bucket"))
    for (const auto& l : lines(v)) got.insert(l.substr(0, l.find('x')));
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kThreads * kBatches * kPerBatch));
  for (const auto& g : got) ASSERT_EQ(got.count(g), 1u) << g;
  auto stats = *f.statistics("s");
  EXPECT_EQ(stats.delivered_records, kThreads * kBatches * kPerBatch);
  EXPECT_EQ(stats.pending_records, 0);
}

}  // namespace
}  // namespace rill::testing
