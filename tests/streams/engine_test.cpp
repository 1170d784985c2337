// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The basic life of a stream: create, put, read, split, merge, delete.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

TEST(Engine, PutThenGetReturnsTheRecordWithItsKeyAndArrival) {
  test_engine e;
  stream_builder s(*e, "clicks", 1);
  auto put = s.put("user-1", "hello");
  EXPECT_EQ(put.shard_id, shard_id(0));
  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
  RILL_ASSERT_OK(r);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0].data, "hello");
  EXPECT_EQ(r->records[0].partition_key, "user-1");
  EXPECT_EQ(r->records[0].sequence_number, put.sequence_number);
  EXPECT_EQ(r->records[0].approximate_arrival_timestamp, e.clock->now());
  EXPECT_TRUE(r->next_shard_iterator.has_value());
  EXPECT_EQ(r->millis_behind_latest, 0);
}

TEST(Engine, SequenceNumbersIncreaseWithinAShardAndRoundTripAsText) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  sequence_number last;
  for (int i = 0; i < 100; ++i) {
    auto p = s.put("k", std::to_string(i));
    EXPECT_GT(p.sequence_number, last);
    auto text = p.sequence_number.to_string();
    EXPECT_EQ(text.size(), 56u) << text;
    auto back = sequence_number::parse(text);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, p.sequence_number);
    last = p.sequence_number;
    if (i % 10 == 0) e.clock->advance(1100ms);
  }
}

TEST(Engine, SplitClosesParentAndRoutesNewRecordsToChildren) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put_hash(hash_key(5), "before");
  s.split(shard_id(0), hash_key(hash_key::max().value() / 2));
  auto shards = s.shards();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_TRUE(shards[0].sequence_number_range.ending_sequence_number.has_value());
  EXPECT_EQ(shards[1].parent_shard_id, shard_id(0));
  EXPECT_EQ(shards[2].parent_shard_id, shard_id(0));
  auto p = s.put_hash(hash_key(5), "after-low");
  EXPECT_EQ(p.shard_id, shard_id(1));
  auto q = s.put_hash(hash_key::max(), "after-high");
  EXPECT_EQ(q.shard_id, shard_id(2));
  EXPECT_GT(p.sequence_number.to_string(), shards[0].sequence_number_range.ending_sequence_number->to_string());
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"before"});
  EXPECT_EQ(s.read_all(shard_id(1)), std::vector<std::string>{"after-low"});
}

TEST(Engine, DrainedClosedShardEndsWithChildShardsAndNoIterator) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  s.put_hash(hash_key(1), "x");
  s.merge(shard_id(0), shard_id(1));
  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->records.size(), 1u);
  EXPECT_FALSE(r->next_shard_iterator.has_value());
  ASSERT_EQ(r->child_shards.size(), 1u);
  EXPECT_EQ(r->child_shards[0].shard_id, shard_id(2));
  EXPECT_EQ(r->child_shards[0].parent_shards, (std::vector<shard_id>{shard_id(0), shard_id(1)}));
}

TEST(Engine, DeleteThenRecreateGivesANewStream) {
  test_engine e;
  {
    stream_builder s(*e, "s", 1);
    s.put("a", "1");
  }
  RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));
  RILL_EXPECT_ERROR(e->describe_stream({.stream_name = "s"}), error_code::resource_not_found_exception);
  stream_builder again(*e, "s", 1);
  EXPECT_TRUE(again.read_all(shard_id(0)).empty());
}

}  // namespace
}  // namespace rill::testing
