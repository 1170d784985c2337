// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Validation fidelity: where rill's answers to bad input must match the texts
// and the choices of Amazon Kinesis (as pinned by kinesalite's tests).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "builder.hpp"

namespace rill::testing {
namespace {

constexpr const char* kInvalidTagChars =
    "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.";

// Tag characters: AWS's set. Letters, digits, the plain space, _ . / = + - @
// (and % with its own message); tab, newline and other punctuation refused,
// in AddTagsToStream, CreateStream and RemoveTagsFromStream alike.
TEST(Fidelity, TagCharactersAreAwsSet) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::vector<std::string> bad = {"abc;def",
                                        "abc\tdef",
                                        "abc\ndef",
                                        "abc\rdef",
                                        "a:b",
                                        "a*b",
                                        "a,b",
                                        "a\x7f"
                                        "b",
                                        "a\xc2\xa0"
                                        "b" /* U+00A0 */,
                                        "a\xe2\x80\x94"
                                        "b" /* U+2014 */,
                                        "a\xf0\x9f\x98\x80"
                                        "b" /* U+1F600 */,
                                        "a\xff"
                                        "b"};
  for (const auto& b : bad) {
    SCOPED_TRACE(b);
    auto as_key = e->add_tags_to_stream({.stream_name = "s", .tags = {{b, "1"}}});
    RILL_EXPECT_ERROR(as_key, error_code::invalid_argument_exception);
    EXPECT_EQ(as_key.error().message(), kInvalidTagChars);
    auto as_value = e->add_tags_to_stream({.stream_name = "s", .tags = {{"k", b}}});
    RILL_EXPECT_ERROR(as_value, error_code::invalid_argument_exception);
    EXPECT_EQ(as_value.error().message(), kInvalidTagChars);
    auto removed = e->remove_tags_from_stream({.stream_name = "s", .tag_keys = {"ok", b}});
    RILL_EXPECT_ERROR(removed, error_code::invalid_argument_exception);
    EXPECT_EQ(removed.error().message(), kInvalidTagChars);
    const std::string name = "c" + std::to_string(&b - bad.data());
    auto created = e->create_stream({.stream_name = name, .shard_count = 1, .tags = {{"k", b}}});
    RILL_EXPECT_ERROR(created, error_code::invalid_argument_exception);
  }
  // Nothing was stored by the refused calls.
  auto none = e->list_tags_for_stream({.stream_name = "s"});
  RILL_ASSERT_OK(none);
  EXPECT_TRUE(none->tags.empty());

