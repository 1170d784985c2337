// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Conformance tests seeded from bugs that users reported against other Kinesis
// implementations (kinesalite, kinesis-mock, localstack). Each test is named
// after the behaviour it pins; the comment names the bug it guards against.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

hash_key mid(const shard& s) {
  auto lo = s.hash_key_range.starting_hash_key.value();
  auto hi = s.hash_key_range.ending_hash_key.value();
  return hash_key(lo + (hi - lo) / 2 + 1);
}

// Bug: mocks let a shard be split twice, leaving two sets of open children.
TEST(Conformance, SplittingAClosedShardAgainIsRefused) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto parent = s.shards()[0];
  s.split(shard_id(0), mid(parent));
  auto again = e->split_shard(
      {.stream_name = "s", .shard_to_split = "shardId-000000000000", .new_starting_hash_key = mid(parent).to_string()});
  RILL_EXPECT_ERROR(again, error_code::resource_in_use_exception);
  EXPECT_EQ(again.error().message(),
            "Shard shardId-000000000000 in stream s under account 000000000000 has already been merged or split, and "
            "thus is not eligible for splitting.");
  EXPECT_EQ(s.open_shards().size(), 2u);
}

// Bug: the children of a split got each other's hash ranges.
TEST(Conformance, SplitChildrenTakeLowerThenUpperRange) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const hash_key k(1000);
  s.split(shard_id(0), k);
  auto shards = s.shards();
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(shards[1].hash_key_range, (hash_key_range{hash_key(0), hash_key(999)}));
  EXPECT_EQ(shards[2].hash_key_range, (hash_key_range{hash_key(1000), hash_key::max()}));
  EXPECT_EQ(s.put_hash(hash_key(999), "x").shard_id, shard_id(1));
  EXPECT_EQ(s.put_hash(hash_key(1000), "x").shard_id, shard_id(2));
}

// Bug: NextShardIterator never went null at the end of a drained closed shard,
// so readers could not move on to the children.
TEST(Conformance, ReaderOfAClosedShardGetsNullIteratorAndChildrenAtTheEnd) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 5; ++i) s.put_hash(hash_key(7), std::to_string(i));
  auto it = s.iterator(shard_id(0));
  s.split(shard_id(0), hash_key(1ULL << 62));
  int calls = 0;
  std::vector<std::string> seen;
  std::optional<std::string> next = it;
  get_records_result last;
  while (next) {
    auto r = e->get_records({.shard_iterator = *next, .limit = 2});
    RILL_ASSERT_OK(r);
    for (auto& rec : r->records) seen.emplace_back(rec.data);
    EXPECT_EQ(r->child_shards.empty(), r->next_shard_iterator.has_value());
    next = r->next_shard_iterator;
    last = *r;
    ASSERT_LT(++calls, 10) << "the iterator never ended";
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
  ASSERT_EQ(last.child_shards.size(), 2u);
  EXPECT_EQ(last.child_shards[0].shard_id, shard_id(1));
  EXPECT_EQ(last.child_shards[1].shard_id, shard_id(2));
  EXPECT_EQ(last.child_shards[0].parent_shards, std::vector<shard_id>{shard_id(0)});
}

TEST(Conformance, IteratorAtEndingSequenceNumberOfAClosedShardIsAtItsEnd) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put_hash(hash_key(7), "a");
  s.split(shard_id(0), hash_key(1ULL << 62));
  auto end = s.shards()[0].sequence_number_range.ending_sequence_number;
  ASSERT_TRUE(end);
  auto r = e->get_records(
      {.shard_iterator = s.iterator(shard_id(0), shard_iterator_type::at_sequence_number, end->to_string())});
  RILL_ASSERT_OK(r);
  EXPECT_TRUE(r->records.empty());
  EXPECT_FALSE(r->next_shard_iterator);
  EXPECT_EQ(r->child_shards.size(), 2u);
}

TEST(Conformance, OpenShardAlwaysHasANextIterator) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
  RILL_ASSERT_OK(r);
  EXPECT_TRUE(r->records.empty());
  EXPECT_TRUE(r->next_shard_iterator);
  EXPECT_TRUE(r->child_shards.empty());
}

