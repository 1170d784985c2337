// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The configuration languages: timestamp patterns, prefixes, the jq subset,
// base64 — and a seeded mutation test feeding each parser mutated text.
#include <gtest/gtest.h>

#include <random>

#include "delivery/compression.hpp"
#include "delivery/expressions.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
using namespace rill::delivery;

// 2018-08-27T10:30:05.123Z
const timestamp when{std::chrono::milliseconds(1'535'365'805'123)};

TEST(DeliveryExpressions, TimestampPatterns) {
  auto f = [](std::string_view p) { return time_pattern::parse(p).value().format(when); };
  EXPECT_EQ(f("yyyy/MM/dd/HH/"), "2018/08/27/10/");
  EXPECT_EQ(f("yy-M-d H:m:s.SSS"), "18-8-27 10:30:5.123");
  EXPECT_EQ(f("'year='yyyy' ''q'''"), "year=2018 'q'");
  EXPECT_FALSE(time_pattern::parse("yyyy-DDD").ok());
  EXPECT_FALSE(time_pattern::parse("'open").ok());
  EXPECT_FALSE(time_pattern::parse("MMM").ok());
}

TEST(DeliveryExpressions, PrefixEvaluation) {
  auto p = prefix::parse(
      "a/!{partitionKeyFromQuery:c}/!{timestamp:yyyy}/!{firehose:random-string}/"
      "!{firehose:error-output-type}",
      "Prefix");
  ASSERT_TRUE(p.ok()) << p.error();
  std::map<std::string, std::string> q{{"c", "42"}};
  prefix::context ctx{when, &q, nullptr, "processing-failed", [] { return std::string("rnd"); }};
  EXPECT_EQ(*p->evaluate(ctx), "a/42/2018/rnd/processing-failed");
  std::map<std::string, std::string> none;
  ctx.query_keys = &none;
  EXPECT_FALSE(p->evaluate(ctx).ok());
  auto lit = prefix::parse("just text/", "Prefix");
  EXPECT_FALSE(lit->has_expressions());
  auto longp = prefix::parse(std::string(513, 'x'), "Prefix");
  EXPECT_FALSE(longp->evaluate(ctx).ok()) << "over 512 characters after evaluation";
  EXPECT_FALSE(prefix::parse("a!{", "Prefix").ok());
  EXPECT_FALSE(prefix::parse("!{timestamp:!{timestamp:y}}", "Prefix").ok());
  EXPECT_FALSE(prefix::parse("!{partitionKeyFromLambda:}", "Prefix").ok());
}

TEST(DeliveryExpressions, JqSubset) {
  auto q = metadata_query::parse(R"({customer_id:.customer_id, device:.type.device, "x y":.a[1]."b c", n})");
  ASSERT_TRUE(q.ok()) << q.error();
  EXPECT_EQ(q->names(), (std::vector<std::string>{"customer_id", "device", "x y", "n"}));
  auto v = q->evaluate(R"({"customer_id":"c1","type":{"device":"web"},"a":[0,{"b c":true}],"n":3.5})");
  ASSERT_TRUE(v.ok()) << v.error();
  EXPECT_EQ((*v)["customer_id"], "c1");
  EXPECT_EQ((*v)["device"], "web");
  EXPECT_EQ((*v)["x y"], "true");
  EXPECT_EQ((*v)["n"], "3.5");
  EXPECT_FALSE(q->evaluate(R"({"customer_id":"c1"})").ok());
  EXPECT_FALSE(q->evaluate(R"({"customer_id":{"o":1},"type":{"device":"w"},"a":[0,{"b c":1}],"n":1})").ok());
  EXPECT_FALSE(q->evaluate("[1,2").ok());
  auto idx = metadata_query::parse(R"({k:.["a"][0]})");
  ASSERT_TRUE(idx.ok()) << idx.error();
  EXPECT_EQ((*idx->evaluate(R"({"a":["z"]})"))["k"], "z");
  for (const char* bad :
       {"", "{}", "{k:}", "{k:.a|tostring}", "{k:.a,}", "{k:.a} x", "k:.a", "{k:.a, k:.b}", "{k:.a[}", "{k:.[\"a]}"})
    EXPECT_FALSE(metadata_query::parse(bad).ok()) << bad;
}