  const std::vector<std::string> good = {"Az09 _./=+-@", "Ünïcode", "\xe4\xb8\xad\xe6\x96\x87" /* 中文 */,
                                         "\xd0\x9a\xd0\xb8\xd1\x80" /* Кир */, "a b"};
  for (const auto& g : good) {
    SCOPED_TRACE(g);
    RILL_EXPECT_OK(e->add_tags_to_stream({.stream_name = "s", .tags = {{g, g}}}));
    RILL_EXPECT_OK(e->remove_tags_from_stream({.stream_name = "s", .tag_keys = {g}}));
  }
  auto pct = e->remove_tags_from_stream({.stream_name = "s", .tag_keys = {"a%b"}});
  RILL_EXPECT_ERROR(pct, error_code::invalid_argument_exception);
}

// The decimal form of a sequence number written as 47 hex digits.
std::string from_hex(const std::string& hex) {
  std::vector<unsigned> dec{0};  // little-endian decimal digits
  for (char c : hex) {
    unsigned carry = static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
    for (auto& d : dec) {
      const unsigned v = d * 16 + carry;
      d = v % 10;
      carry = v / 10;
    }
    while (carry != 0) {
      dec.push_back(carry % 10);
      carry /= 10;
    }
  }
  std::string out;
  for (auto it = dec.rbegin(); it != dec.rend(); ++it) out.push_back(static_cast<char>('0' + *it));
  return out;
}

// 47 hex digits: first digit 2, `version` last, everything else zero but the
// given (position, digit) pairs.
std::string layout(char version, std::vector<std::pair<std::size_t, char>> digits = {}, char first = '2') {
  std::string hex(47, '0');
  hex[0] = first;
  hex[46] = version;
  for (auto [pos, d] : digits) hex[pos] = d;
  return from_hex(hex);
}

// Class 1: the wrong shard's StartingSequenceNumber names the shard it encodes.
TEST(Fidelity, StartingSequenceNumberOfAnotherShardNamesIt) {
  test_engine e;
  stream_builder s(*e, "s", 6);
  const auto shards = s.shards();
  ASSERT_EQ(shards.size(), 6U);
  const std::string fifth = shards[5].sequence_number_range.starting_sequence_number.to_string();
  for (auto type : {shard_iterator_type::at_sequence_number, shard_iterator_type::after_sequence_number}) {
    auto it = e->get_shard_iterator({.stream_name = "s",
                                     .shard_id = "shardId-000000000000",
                                     .shard_iterator_type = type,
                                     .starting_sequence_number = fifth});
    RILL_EXPECT_ERROR(it, error_code::invalid_argument_exception);
    EXPECT_EQ(it.error().message(),
              "Invalid StartingSequenceNumber. It encodes shardId-000000000005, while it was used in a call to a shard "
              "with shardId-000000000000");
  }
  // A record's number used on another shard of the same stream, both ways.
  auto p = s.put_hash(hash_key(0), "x");
  auto it = e->get_shard_iterator({.stream_name = "s",
                                   .shard_id = "shardId-000000000003",
                                   .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                   .starting_sequence_number = p.sequence_number.to_string()});
  RILL_EXPECT_ERROR(it, error_code::invalid_argument_exception);
  EXPECT_EQ(it.error().message(), "Invalid StartingSequenceNumber. It encodes " + p.shard_id.to_string() +
                                      ", while it was used in a call to a shard with shardId-000000000003");
}

// SequenceNumberForOrdering: every value AWS accepts (both layout versions,
// edge values), and AWS's answers for the ones it refuses.
TEST(Fidelity, SequenceNumberForOrderingEdgeValues) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  auto put = [&](const std::string& seq) {
    return e->put_record({.stream_name = "s", .data = "x", .partition_key = "k", .sequence_number_for_ordering = seq});
  };
  auto p = s.put_hash(hash_key(0), "x");
  const std::vector<std::string> accepted = {
      layout('2'),                          // all fields zero, version 2
      layout('1'),                          // all fields zero, version 1
      layout('2', {{45, '8'}}),             // an 8 near the end
      layout('1', {{45, 'f'}, {44, 'f'}}),  // shard index digits
      layout('2', {{19, '8'}}),             // high index digit with time zero
      layout('2', {{11, '7'}, {38, '7'}, {1, 'f'}}),
      p.sequence_number.to_string(),
  };
  for (const auto& a : accepted) {
    SCOPED_TRACE(a);
    RILL_EXPECT_OK(put(a));
  }
  const std::vector<std::string> invalid = {
      layout('0'),                          // version 0
      layout('4'),                          // version 4
      layout('2', {}, '1'),                 // leading 1
      layout('2', {}, '3'),                 // leading 3
      from_hex(std::string(47, 'f')),       // all f
      layout('2', {{11, '8'}}),             // sequence index too high
      layout('2', {{38, '8'}}),             // shard index too high
      layout('2', {{29, '1'}}),             // byte before the time not zero
      layout('2', {{30, 'f'}, {31, 'f'}}),  // a time far in the future
      "1",
      from_hex("2" + std::string(47, '0') + "2"),  // 48 digits
  };
  for (const auto& b : invalid) {
    SCOPED_TRACE(b);
    auto r = put(b);
    RILL_EXPECT_ERROR(r, error_code::invalid_argument_exception);
    EXPECT_EQ(r.error().message(), "ExclusiveMinimumSequenceNumber " + b +
                                       " used in PutRecord on stream s under account 000000000000 is "
                                       "invalid.");
  }
  RILL_EXPECT_ERROR(put(layout('3')), error_code::internal_failure);
  RILL_EXPECT_ERROR(put(layout('2', {{19, '8'}, {37, '1'}})), error_code::internal_failure);
  // Only the accepted puts and the first record were stored.
  EXPECT_EQ(s.read_all(shard_id(0)).size(), accepted.size() + 1);
}

