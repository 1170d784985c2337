// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Bad input gets the Kinesis error name and an AWS-form message, and a
// rejected call changes nothing.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

// The number of records stored in every shard of a stream.
std::size_t stored(stream_builder& s) {
  std::size_t n = 0;
  for (const auto& sh : s.shards()) n += s.read_all(sh.shard_id).size();
  return n;
}

TEST(BadInput, StreamNames) {
  test_engine e;
  auto empty = e->create_stream({.stream_name = "", .shard_count = 1});
  RILL_EXPECT_ERROR(empty, error_code::validation_exception);
  EXPECT_EQ(empty.error().message(),
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: Member must satisfy "
            "regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1");
  auto long_name = e->create_stream({.stream_name = std::string(129, 'a'), .shard_count = 1});
  RILL_EXPECT_ERROR(long_name, error_code::validation_exception);
  EXPECT_NE(long_name.error().message().find("Member must have length less than or equal to 128"), std::string::npos);
  RILL_ASSERT_OK(e->create_stream({.stream_name = std::string(128, 'a'), .shard_count = 1}));
  auto bad_chars = e->create_stream({.stream_name = "has space", .shard_count = 1});
  RILL_EXPECT_ERROR(bad_chars, error_code::validation_exception);
  EXPECT_EQ(bad_chars.error().message(),
            "1 validation error detected: Value 'has space' at 'streamName' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
  RILL_ASSERT_OK(e->create_stream({.stream_name = "ok_name.with-dots", .shard_count = 1}));
  auto dup = e->create_stream({.stream_name = "ok_name.with-dots", .shard_count = 1});
  RILL_EXPECT_ERROR(dup, error_code::resource_in_use_exception);
  EXPECT_EQ(dup.error().message(), "Stream ok_name.with-dots under account 000000000000 already exists.");
  auto missing = e->describe_stream({.stream_name = "nope"});
  RILL_EXPECT_ERROR(missing, error_code::resource_not_found_exception);
  EXPECT_EQ(missing.error().message(), "Stream nope under account 000000000000 not found.");
  RILL_EXPECT_ERROR(e->describe_stream({}), error_code::invalid_argument_exception);
}

TEST(BadInput, StreamArns) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  RILL_ASSERT_OK(e->describe_stream({.stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s"}));
  RILL_ASSERT_OK(
      e->describe_stream({.stream_name = "s", .stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s"}));
  RILL_EXPECT_ERROR(
      e->describe_stream({.stream_name = "t", .stream_arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s"}),
      error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->describe_stream({.stream_arn = "arn:aws:kinesis:eu-west-1:000000000000:stream/s"}),
                    error_code::resource_not_found_exception);
  auto other_account = e->describe_stream({.stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/s"});
  RILL_EXPECT_ERROR(other_account, error_code::resource_not_found_exception);
  EXPECT_EQ(other_account.error().message(), "Stream s under account 123456789012 not found.");
  for (std::string bad :
       {"s", "arn:aws:kinesis:us-east-1:0000:stream/s", "arn:aws:sqs:us-east-1:000000000000:stream/s",
        "arn:aws:kinesis:us-east-1:000000000000:stream/", "arn:aws:kinesis:us-east-1:000000000000:stream/a b"}) {
    RILL_EXPECT_ERROR(e->describe_stream({.stream_arn = bad}), error_code::validation_exception);
  }
}

TEST(BadInput, ShardCounts) {
  test_engine e;
  auto zero = e->create_stream({.stream_name = "s", .shard_count = 0});
  RILL_EXPECT_ERROR(zero, error_code::validation_exception);
  EXPECT_EQ(
      zero.error().message(),
      "1 validation error detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value "
      "greater than or equal to 1");
  RILL_EXPECT_ERROR(e->create_stream({.stream_name = "s", .shard_count = -3}), error_code::validation_exception);
  RILL_EXPECT_ERROR(e->create_stream({.stream_name = "s", .shard_count = 100001}), error_code::validation_exception);
  auto none = e->create_stream({.stream_name = "s"});
  RILL_EXPECT_ERROR(none, error_code::validation_exception);
  EXPECT_EQ(none.error().message(),
            "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be "
            "null");
  // Every failed constraint is reported: the empty name fails its pattern and its length (as AWS answers).
  auto two = e->create_stream({.stream_name = "", .shard_count = 0});
  RILL_EXPECT_ERROR(two, error_code::validation_exception);
  EXPECT_EQ(two.error().message().rfind("3 validation errors detected: Value '0' at 'shardCount'", 0), 0u)
      << two.error();
  auto listed = e->list_streams({});
  RILL_ASSERT_OK(listed);
  EXPECT_TRUE(listed->stream_names.empty()) << "a refused create made a stream";
  RILL_EXPECT_ERROR(e->update_shard_count({.stream_name = "s", .target_shard_count = 0}),
                    error_code::validation_exception);
}

TEST(BadInput, PartitionKeysOf0And257Characters) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto empty = e->put_record({.stream_name = "s", .data = "x", .partition_key = ""});
  RILL_EXPECT_ERROR(empty, error_code::validation_exception);
  EXPECT_EQ(empty.error().message(),
            "1 validation error detected: Value '' at 'partitionKey' failed to satisfy constraint: Member must have "
            "length greater than or equal to 1");
  const std::string k257(257, 'k');
  auto long_key = e->put_record({.stream_name = "s", .data = "x", .partition_key = k257});
  RILL_EXPECT_ERROR(long_key, error_code::validation_exception);
  EXPECT_EQ(long_key.error().message(), "1 validation error detected: Value '" + k257 +
                                            "' at 'partitionKey' failed to satisfy constraint: Member must have "
                                            "length less than or equal to 256");
  const std::string k256(256, 'k');
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = k256}));
  // 256 characters of three UTF-8 bytes each is fine; 129 characters outside the BMP count 258.
  std::string bmp;
  for (int i = 0; i < 256; ++i) bmp += "\xe2\x82\xac";  // €
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = bmp}));
  std::string astral;
  for (int i = 0; i < 129; ++i) astral += "\xf0\x9f\x98\x80";  // 😀, two UTF-16 units
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "x", .partition_key = astral}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "x", .partition_key = "\xff\xfe"}),
                    error_code::validation_exception);
  EXPECT_EQ(stored(s), 2u);
}