// Bug: AT_TIMESTAMP was ignored or returned records before the timestamp.
TEST(Conformance, AtTimestampStartsAtTheFirstRecordArrivedAtOrAfterIt) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const timestamp t0 = e.clock->now();
  s.put("k", "a");
  e.clock->advance(10s);
  const timestamp t1 = e.clock->now();
  s.put("k", "b");
  e.clock->advance(10s);
  s.put("k", "c");
  auto read = [&](timestamp at) {
    auto r = e->get_records(
        {.shard_iterator = s.iterator(shard_id(0), shard_iterator_type::at_timestamp, std::nullopt, at)});
    EXPECT_TRUE(r.ok());
    std::vector<std::string> out;
    for (auto& rec : r->records) out.emplace_back(rec.data);
    return out;
  };
  EXPECT_EQ(read(t0 - 1h), (std::vector<std::string>{"a", "b", "c"}));  // before everything: the trim horizon
  EXPECT_EQ(read(t0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(read(t0 + 1ms), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(read(t1), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(read(e.clock->now()), (std::vector<std::string>{"c"}));
  auto future = e->get_shard_iterator({.stream_name = "s",
                                       .shard_id = "shardId-000000000000",
                                       .shard_iterator_type = shard_iterator_type::at_timestamp,
                                       .timestamp = e.clock->now() + 1ms});
  RILL_EXPECT_ERROR(future, error_code::invalid_argument_exception);
}

// Bug: AFTER_SEQUENCE_NUMBER returned the record at the number itself.
TEST(Conformance, AfterSequenceNumberReturnsTheNextRecordAndAtReturnsTheSame) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<put_record_result> puts;
  for (int i = 0; i < 5; ++i) {
    puts.push_back(s.put("k", std::to_string(i)));
    if (i == 2) e.clock->advance(3s);  // numbers with different seq times
  }
  for (int i = 0; i < 5; ++i) {
    const auto seq = puts[static_cast<std::size_t>(i)].sequence_number.to_string();
    auto at = e->get_records(
        {.shard_iterator = s.iterator(shard_id(0), shard_iterator_type::at_sequence_number, seq), .limit = 1});
    RILL_ASSERT_OK(at);
    ASSERT_EQ(at->records.size(), 1u);
    EXPECT_EQ(at->records[0].data, std::to_string(i));
    auto after = e->get_records(
        {.shard_iterator = s.iterator(shard_id(0), shard_iterator_type::after_sequence_number, seq), .limit = 1});
    RILL_ASSERT_OK(after);
    if (i < 4) {
      ASSERT_EQ(after->records.size(), 1u);
      EXPECT_EQ(after->records[0].data, std::to_string(i + 1));
    } else {
      EXPECT_TRUE(after->records.empty());
    }
  }
}

TEST(Conformance, StartingSequenceNumberPrecedesTheFirstRecord) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "first");
  auto start = s.shards()[0].sequence_number_range.starting_sequence_number.to_string();
  for (auto type : {shard_iterator_type::at_sequence_number, shard_iterator_type::after_sequence_number}) {
    auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0), type, start)});
    RILL_ASSERT_OK(r);
    ASSERT_EQ(r->records.size(), 1u) << to_string(type);
    EXPECT_EQ(r->records[0].data, "first");
  }
}

TEST(Conformance, LatestSeesOnlyRecordsPutAfterIt) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "old");
  auto it = s.iterator(shard_id(0), shard_iterator_type::latest);
  s.put("k", "new");
  auto r = e->get_records({.shard_iterator = it});
  RILL_ASSERT_OK(r);
  ASSERT_EQ(r->records.size(), 1u);
  EXPECT_EQ(r->records[0].data, "new");
}