// Numeric members below their model minimum are ValidationExceptions before
// any semantic check (stream existence, the 24-hour floor), and combine with
// the stream name's errors.
TEST(Fidelity, RetentionBelowModelMinimumIsValidation) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int h : {0, -1, -2147483647 - 1}) {
    SCOPED_TRACE(h);
    const std::string expected = "1 validation error detected: Value '" + std::to_string(h) +
                                 "' at 'retentionPeriodHours' failed to satisfy constraint: Member must have value "
                                 "greater than or equal to 1";
    auto inc = e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = h});
    RILL_EXPECT_ERROR(inc, error_code::validation_exception);
    EXPECT_EQ(inc.error().message(), expected);
    auto dec = e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = h});
    RILL_EXPECT_ERROR(dec, error_code::validation_exception);
    EXPECT_EQ(dec.error().message(), expected);
    // Before the stream lookup: a missing stream still gets the validation error.
    auto missing = e->increase_stream_retention_period({.stream_name = "nope", .retention_period_hours = h});
    RILL_EXPECT_ERROR(missing, error_code::validation_exception);
    EXPECT_EQ(missing.error().message(), expected);
  }
  auto both = e->increase_stream_retention_period({.stream_name = "a b", .retention_period_hours = 0});
  RILL_EXPECT_ERROR(both, error_code::validation_exception);
  // The stream name's errors come last, as AWS lists them in every operation.
  EXPECT_EQ(both.error().message(),
            "2 validation errors detected: Value '0' at 'retentionPeriodHours' failed to satisfy constraint: Member "
            "must have value greater than or equal to 1; Value 'a b' at 'streamName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+");
  // 1..23 stays the semantic InvalidArgumentException.
  RILL_EXPECT_ERROR(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 1}),
                    error_code::invalid_argument_exception);
  auto d = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description_summary.retention_period_hours, 24);
}

constexpr const char* kNamePattern = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
constexpr const char* kMinLength1 = "Member must have length greater than or equal to 1";
constexpr const char* kMaxLength128 = "Member must have length less than or equal to 128";

std::string value_error(const std::string& value, const std::string& member, const std::string& constraint) {
  return "Value '" + value + "' at '" + member + "' failed to satisfy constraint: " + constraint;
}

std::string errors(const std::vector<std::string>& list) {
  std::string out =
      std::to_string(list.size()) + (list.size() == 1 ? " validation error" : " validation errors") + " detected: ";
  for (std::size_t i = 0; i < list.size(); ++i) out += (i > 0 ? "; " : "") + list[i];
  return out;
}

