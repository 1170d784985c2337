// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Hashing and shard layout against shard-map.json, made with kinesalite 3.3.3:
// for every shard count there, the engine must lay out the same ranges and
// route every key (ASCII and not) to the same shard.
#include <nlohmann/json.hpp>

#include "builder.hpp"
#include "vectors.hpp"

namespace rill::testing {
namespace {

nlohmann::json load_shard_map() { return nlohmann::json::parse(read_file(vectors_dir() / "shard-map.json")); }

TEST(ShardMapVectors, PartitionKeyMd5MatchesForEveryKey) {
  RILL_REQUIRE_VECTOR("shard-map.json");
  auto map = load_shard_map();
  ASSERT_FALSE(map["keys"].empty());
  for (const auto& k : map["keys"]) {
    const std::string key = k["key"];
    const std::string md5 = k["md5"];
    EXPECT_EQ(hash_key::of_partition_key(key).to_string(), md5) << "key " << key;
  }
}

TEST(ShardMapVectors, CreateStreamLaysOutTheSameRanges) {
  RILL_REQUIRE_VECTOR("shard-map.json");
  auto map = load_shard_map();
  ASSERT_FALSE(map["streams"].empty());
  test_engine e;
  for (const auto& st : map["streams"]) {
    const int n = st["shardCount"];
    const std::string name = "vectors-" + std::to_string(n);
    RILL_ASSERT_OK(e->create_stream({.stream_name = name, .shard_count = n}));
    auto listed = e->list_shards({.stream_name = name});
    RILL_ASSERT_OK(listed);
    ASSERT_EQ(listed->shards.size(), st["shards"].size()) << n << " shards";
    for (std::size_t i = 0; i < listed->shards.size(); ++i) {
      const auto& want = st["shards"][i];
      const auto& got = listed->shards[i];
      EXPECT_EQ(got.shard_id.to_string(), want["id"].get<std::string>());
      EXPECT_EQ(got.hash_key_range.starting_hash_key.to_string(), want["start"].get<std::string>()) << n << "/" << i;
      EXPECT_EQ(got.hash_key_range.ending_hash_key.to_string(), want["end"].get<std::string>()) << n << "/" << i;
    }
  }
}

TEST(ShardMapVectors, PutRecordsRoutesEveryKeyToTheSameShard) {
  RILL_REQUIRE_VECTOR("shard-map.json");
  auto map = load_shard_map();
  const auto& keys = map["keys"];
  std::vector<std::string> key_text;
  for (const auto& k : keys) key_text.push_back(k["key"]);
  test_engine e;
  for (const auto& st : map["streams"]) {
    const int n = st["shardCount"];
    const std::string name = "route-" + std::to_string(n);
    RILL_ASSERT_OK(e->create_stream({.stream_name = name, .shard_count = n}));
    const auto& want = st["shardOfKey"];
    ASSERT_EQ(want.size(), key_text.size());
    for (std::size_t base = 0; base < key_text.size(); base += 500) {
      put_records_request req{.stream_name = name};
      for (std::size_t i = base; i < std::min(base + 500, key_text.size()); ++i) {
        req.records.push_back({.data = "x", .partition_key = key_text[i]});
      }
      auto r = e->put_records(req);
      RILL_ASSERT_OK(r);
      ASSERT_EQ(r->failed_record_count, 0);
      for (std::size_t j = 0; j < r->records.size(); ++j) {
        EXPECT_EQ(r->records[j].shard_id.to_string(), want[base + j].get<std::string>())
            << n << " shards, key " << key_text[base + j];
      }
    }
  }
}

}  // namespace
}  // namespace rill::testing