// Bug: ExclusiveStartShardId was ignored, so pagination looped forever.
TEST(Conformance, ExclusiveStartShardIdIsHonoured) {
  test_engine e;
  stream_builder s(*e, "s", 5);
  auto d = e->describe_stream({.stream_name = "s", .exclusive_start_shard_id = "shardId-000000000001"});
  RILL_ASSERT_OK(d);
  ASSERT_EQ(d->stream_description.shards.size(), 3u);
  EXPECT_EQ(d->stream_description.shards[0].shard_id, shard_id(2));
  auto l = e->list_shards({.stream_name = "s", .exclusive_start_shard_id = "shardId-000000000003"});
  RILL_ASSERT_OK(l);
  ASSERT_EQ(l->shards.size(), 1u);
  EXPECT_EQ(l->shards[0].shard_id, shard_id(4));
}

TEST(Conformance, DescribeStreamPaginatesWithLimitAndHasMoreShards) {
  test_engine e;
  stream_builder s(*e, "s", 7);
  std::vector<shard_id> seen;
  std::optional<std::string> after;
  for (int page = 0; page < 10; ++page) {
    auto d = e->describe_stream({.stream_name = "s", .limit = 3, .exclusive_start_shard_id = after});
    RILL_ASSERT_OK(d);
    for (auto& sh : d->stream_description.shards) seen.push_back(sh.shard_id);
    if (!d->stream_description.has_more_shards) break;
    after = d->stream_description.shards.back().shard_id.to_string();
  }
  ASSERT_EQ(seen.size(), 7u);
  for (std::uint32_t i = 0; i < 7; ++i) EXPECT_EQ(seen[i], shard_id(i));
}

TEST(Conformance, ListShardsPaginatesWithNextTokenThatExpires) {
  test_engine e;
  stream_builder s(*e, "s", 5);
  auto first = e->list_shards({.stream_name = "s", .max_results = 2});
  RILL_ASSERT_OK(first);
  ASSERT_EQ(first->shards.size(), 2u);
  ASSERT_TRUE(first->next_token);
  auto second = e->list_shards({.next_token = first->next_token, .max_results = 2});
  RILL_ASSERT_OK(second);
  ASSERT_EQ(second->shards.size(), 2u);
  EXPECT_EQ(second->shards[0].shard_id, shard_id(2));
  auto third = e->list_shards({.next_token = second->next_token, .max_results = 2});
  RILL_ASSERT_OK(third);
  ASSERT_EQ(third->shards.size(), 1u);
  EXPECT_FALSE(third->next_token);
  e.clock->advance(301s);
  RILL_EXPECT_ERROR(e->list_shards({.next_token = first->next_token}), error_code::expired_next_token_exception);
  RILL_EXPECT_ERROR(e->list_shards({.stream_name = "s", .next_token = first->next_token}),
                    error_code::invalid_argument_exception);
}

// Bug: UpdateShardCount lost lineage (new shards without parents) and counted
// closed shards as current.
TEST(Conformance, UpdateShardCountKeepsLineageAndCountsOnlyOpenShards) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  s.split(shard_id(0), mid(s.shards()[0]));  // 3 open, 1 closed
  auto r = e->update_shard_count({.stream_name = "s", .target_shard_count = 4});
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->current_shard_count, 3);
  EXPECT_EQ(r->target_shard_count, 4);
  auto open = s.open_shards();
  ASSERT_EQ(open.size(), 4u);
  // Uniform: the same layout a new 4-shard stream gets.
  test_engine fresh;
  stream_builder ref(*fresh, "ref", 4);
  auto want = ref.shards();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(open[i].hash_key_range, want[i].hash_key_range) << i;
  // Every shard but the originals has a parent that is listed and closed.
  auto all = s.shards();
  for (const auto& sh : all) {
    if (sh.shard_id.index() < 2) continue;
    ASSERT_TRUE(sh.parent_shard_id) << sh.shard_id;
    auto parent =
        std::find_if(all.begin(), all.end(), [&](const shard& x) { return x.shard_id == *sh.parent_shard_id; });
    ASSERT_NE(parent, all.end());
    EXPECT_TRUE(parent->sequence_number_range.ending_sequence_number);
  }
  auto summary = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(summary);
  EXPECT_EQ(summary->stream_description_summary.open_shard_count, 4);
}