TEST(BadInput, DataOver1MiB) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string big(1048577, 'd');
  auto r = e->put_record({.stream_name = "s", .data = big, .partition_key = "k"});
  RILL_EXPECT_ERROR(r, error_code::validation_exception);
  EXPECT_EQ(r.error().message(),
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' "
            "failed to satisfy constraint: Member must have length less than or equal to 1048576");
  // Data plus key over 1 MiB is refused too; exactly 1 MiB in all is fine.
  const std::string fits(1048576 - 3, 'd');
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = fits, .partition_key = "key"}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = fits, .partition_key = "keys"}),
                    error_code::validation_exception);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "", .partition_key = "k"}));  // empty data is allowed
  EXPECT_EQ(stored(s), 2u);
}

TEST(BadInput, PutRecordsOf0Or501EntriesOrOver5MiBAppendNothing) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  RILL_EXPECT_ERROR(e->put_records({.stream_name = "s"}), error_code::validation_exception);
  put_records_request many{.stream_name = "s"};
  for (int i = 0; i < 501; ++i) many.records.push_back({.data = "x", .partition_key = "k"});
  auto r501 = e->put_records(many);
  RILL_EXPECT_ERROR(r501, error_code::validation_exception);
  EXPECT_NE(r501.error().message().find("at 'records' failed to satisfy constraint: Member must have length less than "
                                        "or equal to 500"),
            std::string::npos);
  many.records.pop_back();
  RILL_ASSERT_OK(e->put_records(many));  // 500 is fine
  const std::string mib(1048000, 'd');
  put_records_request heavy{.stream_name = "s"};
  const std::vector<std::string> keys = {"k0", "k1", "k2", "k3", "k4", "k5"};  // views must outlive the call
  for (const auto& k : keys) heavy.records.push_back({.data = mib, .partition_key = k});
  auto big = e->put_records(heavy);
  RILL_EXPECT_ERROR(big, error_code::invalid_argument_exception);
  EXPECT_EQ(big.error().message(), "Records size exceeds 5 MB limit");
  // One bad entry anywhere fails the whole request, and names its 1-based position.
  put_records_request mixed{.stream_name = "s"};
  for (int i = 0; i < 10; ++i) mixed.records.push_back({.data = "x", .partition_key = i == 6 ? "" : "k"});
  auto m = e->put_records(mixed);
  RILL_EXPECT_ERROR(m, error_code::validation_exception);
  EXPECT_EQ(m.error().message(),
            "1 validation error detected: Value '' at 'records.7.member.partitionKey' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1");
  EXPECT_EQ(stored(s), 500u) << "a refused put_records appended something";
}

