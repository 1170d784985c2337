// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The manifest codec: round trip, damage detected and named, and a seeded
// mutation test over both the framed file and the JSON body behind a valid
// checksum (so the parser itself sees the damage).
#include <gtest/gtest.h>

#include <random>

#include "seed.hpp"
#include "storage/crc32c.hpp"
#include "storage/manifest.hpp"
#include "storage/segment_format.hpp"

namespace rill {
namespace {

manifest::state sample() {
  manifest::state st;
  st.next_uid = 4;
  manifest::stream s;
  s.uid = 3;
  s.name = "clicks";
  s.created_ms = 1'704'067'200'000;
  s.status = "ACTIVE";
  s.mode = "PROVISIONED";
  s.retention_hours = 48;
  s.tags = {{"team", "web"}, {"env", "prod"}};
  s.shard_level_metrics = {"IncomingBytes"};
  s.throughput = {{"enabled", 1}, {"write_bytes_per_second", 1 << 20}};
  s.encryption_type = "KMS";
  s.key_id = "alias/aws/kinesis";
  s.next_index = 3;
  s.initial_shards = 1;
  s.activated_ms = 1'704'067'200'000;
  manifest::shard parent{0,
                         "0",
                         "340282366920938463463374607431768211455",
                         {},
                         {},
                         1704067200,
                         1'704'067'200'000,
                         true,
                         1'704'067'260'000,
                         42,
                         {1, 2}};
  manifest::shard a{1, "0", "170141183460469231731687303715884105727", 0, {}, 1704067260, 1'704'067'260'000};
  manifest::shard b{2,
                    "170141183460469231731687303715884105728",
                    "340282366920938463463374607431768211455",
                    0,
                    {},
                    1704067260,
                    1'704'067'260'000};
  s.shards = {parent, a, b};
  st.streams.push_back(s);
  manifest::stream t;
  t.uid = 1;
  t.name = "other.stream-1";
  t.status = "CREATING";
  t.mode = "ON_DEMAND";
  t.next_index = 0;
  st.streams.push_back(t);
  return st;
}

TEST(Manifest, RoundTrips) {
  const auto st = sample();
  const std::string bytes = manifest::encode(st);
  EXPECT_EQ(bytes.substr(0, 8), "RILLMAN1");
  auto back = manifest::decode(bytes, "/d/MANIFEST");
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(*back, st);
  auto empty = manifest::decode(manifest::encode({}), "/d/MANIFEST");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->streams.empty());
}

std::string reframe(const std::string& body) {
  std::string out("RILLMAN1", 8);
  out.resize(16);
  segfmt::put_u32(out.data() + 8, static_cast<std::uint32_t>(body.size()));
  segfmt::put_u32(out.data() + 12, crc32c::value(body));
  return out + body;
}

TEST(Manifest, DamageIsAnErrorNamingTheFile) {
  const std::string good = manifest::encode(sample());
  std::string flipped = good;
  flipped[40] ^= 1;
  for (const std::string& bad : {std::string(), good.substr(0, 10), good.substr(0, good.size() - 1), flipped,
                                 good + "x", std::string("RILLMAN2") + good.substr(8)}) {
    auto r = manifest::decode(bad, "/data/MANIFEST");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), error_code::internal_failure);
    EXPECT_NE(r.error().message().find("/data/MANIFEST"), std::string::npos) << r.error();
  }
  // Well-framed JSON that breaks the rules.
  const char* bodies[] = {
      R"({"version":1,"next_uid":1,"streams":[{"uid":5}]})", R"({"version":2,"next_uid":1,"streams":[]})",
      R"({"version":1,"next_uid":"x","streams":[]})",        R"([1,2,3])",
      R"({"version":1,"next_uid":1,"streams":{}})",
  };
  for (const char* body : bodies) {
    EXPECT_FALSE(manifest::decode(reframe(body), "m").ok()) << body;
  }
  auto st = sample();
  st.streams[0].shards[1].parent = 7;  // a parent younger than its child
  EXPECT_FALSE(manifest::decode(manifest::encode(st), "m").ok());
  st = sample();
  st.streams[1].name = "clicks";  // twice
  EXPECT_FALSE(manifest::decode(manifest::encode(st), "m").ok());
  st = sample();
  st.streams[0].name = "../../etc";  // would escape the data folder
  EXPECT_FALSE(manifest::decode(manifest::encode(st), "m").ok());
}

TEST(Manifest, SeededMutationsNeverCrashAndAreRefusedOrValid) {
  const auto seed = testing::test_seed(99);
  std::mt19937_64 rng(seed);
  const std::string good = manifest::encode(sample());
  const std::string body = good.substr(16);
  int refused = 0, accepted = 0;
  for (int i = 0; i < 1500; ++i) {
    const bool behind_crc = i % 2 == 1;
    std::string b = behind_crc ? body : good;
    switch (rng() % 3) {
      case 0:
        for (int k = 0, n = 1 + static_cast<int>(rng() % 3); k < n; ++k) b[rng() % b.size()] = static_cast<char>(rng());
        break;
      case 1: b.resize(rng() % b.size()); break;
      case 2: b.insert(rng() % b.size(), 1, "{}[]\",:0a"[rng() % 9]); break;
    }
    auto r = manifest::decode(behind_crc ? reframe(b) : b, "MANIFEST");
    if (r.ok()) {
      ++accepted;
      // Whatever parsed passed the checks the engine relies on.
      for (const auto& s : r->streams) EXPECT_FALSE(s.name.empty());
    } else {
      ++refused;
      EXPECT_NE(r.error().message().find("MANIFEST"), std::string::npos);
    }
  }
  std::printf("[ INFO     ] 1500 mutations: %d refused, %d still valid\n", refused, accepted);
  EXPECT_GT(refused, 1000);
}

}  // namespace
}  // namespace rill
