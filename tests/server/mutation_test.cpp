// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Seeded mutation of valid requests (bodies in JSON and CBOR, the target and
// content-type headers) through the dispatcher: every answer is a well-formed
// AWS response, nothing crashes, and the engine keeps serving.
#include <gtest/gtest.h>

#include <random>

#include "seed.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

std::vector<std::pair<std::string, json>> corpus(body_format f) {
  return {
      {"CreateStream", {{"StreamName", "m"}, {"ShardCount", 2}, {"Tags", {{"a", "b"}}}}},
      {"PutRecord", {{"StreamName", "s"}, {"Data", blob(f, "hello")}, {"PartitionKey", "k"}}},
      {"PutRecords",
       {{"StreamName", "s"},
        {"Records",
         {{{"Data", blob(f, "a")}, {"PartitionKey", "k"}}, {{"Data", blob(f, "b")}, {"PartitionKey", "j"}}}}}},
      {"GetShardIterator",
       {{"StreamName", "s"},
        {"ShardId", "shardId-000000000000"},
        {"ShardIteratorType", "AT_TIMESTAMP"},
        {"Timestamp", wire::timestamp_value(manual_clock::default_start)}}},
      {"ListShards", {{"StreamName", "s"}, {"ShardFilter", {{"Type", "AFTER_SHARD_ID"}, {"ShardId", "0"}}}}},
      {"SplitShard", {{"StreamName", "s"}, {"ShardToSplit", "shardId-000000000000"}, {"NewStartingHashKey", "5"}}},
      {"ListTagsForStream", {{"StreamName", "s"}, {"Limit", 5}}},
      {"UpdateShardCount", {{"StreamName", "s"}, {"TargetShardCount", 2}, {"ScalingType", "UNIFORM_SCALING"}}},
  };
}

void mutate(std::string& s, std::mt19937_64& rng) {
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    if (s.empty()) {
      s.push_back(static_cast<char>(rng()));
      continue;
    }
    switch (rng() % 5) {
      case 0: s[rng() % s.size()] = static_cast<char>(rng()); break;
      case 1: s[rng() % s.size()] ^= static_cast<char>(1u << (rng() % 8)); break;
      case 2: s.erase(rng() % s.size(), 1 + rng() % 8); break;
      case 3: s.insert(rng() % (s.size() + 1), 1, static_cast<char>(rng())); break;
      default: {  // duplicate a slice
        std::size_t at = rng() % s.size();
        std::size_t n = std::min<std::size_t>(1 + rng() % 16, s.size() - at);
        s.insert(rng() % (s.size() + 1), s.substr(at, n));
      }
    }
  }
}

TEST(Mutation, DispatcherAnswersEveryMutatedRequestWithAnAwsShape) {
  const auto seed = test_seed(42);
  std::mt19937_64 rng(seed);
  wire_fixture w;
  ASSERT_EQ(w.call("CreateStream", {{"StreamName", "s"}, {"ShardCount", 1}}).status, 200u);
  int rounds = 0;
  for (body_format f : {body_format::json, body_format::cbor}) {
    auto seeds = corpus(f);
    for (int i = 0; i < 2500; ++i, ++rounds) {
      const auto& [op, body] = seeds[rng() % seeds.size()];
      auto req = make_request(op, wire::write_body(body, f), f);
      mutate(req.body, rng);
      if (rng() % 16 == 0) mutate(req.headers[1].value, rng);  // target
      if (rng() % 32 == 0) mutate(req.headers[2].value, rng);  // content type
      auto res = w.raw(req);
      ASSERT_TRUE(res.status == 200 || res.status == 400 || res.status == 403 || res.status == 404 ||
                  res.status == 413 || res.status == 500)
          << res.status;
      if (res.content_type == "application/xml") continue;
      auto t = wire_fixture::tree(res);
      ASSERT_NE(t, json("<unparseable>")) << "round " << rounds;
      if (res.status != 200) {
        bool typed = t.contains("__type") || (t.contains("Output") && t["Output"].contains("__type"));
        ASSERT_TRUE(typed) << t.dump();
      }
    }
  }
  // Still serving.
  EXPECT_EQ(w.call("PutRecord", {{"StreamName", "s"}, {"Data", "aGk="}, {"PartitionKey", "k"}}).status, 200u);
}

}  // namespace
}  // namespace rill::testing