TEST(Conformance, UpdateShardCountRefusesMoreThanDoubleOrLessThanHalf) {
  test_engine e;
  stream_builder s(*e, "s", 4);
  auto up = e->update_shard_count({.stream_name = "s", .target_shard_count = 9});
  RILL_EXPECT_ERROR(up, error_code::limit_exceeded_exception);
  EXPECT_EQ(up.error().message(),
            "UpdateShardCount cannot scale up over double your current open shard count. Current open shard count: 4, "
            "Target shard count: 9");
  RILL_EXPECT_ERROR(e->update_shard_count({.stream_name = "s", .target_shard_count = 1}),
                    error_code::limit_exceeded_exception);
  RILL_ASSERT_OK(e->update_shard_count({.stream_name = "s", .target_shard_count = 2}));
  EXPECT_EQ(s.open_shards().size(), 2u);
}

// Bug: retention was never enforced; records lived forever.
TEST(Conformance, RecordsOlderThanRetentionAreUnreadableAndTrimHorizonMoves) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "old");
  e.clock->advance(12h);
  s.put("k", "young");
  e.clock->advance(12h);  // "old" is exactly 24 h old: expired
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"young"});
  e.clock->advance(12h - 1ms);
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"young"});
  e.clock->advance(1ms);
  EXPECT_TRUE(s.read_all(shard_id(0)).empty());
}

TEST(Conformance, IncreasingRetentionKeepsUnexpiredRecordsLonger) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "r");
  e.clock->advance(23h + 55min);
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 48}));
  e.clock->advance(1h);
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"r"});
  RILL_ASSERT_OK(e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = 24}));
  EXPECT_TRUE(s.read_all(shard_id(0)).empty());  // decrease takes effect at once
}

// Bug: closed shards never expired and stayed in ListShards forever.
TEST(Conformance, ClosedShardExpiresOnceRetentionHasPassedSinceItClosed) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put_hash(hash_key(1), "x");
  e.clock->advance(1h);
  s.split(shard_id(0), hash_key(1ULL << 40));
  EXPECT_EQ(s.shards().size(), 3u);
  e.clock->advance(24h - 1ms);
  EXPECT_EQ(s.shards().size(), 3u);
  auto it = s.iterator(shard_id(0));
  e.clock->advance(1ms);
  auto listed = s.shards();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].shard_id, shard_id(1));
  // The children still name their (expired) parent.
  EXPECT_EQ(listed[0].parent_shard_id, shard_id(0));
  RILL_EXPECT_ERROR(e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-000000000000"}),
                    error_code::resource_not_found_exception);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::resource_not_found_exception);
  auto d = e->describe_stream({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description.shards.size(), 2u);
}

// Bug: GetRecords handed back the same iterator, which then expired under a
// reader that was keeping up.
TEST(Conformance, GetRecordsReturnsAFreshIteratorEachCall) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto it = s.iterator(shard_id(0));
  std::string current = it;
  for (int i = 0; i < 5; ++i) {
    e.clock->advance(200s);  // each iterator lives 300 s: only fresh ones survive
    s.put("k", std::to_string(i));
    auto r = e->get_records({.shard_iterator = current});
    RILL_ASSERT_OK(r);
    ASSERT_EQ(r->records.size(), 1u);
    ASSERT_TRUE(r->next_shard_iterator);
    EXPECT_NE(*r->next_shard_iterator, current);
    current = *r->next_shard_iterator;
  }
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::expired_iterator_exception);
}

TEST(Conformance, IteratorsAreReusableUntilTheyExpireAfter300Seconds) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "a");
  s.put("k", "b");
  auto it = s.iterator(shard_id(0));
  for (int i = 0; i < 2; ++i) {
    auto r = e->get_records({.shard_iterator = it});
    RILL_ASSERT_OK(r);
    EXPECT_EQ(r->records.size(), 2u);
  }
  e.clock->advance(300s);
  RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));  // exactly 300 s: still valid
  e.clock->advance(1ms);
  auto expired = e->get_records({.shard_iterator = it});
  RILL_EXPECT_ERROR(expired, error_code::expired_iterator_exception);
  EXPECT_EQ(expired.error().message(),
            "Iterator expired. The iterator was created at time Mon Jan 01 00:00:00 UTC 2024 while right now it is "
            "Mon Jan 01 00:05:00 UTC 2024 which is further in the future than the tolerated delay of 300000 "
            "milliseconds.");
}