TEST(BadInput, ExplicitHashKeysAtOrAbove2To128) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  auto over = e->put_record({.stream_name = "s",
                             .data = "x",
                             .partition_key = "k",
                             .explicit_hash_key = "340282366920938463463374607431768211456"});
  RILL_EXPECT_ERROR(over, error_code::invalid_argument_exception);
  EXPECT_EQ(over.error().message(),
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was "
            "340282366920938463463374607431768211456");
  auto pattern = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k", .explicit_hash_key = "-1"});
  RILL_EXPECT_ERROR(pattern, error_code::validation_exception);
  EXPECT_EQ(pattern.error().message(),
            "1 validation error detected: Value '-1' at 'explicitHashKey' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: 0|([1-9]\\d{0,38})");
  auto max = e->put_record({.stream_name = "s",
                            .data = "x",
                            .partition_key = "k",
                            .explicit_hash_key = "340282366920938463463374607431768211455"});
  RILL_ASSERT_OK(max);
  EXPECT_EQ(max->shard_id, shard_id(1));
  // In put_records, one out-of-range key refuses the whole request.
  put_records_request req{.stream_name = "s"};
  req.records.push_back({.data = "a", .partition_key = "k"});
  req.records.push_back(
      {.data = "b", .partition_key = "k", .explicit_hash_key = "340282366920938463463374607431768211456"});
  RILL_EXPECT_ERROR(e->put_records(req), error_code::invalid_argument_exception);
  EXPECT_EQ(stored(s), 1u);
}

TEST(BadInput, MalformedAndForeignSequenceNumbers) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  auto p = s.put_hash(hash_key(0), "x");
  auto iter = [&](std::string seq, shard_iterator_type t = shard_iterator_type::at_sequence_number,
                  std::string shard = "shardId-000000000000") {
    return e->get_shard_iterator(
        {.stream_name = "s", .shard_id = shard, .shard_iterator_type = t, .starting_sequence_number = seq});
  };
  auto pattern = iter("12a");
  RILL_EXPECT_ERROR(pattern, error_code::validation_exception);
  auto invalid = iter("12345");
  RILL_EXPECT_ERROR(invalid, error_code::invalid_argument_exception);
  EXPECT_EQ(invalid.error().message(),
            "StartingSequenceNumber 12345 used in GetShardIterator on shard shardId-000000000000 in stream s under "
            "account 000000000000 is invalid.");
  RILL_EXPECT_ERROR(
      iter(p.sequence_number.to_string(), shard_iterator_type::at_sequence_number, "shardId-000000000001"),
      error_code::invalid_argument_exception);
  auto missing = e->get_shard_iterator({.stream_name = "s",
                                        .shard_id = "shardId-000000000000",
                                        .shard_iterator_type = shard_iterator_type::after_sequence_number});
  RILL_EXPECT_ERROR(missing, error_code::invalid_argument_exception);
  EXPECT_EQ(missing.error().message(),
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
            "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified AFTER_SEQUENCE_NUMBER and no "
            "StartingSequenceNumber.");
  auto extra = iter(p.sequence_number.to_string(), shard_iterator_type::latest);
  RILL_EXPECT_ERROR(extra, error_code::invalid_argument_exception);
  EXPECT_EQ(extra.error().message(),
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
            "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified LATEST and also a "
            "StartingSequenceNumber.");
  auto no_ts = e->get_shard_iterator({.stream_name = "s",
                                      .shard_id = "shardId-000000000000",
                                      .shard_iterator_type = shard_iterator_type::at_timestamp});
  RILL_EXPECT_ERROR(no_ts, error_code::invalid_argument_exception);
  EXPECT_EQ(no_ts.error().message(),
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no "
            "timestamp parameter.");
  // SequenceNumberForOrdering must be a valid number from the past.
  auto ordering =
      e->put_record({.stream_name = "s", .data = "x", .partition_key = "k", .sequence_number_for_ordering = "99"});
  RILL_EXPECT_ERROR(ordering, error_code::invalid_argument_exception);
  EXPECT_EQ(ordering.error().message(),
            "ExclusiveMinimumSequenceNumber 99 used in PutRecord on stream s under account 000000000000 is invalid.");
  const std::string previous = p.sequence_number.to_string();
  RILL_ASSERT_OK(
      e->put_record({.stream_name = "s", .data = "y", .partition_key = "k", .sequence_number_for_ordering = previous}));
}