// An empty string fails its pattern and its minimum length; every member is
// checked, in the operation's order, the stream name last.
TEST(Fidelity, EmptyStringsFailPatternAndLengthInModelOrder) {
  test_engine e;
  auto it = e->get_shard_iterator({.stream_name = "",
                                   .shard_id = "",
                                   .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                   .starting_sequence_number = ""});
  RILL_EXPECT_ERROR(it, error_code::validation_exception);
  EXPECT_EQ(it.error().message(),
            errors({value_error("", "shardId", kNamePattern), value_error("", "shardId", kMinLength1),
                    value_error("", "startingSequenceNumber",
                                "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,128})"),
                    value_error("", "streamName", kNamePattern), value_error("", "streamName", kMinLength1)}));

  const std::string long_name(129, 'a');
  auto longer = e->get_shard_iterator({.stream_name = long_name, .shard_id = long_name});
  RILL_EXPECT_ERROR(longer, error_code::validation_exception);
  EXPECT_EQ(longer.error().message(), errors({value_error(long_name, "shardId", kMaxLength128),
                                              value_error(long_name, "streamName", kMaxLength128)}));

  auto merge = e->merge_shards({.stream_name = "", .shard_to_merge = "", .adjacent_shard_to_merge = ""});
  RILL_EXPECT_ERROR(merge, error_code::validation_exception);
  EXPECT_EQ(merge.error().message(),
            errors({value_error("", "shardToMerge", kNamePattern), value_error("", "shardToMerge", kMinLength1),
                    value_error("", "adjacentShardToMerge", kNamePattern),
                    value_error("", "adjacentShardToMerge", kMinLength1), value_error("", "streamName", kNamePattern),
                    value_error("", "streamName", kMinLength1)}));

  auto create = e->create_stream({.stream_name = "", .shard_count = 0});
  RILL_EXPECT_ERROR(create, error_code::validation_exception);
  EXPECT_EQ(create.error().message(),
            errors({"Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or "
                    "equal to 1",
                    value_error("", "streamName", kNamePattern), value_error("", "streamName", kMinLength1)}));

  // ShardCount's model minimum holds for ON_DEMAND too, before any semantic check.
  auto on_demand = e->create_stream(
      {.stream_name = "od", .shard_count = 0, .stream_mode_details = stream_mode_details{stream_mode::on_demand}});
  RILL_EXPECT_ERROR(on_demand, error_code::validation_exception);
  EXPECT_EQ(on_demand.error().message(),
            errors({"Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or "
                    "equal to 1"}));

  auto describe = e->describe_stream({.stream_name = "", .limit = 0, .exclusive_start_shard_id = ""});
  RILL_EXPECT_ERROR(describe, error_code::validation_exception);
  EXPECT_EQ(describe.error().message(),
            errors({"Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal "
                    "to 1",
                    value_error("", "exclusiveStartShardId", kNamePattern),
                    value_error("", "exclusiveStartShardId", kMinLength1), value_error("", "streamName", kNamePattern),
                    value_error("", "streamName", kMinLength1)}));

  // The data plane combines the stream name's errors with the records' too.
  put_records_request_entry entry{.data = "x", .partition_key = ""};
  auto puts = e->put_records({.stream_name = "", .records = {entry}});
  RILL_EXPECT_ERROR(puts, error_code::validation_exception);
  EXPECT_EQ(puts.error().message(),
            errors({value_error("", "records.1.member.partitionKey", kMinLength1),
                    value_error("", "streamName", kNamePattern), value_error("", "streamName", kMinLength1)}));
  auto empty = e->put_records({.stream_name = "", .records = {}});
  RILL_EXPECT_ERROR(empty, error_code::validation_exception);
  EXPECT_EQ(empty.error().message(),
            errors({value_error("[]", "records", kMinLength1), value_error("", "streamName", kNamePattern),
                    value_error("", "streamName", kMinLength1)}));
  auto put = e->put_record({.stream_name = "a b", .data = "x", .partition_key = ""});
  RILL_EXPECT_ERROR(put, error_code::validation_exception);
  EXPECT_EQ(put.error().message(),
            errors({value_error("", "partitionKey", kMinLength1), value_error("a b", "streamName", kNamePattern)}));

  // Numeric members below the model minimum, with the name's errors.
  auto shards = e->list_shards({.stream_name = "", .max_results = 0});
  RILL_EXPECT_ERROR(shards, error_code::validation_exception);
  EXPECT_EQ(shards.error().message().rfind("3 validation errors detected: Value '0' at 'maxResults'", 0), 0U)
      << shards.error().message();
  auto count = e->update_shard_count({.stream_name = "", .target_shard_count = 0});
  RILL_EXPECT_ERROR(count, error_code::validation_exception);
  EXPECT_EQ(count.error().message().rfind("3 validation errors detected: Value '0' at 'targetShardCount'", 0), 0U)
      << count.error().message();

  // UpdateStreamMode takes only the ARN: an empty one fails pattern and length.
  auto mode = e->update_stream_mode({.stream_arn = ""});
  RILL_EXPECT_ERROR(mode, error_code::validation_exception);
  EXPECT_EQ(
      mode.error().message(),
      errors({value_error("", "streamARN",
                          "Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"),
              value_error("", "streamARN", kMinLength1)}));
}

// At most ten failures are listed, and the count is the number listed.
TEST(Fidelity, AtMostTenValidationErrors) {
  test_engine e;
  std::vector<put_records_request_entry> entries(12, put_records_request_entry{.data = "x", .partition_key = ""});
  auto puts = e->put_records({.stream_name = "s", .records = entries});
  RILL_EXPECT_ERROR(puts, error_code::validation_exception);
  EXPECT_EQ(puts.error().message().rfind("10 validation errors detected: ", 0), 0U) << puts.error().message();
  EXPECT_EQ(puts.error().message().find("records.11.member"), std::string::npos);
}