TEST(Conformance, ForgedForeignAndGarbageIteratorsAreRejected) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "secret");
  auto it = s.iterator(shard_id(0));
  // Altered: flip one character of the payload.
  std::string forged = it;
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  auto r = e->get_records({.shard_iterator = forged});
  RILL_EXPECT_ERROR(r, error_code::invalid_argument_exception);
  EXPECT_EQ(r.error().message(), "Invalid ShardIterator.");
  // Foreign: a token from another engine with a stream of the same name.
  test_engine other;
  stream_builder os(*other, "s", 1);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = os.iterator(shard_id(0))}),
                    error_code::invalid_argument_exception);
  for (const std::string& garbage : std::vector<std::string>{"x", "AAAA", "not an iterator", std::string(300, 'A')}) {
    RILL_EXPECT_ERROR(e->get_records({.shard_iterator = garbage}), error_code::invalid_argument_exception);
  }
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = std::string(513, 'A')}), error_code::validation_exception);
}

TEST(Conformance, IteratorOfADeletedAndRecreatedStreamIsRefused) {
  test_engine e;
  std::string it;
  {
    stream_builder s(*e, "s", 1);
    it = s.iterator(shard_id(0));
  }
  RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::resource_not_found_exception);
  stream_builder again(*e, "s", 1);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::resource_not_found_exception);
}

TEST(Conformance, SequenceNumberOfAnotherShardOrStreamIsDetected) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  auto p = s.put_hash(hash_key::max(), "x");  // shard 1
  ASSERT_EQ(p.shard_id, shard_id(1));
  auto wrong_shard = e->get_shard_iterator({.stream_name = "s",
                                            .shard_id = "shardId-000000000000",
                                            .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                            .starting_sequence_number = p.sequence_number.to_string()});
  RILL_EXPECT_ERROR(wrong_shard, error_code::invalid_argument_exception);
  EXPECT_EQ(wrong_shard.error().message(),
            "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used in a call to a shard "
            "with shardId-000000000000");
  e.clock->advance(5s);
  stream_builder t(*e, "t", 2);  // created at another second
  auto foreign = e->get_shard_iterator({.stream_name = "t",
                                        .shard_id = "shardId-000000000001",
                                        .shard_iterator_type = shard_iterator_type::after_sequence_number,
                                        .starting_sequence_number = p.sequence_number.to_string()});
  RILL_EXPECT_ERROR(foreign, error_code::invalid_argument_exception);
  EXPECT_NE(foreign.error().message().find("did not come from this stream"), std::string::npos);
}

TEST(Conformance, ChildSequenceNumbersExceedTheParents) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto before = s.put_hash(hash_key(3), "p");
  s.split(shard_id(0), hash_key(1ULL << 50));
  auto after = s.put_hash(hash_key(3), "c");
  EXPECT_LT(before.sequence_number, after.sequence_number);
  auto shards = s.shards();
  EXPECT_LT(*shards[0].sequence_number_range.ending_sequence_number,
            shards[1].sequence_number_range.starting_sequence_number);
  // Again within the same second, a grandchild still exceeds its parent.
  s.split(shard_id(1), hash_key(1ULL << 20));
  auto grand = s.put_hash(hash_key(3), "g");
  EXPECT_LT(after.sequence_number, grand.sequence_number);
}

