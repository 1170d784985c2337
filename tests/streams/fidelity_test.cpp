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
  EXPECT_EQ(both.error().message().rfind("2 validation errors detected: Value 'a b' at 'streamName'", 0), 0U)
      << both.error().message();
  EXPECT_NE(both.error().message().find("; Value '0' at 'retentionPeriodHours'"), std::string::npos)
      << both.error().message();
  // 1..23 stays the semantic InvalidArgumentException.
  RILL_EXPECT_ERROR(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 1}),
                    error_code::invalid_argument_exception);
  auto d = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description_summary.retention_period_hours, 24);
}

}  // namespace
}  // namespace rill::testing