TEST(BadInput, ShardIdsThatDoNotExist) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  auto no_shard = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-000000000005"});
  RILL_EXPECT_ERROR(no_shard, error_code::resource_not_found_exception);
  EXPECT_EQ(no_shard.error().message(),
            "Shard shardId-000000000005 in stream s under account 000000000000 does not exist");
  auto unparsable = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-abc"});
  RILL_EXPECT_ERROR(unparsable, error_code::resource_not_found_exception);
  EXPECT_EQ(unparsable.error().message(), "Could not find shard shardId-abc in stream s under account 000000000000.");
  RILL_EXPECT_ERROR(e->get_shard_iterator({.stream_name = "s", .shard_id = "bad id"}),
                    error_code::validation_exception);
  auto split =
      e->split_shard({.stream_name = "s", .shard_to_split = "shardId-000000000005", .new_starting_hash_key = "5"});
  RILL_EXPECT_ERROR(split, error_code::resource_not_found_exception);
  EXPECT_EQ(split.error().message(),
            "Could not find shard shardId-000000000005 in stream s under account 000000000000.");
}

TEST(BadInput, BadSplitKeys) {
  test_engine e;
  stream_builder s(*e, "s", 2);  // shard 0 is [0, 2^127 - 1]
  const std::string end0 = "170141183460469231731687303715884105727";
  for (const std::string& k : std::vector<std::string>{"0", "1", end0, "170141183460469231731687303715884105728"}) {
    auto r = e->split_shard({.stream_name = "s", .shard_to_split = "shardId-000000000000", .new_starting_hash_key = k});
    RILL_EXPECT_ERROR(r, error_code::invalid_argument_exception);
    EXPECT_EQ(r.error().message(),
              "NewStartingHashKey " + k +
                  " used in SplitShard() on shard shardId-000000000000 in stream s under account 000000000000 is not "
                  "both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey " +
                  end0 + ".");
  }
  RILL_EXPECT_ERROR(e->split_shard({.stream_name = "s", .shard_to_split = "0", .new_starting_hash_key = "x"}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->split_shard({.stream_name = "s",
                                    .shard_to_split = "0",
                                    .new_starting_hash_key = "340282366920938463463374607431768211456"}),
                    error_code::invalid_argument_exception);
  EXPECT_EQ(s.shards().size(), 2u);
  RILL_ASSERT_OK(e->split_shard({.stream_name = "s", .shard_to_split = "0", .new_starting_hash_key = "2"}));
  EXPECT_EQ(s.shards().size(), 4u);
}

TEST(BadInput, NonAdjacentAndClosedMerges) {
  test_engine e;
  stream_builder s(*e, "s", 4);
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "s", .shard_to_merge = "0", .adjacent_shard_to_merge = "2"}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "s", .shard_to_merge = "1", .adjacent_shard_to_merge = "1"}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "s", .shard_to_merge = "3", .adjacent_shard_to_merge = "9"}),
                    error_code::resource_not_found_exception);
  s.merge(shard_id(0), shard_id(1));
  auto closed = e->merge_shards({.stream_name = "s", .shard_to_merge = "1", .adjacent_shard_to_merge = "2"});
  RILL_EXPECT_ERROR(closed, error_code::resource_in_use_exception);
  EXPECT_EQ(closed.error().message(),
            "Shard shardId-000000000001 in stream s under account 000000000000 has already been merged or split, and "
            "thus is not eligible for merging.");
  EXPECT_EQ(s.shards().size(), 5u);
}

TEST(BadInput, RetentionOutOfRange) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto low = e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 23});
  RILL_EXPECT_ERROR(low, error_code::invalid_argument_exception);
  EXPECT_EQ(low.error().message(),
            "Minimum allowed retention period is 24 hours. Requested retention period (23 hours) is too short.");
  auto high = e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 8761});
  RILL_EXPECT_ERROR(high, error_code::invalid_argument_exception);
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 8760}));
  auto shorter = e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 100});
  RILL_EXPECT_ERROR(shorter, error_code::invalid_argument_exception);
  EXPECT_EQ(shorter.error().message(),
            "Requested retention period (100 hours) for stream s can not be shorter than existing retention period "
            "(8760 hours). Use DecreaseRetentionPeriod API.");
  RILL_ASSERT_OK(e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = 48}));
  auto longer = e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = 72});
  RILL_EXPECT_ERROR(longer, error_code::invalid_argument_exception);
  EXPECT_EQ(longer.error().message(),
            "Requested retention period (72 hours) for stream s can not be longer than existing retention period (48 "
            "hours). Use IncreaseRetentionPeriod API.");
  RILL_EXPECT_ERROR(e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = 0}),
                    error_code::validation_exception);
  auto d = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description_summary.retention_period_hours, 48);
}

TEST(BadInput, GetRecordsLimits) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto it = s.iterator(shard_id(0));
  auto zero = e->get_records({.shard_iterator = it, .limit = 0});
  RILL_EXPECT_ERROR(zero, error_code::validation_exception);
  EXPECT_EQ(zero.error().message(),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value "
            "greater than or equal to 1");
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it, .limit = 10001}), error_code::validation_exception);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = ""}), error_code::validation_exception);
}