TEST(DeliveryExpressions, Base64) {
  for (std::string s :
       std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\0\xff\x10", 3)})
    EXPECT_EQ(*base64_decode(base64_encode(s)), s);
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9").has_value());
  EXPECT_FALSE(base64_decode("Z=9v").has_value());
  EXPECT_FALSE(base64_decode("Zm9v!A==").has_value());
}

// Parsers of untrusted text: mutated inputs never crash, hang or throw.
TEST(DeliveryExpressions, MutationsNeverCrashTheParsers) {
  std::mt19937_64 rng(test_seed(41));
  const std::vector<std::string> seeds = {
      "myPrefix/year=!{timestamp:yyyy}/month=!{timestamp:MM}/!{firehose:random-string}/",
      "e/!{firehose:error-output-type}/!{timestamp:'q'yyyy''}/",
      "k=!{partitionKeyFromQuery:customer_id}/!{partitionKeyFromLambda:x}",
      R"({customer_id:.customer_id, device:.type.device, "x":.a[0]["b"]})",
      "Zm9vYmFy",
  };
  const std::string alphabet = "!{}:.[]\"'/\\ ,0123456789abcyMdHmsSZ=|\x00\xff";
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const auto at = s.empty() ? 0 : rng() % (s.size() + 1);
      switch (rng() % 4) {
        case 0: s.insert(s.begin() + static_cast<long>(at), alphabet[rng() % alphabet.size()]); break;
        case 1:
          if (at < s.size()) s.erase(at, 1 + rng() % 3);
          break;
        case 2:
          if (at < s.size()) s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 3: s = s.substr(0, at); break;
      }
    }
    auto p = prefix::parse(s, "Prefix");
    if (p) {
      ++parsed;
      std::map<std::string, std::string> keys{{"customer_id", "c"}, {"x", "y"}};
      prefix::context ctx{when, &keys, &keys, "t", [] { return std::string("r"); }};
      (void)p->evaluate(ctx);
    }
    auto q = metadata_query::parse(s);
    if (q) (void)q->evaluate(R"({"customer_id":1,"type":{"device":"d"},"a":[{"b":2}]})");
    (void)base64_decode(s);
    (void)time_pattern::parse(s);
  }
  EXPECT_GT(parsed, 100);
}

// rill's own decoders of the object containers take untrusted bytes too.
TEST(DeliveryExpressions, MutatedContainersNeverCrashTheDecoders) {
  std::mt19937_64 rng(test_seed(42));
  const std::string data = "{\"page\":\"/\",\"n\":1}\n{\"page\":\"/a\",\"n\":2}\n";
  std::size_t decoded = 0;
  for (auto c :
       {compression::gzip, compression::zip, compression::snappy, compression::hadoop_snappy, compression::zstd}) {
    std::string packed;
    ASSERT_TRUE(compress(c, data, {}, packed).ok());
    for (int i = 0; i < 3000; ++i) {
      std::string s = packed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        const auto at = rng() % s.size();
        switch (rng() % 3) {
          case 0: s[at] = static_cast<char>(rng()); break;
          case 1: s.erase(at, 1); break;
          case 2: s = s.substr(0, at); break;
        }
      }
      auto r = decompress(c, s);
      decoded += r.ok() ? 1 : 0;
    }
  }
  std::printf("[ DECODED  ] %zu of 15000 mutated containers decoded without error\n", decoded);
  // Unmutated input always decodes.
  for (auto c :
       {compression::gzip, compression::zip, compression::snappy, compression::hadoop_snappy, compression::zstd}) {
    std::string packed;
    ASSERT_TRUE(compress(c, data, {}, packed).ok());
    EXPECT_EQ(*decompress(c, packed), data);
  }
}

}  // namespace
}  // namespace rill::testing
