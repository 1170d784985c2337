// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Property: after any sequence of splits, merges and shard-count updates, the
// open shards tile [0, 2^128 - 1] with no gap or overlap, every hash key routes
// to the open shard holding it, lineage stays consistent, and every record put
// is read back from the shard it was acknowledged in.
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "builder.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using u128 = unsigned __int128;
using namespace std::chrono_literals;

u128 random_u128(std::mt19937_64& rng) { return (static_cast<u128>(rng()) << 64) | rng(); }

// A random key in [lo, hi].
u128 random_in(std::mt19937_64& rng, u128 lo, u128 hi) {
  const u128 span = hi - lo;
  if (span == ~u128{0}) return random_u128(rng);
  return lo + random_u128(rng) % (span + 1);
}

void check_tiling(const std::vector<shard>& open, const std::string& context) {
  ASSERT_FALSE(open.empty()) << context;
  std::vector<shard> sorted = open;
  std::sort(sorted.begin(), sorted.end(), [](const shard& a, const shard& b) {
    return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
  });
  EXPECT_EQ(sorted.front().hash_key_range.starting_hash_key, hash_key(0)) << context;
  EXPECT_EQ(sorted.back().hash_key_range.ending_hash_key, hash_key::max()) << context;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& r = sorted[i].hash_key_range;
    EXPECT_LE(r.starting_hash_key, r.ending_hash_key) << context;
    if (i > 0) {
      EXPECT_EQ(r.starting_hash_key.value(), sorted[i - 1].hash_key_range.ending_hash_key.value() + 1)
          << context << ": gap or overlap before " << sorted[i].shard_id;
    }
  }
}

void check_lineage(const std::vector<shard>& all, const std::string& context) {
  std::map<shard_id, const shard*> by_id;
  shard_id prev;
  bool first = true;
  for (const auto& s : all) {
    if (!first) EXPECT_LT(prev, s.shard_id) << context << ": ids not increasing";
    first = false;
    prev = s.shard_id;
    by_id[s.shard_id] = &s;
  }
  for (const auto& s : all) {
    for (auto p : {s.parent_shard_id, s.adjacent_parent_shard_id}) {
      if (!p) continue;
      EXPECT_LT(*p, s.shard_id) << context;
      auto it = by_id.find(*p);
      if (it == by_id.end()) continue;  // expired parent
      const shard& parent = *it->second;
      ASSERT_TRUE(parent.sequence_number_range.ending_sequence_number) << context << ": open parent " << *p;
      EXPECT_LT(*parent.sequence_number_range.ending_sequence_number, s.sequence_number_range.starting_sequence_number)
          << context << ": child " << s.shard_id << " does not start after parent " << *p;
    }
  }
}

class ReshardProperty : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(ReshardProperty, OpenShardsAlwaysTileTheHashSpace) {
  const std::uint64_t seed = test_seed(GetParam());
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "prop", 1 + static_cast<int>(rng() % 6));
  std::map<shard_id, std::vector<std::string>> written;
  std::uint64_t serial = 0;

  for (int step = 0; step < 60; ++step) {
    auto open = s.open_shards();
    const std::string context = "seed " + std::to_string(seed) + " step " + std::to_string(step);
    check_tiling(open, context);
    check_lineage(s.shards(), context);
    if (::testing::Test::HasFailure()) return;

    // Route some random keys and remember where each record was acknowledged.
    for (int i = 0; i < 8; ++i) {
      const hash_key h(random_u128(rng));
      const std::string data = std::to_string(serial++);
      auto p = s.put_hash(h, data);
      auto home = std::find_if(open.begin(), open.end(), [&](const shard& x) {
        return x.hash_key_range.starting_hash_key <= h && h <= x.hash_key_range.ending_hash_key;
      });
      ASSERT_NE(home, open.end()) << context;
      EXPECT_EQ(p.shard_id, home->shard_id) << context << " key " << h;
      written[p.shard_id].push_back(data);
    }

    switch (rng() % 4) {
      case 0:
      case 1: {  // split a random open shard at a random legal key
        const auto& victim = open[rng() % open.size()];
        const u128 lo = victim.hash_key_range.starting_hash_key.value();
        const u128 hi = victim.hash_key_range.ending_hash_key.value();
        if (hi - lo < 3) break;
        s.split(victim.shard_id, hash_key(random_in(rng, lo + 2, hi - 1)));
        break;
      }
      case 2: {  // merge a random adjacent pair
        if (open.size() < 2) break;
        std::sort(open.begin(), open.end(), [](const shard& a, const shard& b) {
          return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
        });
        const std::size_t i = rng() % (open.size() - 1);
        s.merge(open[i].shard_id, open[i + 1].shard_id);
        break;
      }
      case 3: {  // uniform scaling within [half, double]
        const auto n = static_cast<std::int32_t>(open.size());
        const std::int32_t lo = (n + 1) / 2;
        const std::int32_t hi = std::min(2 * n, 24);
        if (hi < lo) break;
        const auto target = lo + static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
        auto r = e->update_shard_count({.stream_name = "prop", .target_shard_count = target});
        ASSERT_TRUE(r.ok()) << context << ": " << r.error();
        EXPECT_EQ(r->current_shard_count, n);
        EXPECT_EQ(s.open_shards().size(), static_cast<std::size_t>(target)) << context;
        break;
      }
    }
    e.clock->advance(std::chrono::milliseconds(rng() % 5000));
  }
  // Nothing was lost or misplaced: each shard holds exactly what was acknowledged there.
  for (const auto& [id, want] : written) EXPECT_EQ(s.read_all(id), want) << "seed " << seed << " shard " << id;
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReshardProperty, ::testing::Values(1, 2, 3, 42, 20261123, 777, 31337, 9001));

}  // namespace
}  // namespace rill::testing