// Over 500 entries: AWS prints the list as Java does (each entry's class and
// identity hash) and then lists the entries' own failures, 10 in all; the
// stream name's errors come after and are cut (kinesalite's test, pinned on AWS).
TEST(Fidelity, TooManyEntriesPrintsTheListAndTheEntries) {
  test_engine e;
  std::vector<put_records_request_entry> entries(501, put_records_request_entry{.data = "", .partition_key = ""});
  auto puts = e->put_records({.stream_name = "", .records = entries});
  RILL_EXPECT_ERROR(puts, error_code::validation_exception);
  const std::string& m = puts.error().message();
  EXPECT_EQ(
      m.rfind("10 validation errors detected: Value '[com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@", 0), 0U)
      << m.substr(0, 200);
  std::size_t entries_listed = 0;
  for (std::size_t at = m.find("PutRecordsRequestEntry@"); at != std::string::npos;
       at = m.find("PutRecordsRequestEntry@", at + 1)) {
    ++entries_listed;
  }
  EXPECT_EQ(entries_listed, 501U);
  EXPECT_NE(m.find("]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500; "
                   "Value '' at 'records.1.member.partitionKey' failed to satisfy constraint: Member must have length "
                   "greater than or equal to 1; Value '' at 'records.2.member.partitionKey'"),
            std::string::npos);
  EXPECT_EQ(m.find("streamName"), std::string::npos);
}

// Shard ids are resolved as AWS resolves them: the digits after the first '-'
// (or the whole id), 0..2147483647; a shard of a missing stream is reported
// as a missing shard.
TEST(Fidelity, ShardIdsResolvedAsAws) {
  test_engine e;
  const std::string account = e->options().account_id;
  for (const char* id : {"2147483647", "x-2147483647", "a-00002147483647", "-00002147483647"}) {
    SCOPED_TRACE(id);
    auto it = e->get_shard_iterator({.stream_name = "nope", .shard_id = id});
    RILL_EXPECT_ERROR(it, error_code::resource_not_found_exception);
    EXPECT_EQ(it.error().message(),
              "Shard shardId-002147483647 in stream nope under account " + account + " does not exist");
  }
  for (const char* id : {"2147483648", "shardId-002147483648", "ABKLFD8", "2.14E4"}) {
    SCOPED_TRACE(id);
    auto it = e->get_shard_iterator({.stream_name = "nope", .shard_id = id});
    RILL_EXPECT_ERROR(it, error_code::resource_not_found_exception);
    EXPECT_EQ(it.error().message(),
              std::string("Could not find shard ") + id + " in stream nope under account " + account + ".");
  }
  stream_builder s(*e, "s", 1);
  // An absent shard is reported before the sequence number is looked at.
  auto absent = e->get_shard_iterator({.stream_name = "s",
                                       .shard_id = "shardId-5",
                                       .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                       .starting_sequence_number = "5"});
  RILL_EXPECT_ERROR(absent, error_code::resource_not_found_exception);
  EXPECT_EQ(absent.error().message(),
            "Shard shardId-000000000005 in stream s under account " + account + " does not exist");
  auto latest_absent = e->get_shard_iterator({.stream_name = "s",
                                              .shard_id = "shardId-5",
                                              .shard_iterator_type = shard_iterator_type::latest,
                                              .starting_sequence_number = "5"});
  RILL_EXPECT_ERROR(latest_absent, error_code::resource_not_found_exception);
  for (const char* id : {"shard-0", "x7-0", "0", "shardId-000000000000"}) {
    SCOPED_TRACE(id);
    RILL_EXPECT_OK(e->get_shard_iterator({.stream_name = "s", .shard_id = id}));
  }
}

// A StartingSequenceNumber belongs only with AT_ and AFTER_SEQUENCE_NUMBER:
// TRIM_HORIZON, LATEST and AT_TIMESTAMP with one are refused, as the header says.
TEST(Fidelity, StartingSequenceNumberOnlyWithSequenceTypes) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string prefix =
      "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
      "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified ";
  for (auto type :
       {shard_iterator_type::trim_horizon, shard_iterator_type::latest, shard_iterator_type::at_timestamp}) {
    SCOPED_TRACE(std::string(to_string(type)));
    auto it = e->get_shard_iterator({.stream_name = "s",
                                     .shard_id = "shardId-0",
                                     .shard_iterator_type = type,
                                     .starting_sequence_number = "1",
                                     .timestamp = e.clock->now()});
    RILL_EXPECT_ERROR(it, error_code::invalid_argument_exception);
    EXPECT_EQ(it.error().message(), prefix + std::string(to_string(type)) + " and also a StartingSequenceNumber.");
  }
  auto missing = e->get_shard_iterator(
      {.stream_name = "s", .shard_id = "shardId-0", .shard_iterator_type = shard_iterator_type::after_sequence_number});
  RILL_EXPECT_ERROR(missing, error_code::invalid_argument_exception);
  EXPECT_EQ(missing.error().message(), prefix + "AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber.");
}

}  // namespace
}  // namespace rill::testing