TEST(BadInput, TagsWithBadCharactersOrSizes) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto bad = e->add_tags_to_stream({.stream_name = "s", .tags = {{"a*b", "v"}}});
  RILL_EXPECT_ERROR(bad, error_code::invalid_argument_exception);
  EXPECT_EQ(bad.error().message(),
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - "
            "% @.");
  auto percent = e->add_tags_to_stream({.stream_name = "s", .tags = {{"a%b", "v"}}});
  RILL_EXPECT_ERROR(percent, error_code::invalid_argument_exception);
  EXPECT_EQ(percent.error().message(),
            "Failed to add tags to stream s under account 000000000000 because some tags contained illegal characters. "
            "The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'.");
  RILL_EXPECT_ERROR(e->add_tags_to_stream({.stream_name = "s", .tags = {{std::string(129, 'k'), "v"}}}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->add_tags_to_stream({.stream_name = "s", .tags = {{"k", std::string(257, 'v')}}}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->add_tags_to_stream({.stream_name = "s"}), error_code::validation_exception);
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{"Ünïcode ok", "a/b=c+d-e@f.g_h"}}}));
  auto tags = e->list_tags_for_stream({.stream_name = "s"});
  RILL_ASSERT_OK(tags);
  EXPECT_EQ(tags->tags.size(), 1u);
}

TEST(BadInput, OperationsOnAStreamInTheWrongStatus) {
  engine_options o;
  o.update_stream_delay = 1s;
  test_engine e(o);
  stream_builder s(*e, "s", 2);
  RILL_ASSERT_OK(e->merge_shards({.stream_name = "s", .shard_to_merge = "0", .adjacent_shard_to_merge = "1"}));
  auto busy = e->split_shard({.stream_name = "s", .shard_to_split = "0", .new_starting_hash_key = "100"});
  RILL_EXPECT_ERROR(busy, error_code::resource_in_use_exception);
  EXPECT_EQ(busy.error().message(), "Stream s under account 000000000000 not ACTIVE, instead in state UPDATING");
  // Tags, retention and descriptions are allowed in any status.
  RILL_ASSERT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{"k", "v"}}}));
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 25}));
  e.clock->advance(1s);
  EXPECT_EQ(s.open_shards().size(), 1u);
}

TEST(BadInput, OnDemandStreamsRefuseManualResharding) {
  test_engine e;
  RILL_ASSERT_OK(
      e->create_stream({.stream_name = "od", .stream_mode_details = stream_mode_details{stream_mode::on_demand}}));
  auto l = e->list_shards({.stream_name = "od"});
  RILL_ASSERT_OK(l);
  EXPECT_EQ(l->shards.size(), 4u);
  RILL_EXPECT_ERROR(e->split_shard({.stream_name = "od", .shard_to_split = "0", .new_starting_hash_key = "100"}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->merge_shards({.stream_name = "od", .shard_to_merge = "0", .adjacent_shard_to_merge = "1"}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->update_shard_count({.stream_name = "od", .target_shard_count = 5}),
                    error_code::validation_exception);
}

TEST(BadInput, ListShardsArgumentCombinations) {
  test_engine e;
  stream_builder s(*e, "s", 3);
  auto neither = e->list_shards({});
  RILL_EXPECT_ERROR(neither, error_code::invalid_argument_exception);
  auto page = e->list_shards({.stream_name = "s", .max_results = 1});
  RILL_ASSERT_OK(page);
  ASSERT_TRUE(page->next_token);
  auto both = e->list_shards({.stream_name = "s", .next_token = page->next_token});
  RILL_EXPECT_ERROR(both, error_code::invalid_argument_exception);
  EXPECT_EQ(both.error().message(), "NextToken and StreamName cannot be provided together.");
  RILL_EXPECT_ERROR(e->list_shards({.next_token = page->next_token, .exclusive_start_shard_id = "0"}),
                    error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->list_shards({.next_token = "garbage"}), error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->list_shards({.stream_name = "s", .max_results = 0}), error_code::validation_exception);
  RILL_EXPECT_ERROR(
      e->list_shards({.stream_name = "s", .shard_filter = shard_filter{.type = shard_filter_type::after_shard_id}}),
      error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(
      e->list_shards({.stream_name = "s", .shard_filter = shard_filter{.type = shard_filter_type::at_timestamp}}),
      error_code::invalid_argument_exception);
  RILL_EXPECT_ERROR(e->list_shards({.stream_name = "s", .stream_creation_timestamp = e.clock->now() - 1s}),
                    error_code::resource_not_found_exception);
}

}  // namespace
}  // namespace rill::testing
