// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The shard_log contract, against the memory storage. Written against the
// interface only, so the file-backed storage can run the same tests.
#include <gtest/gtest.h>

#include "rill/storage.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;

const timestamp t0{std::chrono::milliseconds(1'704'067'200'000LL)};

std::unique_ptr<shard_log> new_log(memory_storage_options o = {}) {
  auto s = make_memory_storage(o);
  auto log = s->create_log({"s", 1, shard_id(0)});
  if (!log) throw std::runtime_error(log.error().to_string());
  return std::move(*log);
}

std::vector<log_record> read_all(const shard_log& log, std::uint64_t from = 0, std::size_t max_records = 1 << 30,
                                 std::size_t max_bytes = std::size_t{1} << 40, log_read_stats* stats = nullptr) {
  std::vector<log_record> out;
  static thread_local std::vector<std::string> store;  // views die with the batch: keep copies
  store.clear();
  auto s = log.read(from, max_records, max_bytes, [&](std::span<const log_record> batch) {
    for (const auto& r : batch) {
      store.emplace_back(r.partition_key);
      store.emplace_back(r.data);
      out.push_back(r);
    }
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].partition_key = store[2 * i];
    out[i].data = store[2 * i + 1];
  }
  if (stats) *stats = s;
  return out;
}

TEST(MemoryLog, AppendsInOrderAndReadsBackFromAnyOffset) {
  auto log = new_log();
  std::vector<std::string> data;
  for (int i = 0; i < 1000; ++i) data.push_back("record-" + std::to_string(i));
  std::vector<log_entry> batch;
  for (const auto& d : data) batch.push_back({"key", d});
  auto first = log->append(batch, t0);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 0u);
  EXPECT_EQ(log->end_offset(), 1000u);
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 1000u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].offset, i);
    EXPECT_EQ(all[i].data, data[i]);
    EXPECT_EQ(all[i].partition_key, "key");
    EXPECT_EQ(all[i].arrival, t0);
  }
  auto tail = read_all(*log, 990);
  ASSERT_EQ(tail.size(), 10u);
  EXPECT_EQ(tail[0].data, "record-990");
  EXPECT_TRUE(read_all(*log, 1000).empty());
  EXPECT_TRUE(read_all(*log, 5000).empty());
}

TEST(MemoryLog, ReadStopsAtRecordAndByteLimitsButAlwaysReturnsOne) {
  auto log = new_log();
  const std::string big(1000, 'b');
  std::vector<log_entry> batch(10, log_entry{"k", big});
  ASSERT_TRUE(log->append(batch, t0).ok());
  log_read_stats stats;
  EXPECT_EQ(read_all(*log, 0, 3, 1 << 30, &stats).size(), 3u);
  EXPECT_EQ(stats.next_offset, 3u);
  EXPECT_EQ(stats.bytes, 3u * 1001);
  EXPECT_EQ(read_all(*log, 0, 100, 2002).size(), 2u);  // exactly two fit
  EXPECT_EQ(read_all(*log, 0, 100, 2001).size(), 1u);
  EXPECT_EQ(read_all(*log, 0, 100, 10).size(), 1u);  // the first always comes
}

TEST(MemoryLog, ArrivalTimesFindOffsetsAndTrimDropsThePast) {
  auto log = new_log({.first_segment_bytes = 256, .segment_bytes = 1024});
  for (int minute = 0; minute < 60; ++minute) {
    std::vector<log_entry> batch(20, log_entry{"k", "0123456789"});
    ASSERT_TRUE(log->append(batch, t0 + std::chrono::minutes(minute)).ok());
  }
  EXPECT_EQ(log->offset_at_or_after(t0), 0u);
  EXPECT_EQ(log->offset_at_or_after(t0 + 30min), 600u);
  EXPECT_EQ(log->offset_at_or_after(t0 + 30min + 1ms), 620u);
  EXPECT_EQ(log->offset_at_or_after(t0 + 2h), 1200u);
  EXPECT_EQ(log->arrival_time(619), t0 + 30min);
  const auto before = log->memory_bytes();
  EXPECT_EQ(log->trim_before(t0 + 45min), 900u);
  EXPECT_EQ(log->start_offset(), 900u);
  EXPECT_LT(log->memory_bytes(), before / 2) << "whole segments released";
  auto rest = read_all(*log, 0);  // clamped to the start
  ASSERT_EQ(rest.size(), 300u);
  EXPECT_EQ(rest.front().offset, 900u);
  EXPECT_EQ(log->offset_at_or_after(t0), 900u);
  EXPECT_EQ(log->trim_before(t0), 900u) << "trimming never moves back";
}

TEST(MemoryLog, ARecordLargerThanASegmentGetsItsOwn) {
  auto log = new_log({.first_segment_bytes = 1024, .segment_bytes = 4096});
  const std::string mib(1 << 20, 'm');
  ASSERT_TRUE(log->append(std::vector<log_entry>{{"a", "small"}, {"b", mib}, {"c", "small"}}, t0).ok());
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].data.size(), mib.size());
  EXPECT_EQ(all[2].partition_key, "c");
}

TEST(MemoryLog, EmptyKeysAndDataRoundTrip) {
  auto log = new_log();
  ASSERT_TRUE(log->append(std::vector<log_entry>{{"k", ""}, {"", "d"}}, t0).ok());
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].data, "");
  EXPECT_EQ(all[1].partition_key, "");
}

TEST(MemoryLog, ReleasedSegmentsAreReusedAcrossShards) {
  auto storage = make_memory_storage({.first_segment_bytes = 4096, .segment_bytes = 4096, .pool_bytes = 1 << 20});
  auto a = std::move(*storage->create_log({"s", 1, shard_id(0)}));
  const std::string payload(100, 'x');
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(a->append(std::vector<log_entry>{{"k", payload}}, t0).ok());
  const auto held = a->memory_bytes();
  a.reset();  // its segments go to the pool
  auto b = std::move(*storage->create_log({"s", 1, shard_id(1)}));
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(b->append(std::vector<log_entry>{{"k", payload}}, t0).ok());
  EXPECT_EQ(b->memory_bytes(), held);
  auto all = read_all(*b);
  ASSERT_EQ(all.size(), 200u);
  EXPECT_EQ(all.back().data, payload);  // reused memory holds the new records
}

}  // namespace
}  // namespace rill
