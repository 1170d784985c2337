// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Hash keys, shard ids and sequence numbers against the worked examples of
// the reference (kinesis-data-streams.md §3, §4).
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "rill/types.hpp"
#include "seed.hpp"

namespace rill {
namespace {

// Decimal -> hex, for checking the sequence-number layout digit by digit.
std::string to_hex(const std::string& decimal) {
  std::vector<int> digits;  // base 16, least significant first
  for (char c : decimal) {
    int carry = c - '0';
    for (auto& d : digits) {
      int v = d * 10 + carry;
      d = v % 16;
      carry = v / 16;
    }
    while (carry) {
      digits.push_back(carry % 16);
      carry /= 16;
    }
  }
  std::string out;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out += "0123456789abcdef"[*it];
  return out.empty() ? "0" : out;
}

TEST(HashKey, Md5OfPartitionKeysMatchesTheReference) {
  EXPECT_EQ(hash_key::of_partition_key("a").to_string(), "16955237001963240173058271559858726497");
  EXPECT_EQ(hash_key::of_partition_key("b").to_string(), "195289424170611159128911017612795795343");
  EXPECT_EQ(hash_key::of_partition_key("c").to_string(), "99079589977253916124855502156832923443");
  EXPECT_EQ(hash_key::of_partition_key("e").to_string(), "299611584147932843547128611849858313266");
  EXPECT_EQ(hash_key::of_partition_key("f").to_string(), "190917122200326810055233066464581373159");
}

TEST(HashKey, ParsesOnlyCanonicalDecimalsUpTo2To128Minus1) {
  EXPECT_EQ(hash_key::parse("0"), hash_key(0));
  EXPECT_EQ(hash_key::parse("340282366920938463463374607431768211455"), hash_key::max());
  EXPECT_FALSE(hash_key::parse("340282366920938463463374607431768211456"));  // 2^128
  EXPECT_FALSE(hash_key::parse("999999999999999999999999999999999999999"));
  EXPECT_FALSE(hash_key::parse("1000000000000000000000000000000000000000"));  // 40 digits
  EXPECT_FALSE(hash_key::parse(""));
  EXPECT_FALSE(hash_key::parse("01"));
  EXPECT_FALSE(hash_key::parse("-1"));
  EXPECT_FALSE(hash_key::parse("1 "));
  EXPECT_EQ(hash_key::max().to_string(), "340282366920938463463374607431768211455");
}

TEST(ShardId, ParsesLikeKinesisAndPrintsTwelveDigits) {
  EXPECT_EQ(shard_id(0).to_string(), "shardId-000000000000");
  EXPECT_EQ(shard_id(123).to_string(), "shardId-000000000123");
  EXPECT_EQ(shard_id::parse("shardId-000000000005"), shard_id(5));
  EXPECT_EQ(shard_id::parse("shardId-5"), shard_id(5));
  EXPECT_EQ(shard_id::parse("5"), shard_id(5));
  EXPECT_EQ(shard_id::parse("foo-5"), shard_id(5));
  EXPECT_EQ(shard_id::parse("a-00002147483647"), shard_id(2147483647));
  EXPECT_FALSE(shard_id::parse("shardId-2147483648"));
  EXPECT_FALSE(shard_id::parse("shardId-"));
  EXPECT_FALSE(shard_id::parse("shardId-x"));
}

// Hex digits of a value given as (bit width, field) pairs, most significant first.
std::string layout_hex(const std::vector<std::pair<int, std::uint64_t>>& fields) {
  std::vector<int> bits;
  for (const auto& [width, v] : fields) {
    for (int b = width - 1; b >= 0; --b) bits.push_back(static_cast<int>((v >> b) & 1));
  }
  while (bits.size() % 4 != 0) bits.insert(bits.begin(), 0);
  std::string out;
  for (std::size_t i = 0; i < bits.size(); i += 4) {
    out += "0123456789abcdef"[bits[i] * 8 + bits[i + 1] * 4 + bits[i + 2] * 2 + bits[i + 3]];
  }
  const auto first = out.find_first_not_of('0');
  return first == std::string::npos ? "0" : out.substr(first);
}

// The decimal texts (common/decimal.hpp's limb division and digit writer)
// against an independent rendering: decimal -> hex by schoolbook arithmetic,
// compared with the hex of the fields laid out bit by bit.
TEST(DecimalText, SequenceNumbersAndHashKeysMatchAnIndependentRendering) {
  const std::uint64_t seed = testing::test_seed(20261130);
  std::mt19937_64 rng(seed);
  auto bits = [&](int n) { return n == 64 ? rng() : rng() & ((std::uint64_t{1} << n) - 1); };
  for (int i = 0; i < 2000; ++i) {
    // Small and extreme values as well as random ones: leading zero limbs, carries.
    const int kind = i % 4;
    const std::uint64_t create = kind == 0 ? 0 : bits(33) % (sequence_number::max_create_seconds + 1);
    const auto shard = static_cast<std::uint32_t>(kind == 1 ? 0x7FFF'FFFFu : bits(31));  // parse() takes 0..2^31-1
    const std::uint64_t index = kind == 2 ? sequence_number::max_index : (kind == 0 ? bits(8) : bits(63));
    const std::uint64_t time = kind == 0 ? 0 : bits(35);
    const sequence_number s(create, shard, index, time);
    const std::string text = s.to_string();
    ASSERT_EQ(
        to_hex(text),
        layout_hex({{4, 2}, {36, create}, {4, shard & 0xF}, {64, index}, {8, 0}, {36, time}, {32, shard}, {4, 2}}))
        << text << " (seed " << seed << ")";
    ASSERT_EQ(sequence_number::parse(text), s) << text << " (seed " << seed << ")";

    const std::uint64_t hi = kind == 0 ? 0 : (kind == 1 ? ~std::uint64_t{0} : rng());
    const std::uint64_t lo = kind == 2 ? 0 : rng();
    const hash_key h((static_cast<hash_key::value_type>(hi) << 64) | lo);
    ASSERT_EQ(to_hex(h.to_string()), layout_hex({{64, hi}, {64, lo}})) << h.to_string() << " (seed " << seed << ")";
  }
}

TEST(SequenceNumber, StartingNumberOfShardZeroMatchesTheWorkedExample) {
  sequence_number s(1700000000, 0, 0, 1700000000);
  EXPECT_EQ(s.to_string(), "49646437577108476416916876405825929425585429676275269634");
  EXPECT_EQ(to_hex(s.to_string()), "206553f100000000000000000000006553f100000000002");
}

TEST(SequenceNumber, FieldsLandWhereTheLayoutPutsThem) {
  sequence_number s(1700000000, 3, 5, 1700000010);
  EXPECT_EQ(to_hex(s.to_string()), "206553f100300000000000000050006553f10a000000032");
}

TEST(SequenceNumber, StartingNumbersOfNeighbourShardsDifferBy16To36Plus16) {
  // 16^36 + 16 = 22300745198530623141535718272648361505980432.
  for (std::uint32_t i = 0; i + 1 < 16; ++i) {
    auto a = sequence_number(1700000000, i, 0, 1700000000).to_string();
    auto b = sequence_number(1700000000, i + 1, 0, 1700000000).to_string();
    // b - a, by long subtraction on equal-length decimals.
    ASSERT_EQ(a.size(), b.size());
    std::string diff(a.size(), '0');
    int borrow = 0;
    for (std::size_t k = a.size(); k-- > 0;) {
      int v = (b[k] - '0') - (a[k] - '0') - borrow;
      borrow = v < 0;
      diff[k] = static_cast<char>('0' + (v + 10) % 10);
    }
    diff.erase(0, diff.find_first_not_of('0'));
    EXPECT_EQ(diff, "22300745198530623141535718272648361505980432") << i;
  }
}

TEST(SequenceNumber, DecodesARealAwsNumber) {
  auto s = sequence_number::parse("49594189147623985939251953501666965394405037144469929986");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->shard(), shard_id(0));
  EXPECT_EQ(s->seq_index(), 0xc3u);
  EXPECT_EQ(s->shard_create_seconds(), 1553568712u);  // 2019-03-26 02:51:52 UTC
  EXPECT_EQ(s->seq_time_seconds(), 1553568712u + 23);
  EXPECT_EQ(s->to_string(), "49594189147623985939251953501666965394405037144469929986");
}

TEST(SequenceNumber, MatchesTheKinesaliteTesterPattern) {
  for (std::uint32_t ix = 0; ix < 10; ++ix) {
    auto hex = to_hex(sequence_number(1704067200, ix, 12345, 1704067260).to_string());
    ASSERT_EQ(hex.size(), 47u);
    EXPECT_EQ(hex.substr(0, 2), "20");
    EXPECT_EQ(hex[10], static_cast<char>('0' + ix));
    EXPECT_EQ(hex.substr(27, 3), "000");
    EXPECT_EQ(hex.substr(38, 7), "0000000");
    EXPECT_EQ(hex[45], static_cast<char>('0' + ix));
    EXPECT_EQ(hex[46], '2');
  }
}

TEST(SequenceNumber, RefusesNumbersOutsideTheLayout) {
  EXPECT_FALSE(sequence_number::parse("0"));
  EXPECT_FALSE(sequence_number::parse(""));
  EXPECT_FALSE(sequence_number::parse("abc"));
  EXPECT_FALSE(sequence_number::parse("0123"));
  EXPECT_FALSE(sequence_number::parse(std::string(130, '9')));  // too many digits
  EXPECT_FALSE(sequence_number::parse(std::string(129, '9')));  // does not fit the layout
  // Versions other than 2 (last hex digit), a leading 1 or 3, an 8 in the seq index.
  auto good = sequence_number(1700000000, 3, 5, 1700000010).to_string();
  ASSERT_TRUE(sequence_number::parse(good));
  auto from_hex = [](const std::string& hex) {
    std::string dec = "0";
    for (char c : hex) {
      int v = (c >= 'a') ? c - 'a' + 10 : c - '0';
      int carry = v;
      for (std::size_t k = dec.size(); k-- > 0;) {
        int x = (dec[k] - '0') * 16 + carry;
        dec[k] = static_cast<char>('0' + x % 10);
        carry = x / 10;
      }
      while (carry) {
        dec.insert(dec.begin(), static_cast<char>('0' + carry % 10));
        carry /= 10;
      }
    }
    return dec;
  };
  const std::string hex = "206553f100300000000000000050006553f10a000000032";
  ASSERT_EQ(from_hex(hex), good);
  auto mutate = [&](std::size_t pos, char c) {
    std::string h = hex;
    h[pos] = c;
    return from_hex(h);
  };
  EXPECT_FALSE(sequence_number::parse(mutate(46, '3')));  // version 3
  EXPECT_FALSE(sequence_number::parse(mutate(0, '1')));   // leading 1
  EXPECT_FALSE(sequence_number::parse(mutate(0, '3')));   // leading 3
  EXPECT_FALSE(sequence_number::parse(mutate(11, '8')));  // seq index top bit
  EXPECT_FALSE(sequence_number::parse(mutate(10, '4')));  // index nibble disagrees with index
  EXPECT_TRUE(sequence_number::parse(mutate(36, '8')));   // an 8 in the seq time is fine
}

TEST(SequenceNumber, OrdersByIndexThenTimeWithinAShard) {
  sequence_number a(1700000000, 1, 5, 1700000100);
  sequence_number b(1700000000, 1, 6, 1700000000);
  sequence_number c(1700000000, 1, 6, 1700000001);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  // A child (created later) is above every number of its parent.
  sequence_number child(1700000001, 2, 1, 1700000001);
  sequence_number parent_end(1700000000, 1, sequence_number::max_index, 1700000000);
  EXPECT_LT(parent_end, child);
}

}  // namespace
}  // namespace rill
