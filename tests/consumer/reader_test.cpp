// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// stream_reader: lineage, expiry, the stop rule, tailing, paging, iterator renewal.
#include "rill/reader.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "rill/testing.hpp"
#include "seed.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::stream_builder;
using testing::test_engine;

std::vector<std::string> datas(const std::vector<owned_record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.data);
  return out;
}

// Every key's records in the order they were put, each once.
void expect_in_order_once(const std::vector<owned_record>& got, const std::map<std::string, int>& put_per_key) {
  std::map<std::string, int> next;
  for (const auto& r : got) {
    const int n = std::stoi(r.data);
    EXPECT_EQ(n, next[r.partition_key]) << r.partition_key;
    next[r.partition_key] = n + 1;
  }
  EXPECT_EQ(next, put_per_key);
}

TEST(StreamReader, ReadsParentsBeforeChildrenAcrossSplitsAndMerges) {
  const std::uint64_t seed = testing::test_seed(20261130);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 2);
  std::map<std::string, int> next;
  auto put_some = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::string key = "k" + std::to_string(rng() % 12);
      s.put(key, std::to_string(next[key]++));
    }
  };
  put_some(40);
  s.split_in_half(shard_id(0));  // 2, 3 from 0
  put_some(40);
  s.split_in_half(shard_id(1));  // 4, 5 from 1
  put_some(40);
  s.merge(shard_id(3), shard_id(4));  // 6 from 3 + 4
  put_some(40);
  stream_reader reader(*e, {.stream_name = "s"});
  EXPECT_FALSE(reader.done());
  auto got = reader.read_all();
  ASSERT_OK(got);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(got->size(), 160u);
  expect_in_order_once(*got, next);
  EXPECT_EQ(reader.finished_shards().size(), 7u);
  // Done: further calls return nothing.
  auto after = reader.next();
  ASSERT_OK(after);
  EXPECT_TRUE(after->records.empty());
}

TEST(StreamReader, BatchesComeFromOneShardAndAChildNeverBeforeItsParents) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 5; ++i) s.put("k", "p" + std::to_string(i));
  s.split_in_half(shard_id(0));
  for (int i = 0; i < 5; ++i) s.put("k", "c" + std::to_string(i));
  stream_reader reader(*e, {.stream_name = "s", .limit = 2});
  std::vector<shard_id> order;
  std::vector<std::string> all;
  while (!reader.done()) {
    auto b = reader.next();
    ASSERT_OK(b);
    if (!b->records.empty()) order.push_back(b->shard_id);
    for (auto& r : b->records) all.push_back(r.data);
  }
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.front(), shard_id(0));
  std::size_t first_child = 0;
  while (first_child < order.size() && order[first_child] == shard_id(0)) ++first_child;
  for (std::size_t i = first_child; i < order.size(); ++i) EXPECT_NE(order[i], shard_id(0));
  EXPECT_EQ(all, (std::vector<std::string>{"p0", "p1", "p2", "p3", "p4", "c0", "c1", "c2", "c3", "c4"}));
}

TEST(StreamReader, AnExpiredParentCountsAsDone) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "old");
  s.split_in_half(shard_id(0));
  e.advance(25h);  // the parent and its record expire
  s.put("k", "new");
  stream_reader reader(*e, {.stream_name = "s"});
  auto got = reader.read_all();
  ASSERT_OK(got);
  EXPECT_EQ(datas(*got), std::vector<std::string>{"new"});
}

TEST(StreamReader, TailModeKeepsReadingOpenShards) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  s.put("a", "1");
  stream_reader reader(*e, {.stream_name = "s", .read_mode = stream_reader_options::mode::tail});
  EXPECT_KINESIS_ERROR(reader.read_all(), error_code::invalid_argument_exception);
  std::vector<std::string> seen;
  auto drain = [&] {
    for (int i = 0; i < 6; ++i) {
      auto b = reader.next();
      ASSERT_OK(b);
      EXPECT_FALSE(b->shard_done);
      for (auto& r : b->records) seen.push_back(r.data);
    }
  };
  drain();
  EXPECT_EQ(seen, std::vector<std::string>{"1"});
  EXPECT_FALSE(reader.done());
  e.clock->sleep_for(1s);  // what a tailing consumer does between empty polls
  s.put("a", "2");
  s.put("b", "3");
  drain();
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_FALSE(reader.done());
}

TEST(StreamReader, LatestReadsOnlyWhatIsPutAfterTheFirstListing) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "before");
  s.split_in_half(shard_id(0));
  s.put("k", "before too");
  stream_reader reader(*e, {.stream_name = "s",
                            .starting_position = shard_iterator_type::latest,
                            .read_mode = stream_reader_options::mode::tail});
  for (int i = 0; i < 3; ++i) ASSERT_OK(reader.next());  // lists, takes LATEST iterators
  s.put("k", "after");
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    auto b = reader.next();
    ASSERT_OK(b);
    for (auto& r : b->records) seen.push_back(r.data);
  }
  EXPECT_EQ(seen, std::vector<std::string>{"after"});
}

TEST(StreamReader, PagesListShards) {
  test_engine e;
  stream_builder s(*e, "s", 5);
  for (int i = 0; i < 50; ++i) s.put("k" + std::to_string(i), std::to_string(i));
  stream_reader reader(*e, {.stream_name = "s", .list_shards_max_results = 2});
  auto got = reader.read_all();
  ASSERT_OK(got);
  EXPECT_EQ(got->size(), 50u);
  EXPECT_EQ(reader.finished_shards().size(), 5u);
}

TEST(StreamReader, RenewsAnExpiredIteratorAfterTheLastRecord) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 4; ++i) s.put("k", std::to_string(i));
  stream_reader reader(*e, {.stream_name = "s", .read_mode = stream_reader_options::mode::tail, .limit = 2});
  std::vector<std::string> seen;
  auto b = reader.next();
  ASSERT_OK(b);
  for (auto& r : b->records) seen.push_back(r.data);
  e.advance(6min);  // the iterator (300 s) expires
  for (int i = 0; i < 4; ++i) {
    b = reader.next();
    ASSERT_OK(b);
    for (auto& r : b->records) seen.push_back(r.data);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2", "3"}));
}

TEST(StreamReader, ErrorsOfTheServiceComeBackAndNothingIsLost) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 3; ++i) s.put("k", std::to_string(i));
  stream_reader missing(*e, {.stream_name = "nope"});
  EXPECT_KINESIS_ERROR(missing.next(), error_code::resource_not_found_exception);
  // Read throttling: 5 GetRecords calls per second per shard.
  ASSERT_OK(e->set_stream_throughput("s", {.enabled = true, .read_calls_per_second = 1}));
  stream_reader reader(*e, {.stream_name = "s", .limit = 1});
  std::vector<std::string> seen;
  int throttled = 0;
  while (!reader.done()) {
    auto b = reader.next();
    if (!b) {
      ASSERT_EQ(b.error().code(), error_code::provisioned_throughput_exceeded_exception) << b.error();
      ++throttled;
      e.clock->sleep_for(1s);
      continue;
    }
    for (auto& r : b->records) seen.push_back(r.data);
  }
  EXPECT_GT(throttled, 0);
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2"}));
}

}  // namespace
}  // namespace rill