TEST(Conformance, MergeNeedsAdjacentShardsInOrder) {
  test_engine e;
  stream_builder s(*e, "s", 3);
  auto bad = e->merge_shards({.stream_name = "s",
                              .shard_to_merge = "shardId-000000000000",
                              .adjacent_shard_to_merge = "shardId-000000000002"});
  RILL_EXPECT_ERROR(bad, error_code::invalid_argument_exception);
  EXPECT_EQ(bad.error().message(),
            "Shards shardId-000000000000 and shardId-000000000002 in stream s under account 000000000000 are not an "
            "adjacent pair of shards eligible for merging");
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "s",
                                     .shard_to_merge = "shardId-000000000001",
                                     .adjacent_shard_to_merge = "shardId-000000000000"}),
                    error_code::invalid_argument_exception);
  s.merge(shard_id(0), shard_id(1));
  auto shards = s.shards();
  ASSERT_EQ(shards.size(), 4u);
  EXPECT_EQ(shards[3].parent_shard_id, shard_id(0));
  EXPECT_EQ(shards[3].adjacent_parent_shard_id, shard_id(1));
  EXPECT_EQ(shards[3].hash_key_range.starting_hash_key, hash_key(0));
  EXPECT_EQ(shards[3].hash_key_range.ending_hash_key, shards[1].hash_key_range.ending_hash_key);
}

TEST(Conformance, ShardIdsAreNeverReused) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  s.merge(shard_id(0), shard_id(1));           // -> 2
  s.split(shard_id(2), hash_key(1ULL << 40));  // -> 3, 4
  e.clock->advance(25h);                       // 0, 1, 2 expire
  s.split(shard_id(3), hash_key(1ULL << 20));  // -> 5, 6
  auto shards = s.shards();
  std::vector<std::uint32_t> ids;
  for (auto& sh : shards) ids.push_back(sh.shard_id.index());
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{3, 4, 5, 6}));
}

TEST(Conformance, PutRecordsKeepsRequestOrderWithinAShardAndReportsPerEntry) {
  test_engine e;
  stream_builder s(*e, "s", 4);
  put_records_request req{.stream_name = "s"};
  std::vector<std::string> keys, data;
  for (int i = 0; i < 300; ++i) {
    keys.push_back("user-" + std::to_string(i % 17));
    data.push_back(std::to_string(i));
  }
  for (int i = 0; i < 300; ++i) req.records.push_back({.data = data[i], .partition_key = keys[i]});
  auto r = e->put_records(req);
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->failed_record_count, 0);
  ASSERT_EQ(r->records.size(), 300u);
  const auto ranges = s.shards();
  std::map<shard_id, sequence_number> last;
  for (int i = 0; i < 300; ++i) {
    const auto& entry = r->records[static_cast<std::size_t>(i)];
    EXPECT_TRUE(entry.ok());
    const hash_key h = hash_key::of_partition_key(keys[i]);
    const auto& home = *std::find_if(ranges.begin(), ranges.end(), [&](const shard& x) {
      return x.hash_key_range.starting_hash_key <= h && h <= x.hash_key_range.ending_hash_key;
    });
    EXPECT_EQ(entry.shard_id, home.shard_id);
    if (last.count(entry.shard_id)) EXPECT_LT(last[entry.shard_id], entry.sequence_number);
    last[entry.shard_id] = entry.sequence_number;
  }
  // Read back: per shard, in request order.
  std::size_t total = 0;
  for (std::uint32_t k = 0; k < 4; ++k) {
    auto got = s.read_all(shard_id(k));
    total += got.size();
    for (std::size_t j = 1; j < got.size(); ++j) EXPECT_LT(std::stoi(got[j - 1]), std::stoi(got[j]));
  }
  EXPECT_EQ(total, 300u);
}

TEST(Conformance, MillisBehindLatestMeasuresTheUnreadTail) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "a");
  e.clock->advance(5s);
  s.put("k", "b");
  e.clock->advance(2s);
  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0)), .limit = 1});
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->millis_behind_latest, 2000);  // "b" arrived 2 s ago and is unread
  auto caught_up = e->get_records({.shard_iterator = *r->next_shard_iterator});
  RILL_ASSERT_OK(caught_up);
  EXPECT_EQ(caught_up->millis_behind_latest, 0);
}

}  // namespace
}  // namespace rill::testing
