// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Scale: UpdateShardCount makes as few shards as splits and merges allow, the
// quota counters stay exact without scanning streams, and memory comes back
// to a small constant per shard once records expire.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <random>

#include "builder.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;
using u128 = unsigned __int128;

std::vector<shard> all_shards(engine& e, const std::string& name) {
  std::vector<shard> out;
  std::optional<std::string> token;
  do {
    list_shards_request req;
    if (token) {
      req.next_token = token;
    } else {
      req.stream_name = name;
    }
    auto r = e.list_shards(req);
    if (!r) throw std::runtime_error(r.error().to_string());
    out.insert(out.end(), r->shards.begin(), r->shards.end());
    token = r->next_token;
  } while (token);
  return out;
}

std::vector<shard> open_of(const std::vector<shard>& all) {
  std::vector<shard> open;
  for (const auto& s : all) {
    if (!s.sequence_number_range.ending_sequence_number) open.push_back(s);
  }
  std::sort(open.begin(), open.end(), [](const shard& a, const shard& b) {
    return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
  });
  return open;
}

// The open shards tile the hash space in `n` shards of equal size: every
// boundary within a 2^-32 part of a shard's width of floor(i * 2^128 / n).
void expect_uniform(const std::vector<shard>& open, std::size_t n, const std::string& context) {
  ASSERT_EQ(open.size(), n) << context;
  const u128 width = ~u128{0} / n;
  const u128 tol = (width >> 32) + 2;
  EXPECT_EQ(open.front().hash_key_range.starting_hash_key.value(), 0) << context;
  EXPECT_EQ(open.back().hash_key_range.ending_hash_key, hash_key::max()) << context;
  for (std::size_t i = 1; i < n; ++i) {
    const u128 start = open[i].hash_key_range.starting_hash_key.value();
    EXPECT_EQ(open[i - 1].hash_key_range.ending_hash_key.value() + 1, start) << context << " shard " << i;
    const u128 ideal = width * i;
    const u128 diff = start > ideal ? start - ideal : ideal - start;
    EXPECT_LE(static_cast<double>(diff), static_cast<double>(tol)) << context << " boundary " << i;
  }
}

// Doubling a uniform layout whose rounding does not line up (125 and 250
// shards: 124 of the 125 boundaries differ by a few hash keys) splits each
// shard once. It used to cut a sliver off each shard and merge it back:
// several times the shards.
TEST(ScaleUpdateShardCount, DoublingSplitsEachShardOnce) {
  test_engine e;
  stream_builder s(*e, "s", 125);
  RILL_ASSERT_OK(e->update_shard_count({.stream_name = "s", .target_shard_count = 250}));
  auto all = all_shards(*e, "s");
  EXPECT_EQ(all.size(), 125u + 250u);
  expect_uniform(open_of(all), 250, "125 -> 250");
  for (const auto& sh : all) {
    if (sh.shard_id.index() >= 125) {
      ASSERT_TRUE(sh.parent_shard_id);
      EXPECT_LT(sh.parent_shard_id->index(), 125u);
      EXPECT_FALSE(sh.adjacent_parent_shard_id);
    }
  }
}

TEST(ScaleUpdateShardCount, HalvingMergesEachPairOnce) {
  test_engine e;
  stream_builder s(*e, "s", 250);
  RILL_ASSERT_OK(e->update_shard_count({.stream_name = "s", .target_shard_count = 125}));
  auto all = all_shards(*e, "s");
  EXPECT_EQ(all.size(), 250u + 125u);
  expect_uniform(open_of(all), 125, "250 -> 125");
}

// Any target: every target boundary inside a shard costs one split (two
// shards), every current boundary inside a target shard one merge (one shard);
// the result is uniform, every new shard's parents are closed, and nothing
// written is lost.
TEST(ScaleUpdateShardCount, ArbitraryTargetsCostAtMostOneSplitPerBoundary) {
  const auto seed = test_seed(20261130);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 7);
  std::map<std::uint32_t, std::size_t> written;  // shard index -> records
  for (int round = 0; round < 30; ++round) {
    const std::string context = "seed " + std::to_string(seed) + " round " + std::to_string(round);
    auto before = all_shards(*e, "s");
    const auto n = static_cast<std::int32_t>(open_of(before).size());
    const std::int32_t lo = (n + 1) / 2;
    const std::int32_t hi = std::min(2 * n, 60);
    const auto m = lo + static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
    auto r = e->update_shard_count({.stream_name = "s", .target_shard_count = m});
    ASSERT_TRUE(r.ok()) << context << ": " << r.error();
    auto after = all_shards(*e, "s");
    const auto created = after.size() - before.size();
    EXPECT_LE(created, static_cast<std::size_t>(2 * (m - 1) + (n - 1))) << context << " " << n << " -> " << m;
    auto open = open_of(after);
    expect_uniform(open, static_cast<std::size_t>(m), context);
    std::map<shard_id, const shard*> by_id;
    for (const auto& sh : after) by_id[sh.shard_id] = &sh;
    for (std::size_t i = before.size(); i < after.size(); ++i) {
      const auto& sh = after[i];
      ASSERT_TRUE(sh.parent_shard_id) << context;
      ASSERT_TRUE(by_id.count(*sh.parent_shard_id)) << context;
      EXPECT_TRUE(by_id[*sh.parent_shard_id]->sequence_number_range.ending_sequence_number) << context;
    }
    // A record in every open shard.
    for (const auto& sh : open) {
      s.put_hash(sh.hash_key_range.starting_hash_key, "r");
      ++written[sh.shard_id.index()];
    }
    e.clock->advance(1s);
  }
  for (const auto& [index, count] : written) EXPECT_EQ(s.read_all(shard_id(index)).size(), count) << index;
}

// The quota counters (open shards of provisioned streams, on-demand streams)
// are kept up to date rather than counted over every stream: they must agree
// with a count over the streams after any mix of calls.
TEST(ScaleQuota, CountersAgreeWithTheStreamsAfterEveryCall) {
  const auto seed = test_seed(7);
  std::mt19937_64 rng(seed);
  engine_options opt;
  opt.update_stream_delay = 500ms;
  opt.create_stream_delay = 500ms;
  opt.delete_stream_delay = 500ms;
  test_engine e(opt);
  std::vector<std::string> names = {"a", "b", "c", "d"};
  for (int step = 0; step < 200; ++step) {
    const std::string& name = names[rng() % names.size()];
    switch (rng() % 7) {
      case 0: (void)e->create_stream({.stream_name = name, .shard_count = 1 + static_cast<int>(rng() % 6)}); break;
      case 1:
        (void)e->create_stream(
            {.stream_name = name, .stream_mode_details = stream_mode_details{stream_mode::on_demand}});
        break;
      case 2: (void)e->delete_stream({.stream_name = name}); break;
      case 3: {
        auto d = e->describe_stream_summary({.stream_name = name});
        if (!d) break;
        const int n = d->stream_description_summary.open_shard_count;
        (void)e->update_shard_count(
            {.stream_name = name, .target_shard_count = std::max(1, n / 2 + static_cast<int>(rng() % (n + 1)))});
        break;
      }
      case 4: {
        auto d = e->describe_stream_summary({.stream_name = name});
        if (!d) break;
        const auto mode = d->stream_description_summary.stream_mode_details.stream_mode == stream_mode::on_demand
                              ? stream_mode::provisioned
                              : stream_mode::on_demand;
        (void)e->update_stream_mode(
            {.stream_arn = d->stream_description_summary.stream_arn, .stream_mode_details = stream_mode_details{mode}});
        break;
      }
      case 5: {
        auto d = e->list_shards({.stream_name = name});
        if (!d || d->shards.empty()) break;
        const auto& sh = d->shards[rng() % d->shards.size()];
        if (sh.sequence_number_range.ending_sequence_number) break;
        const u128 lo = sh.hash_key_range.starting_hash_key.value();
        const u128 hi = sh.hash_key_range.ending_hash_key.value();
        (void)e->split_shard({.stream_name = name,
                              .shard_to_split = sh.shard_id.to_string(),
                              .new_starting_hash_key = hash_key(lo + (hi - lo) / 2 + 1).to_string()});
        break;
      }
      case 6: e.clock->advance(std::chrono::milliseconds(rng() % 1200)); break;
    }
    // Count over the streams the way the quota is defined.
    std::int64_t open = 0;
    bool creating = false;
    std::int32_t on_demand = 0;
    for (const auto& n : names) {
      auto d = e->describe_stream_summary({.stream_name = n});
      if (!d) continue;
      const auto& sum = d->stream_description_summary;
      if (sum.stream_mode_details.stream_mode == stream_mode::on_demand) {
        ++on_demand;
        continue;
      }
      // A CREATING stream counts the shards it asked for; its summary shows 0 open.
      if (sum.stream_status == stream_status::creating) {
        creating = true;  // not derivable from the outside: skip this step's shard check
        continue;
      }
      open += sum.open_shard_count;
    }
    auto limits = e->describe_limits();
    RILL_ASSERT_OK(limits);
    if (!creating) EXPECT_EQ(limits->open_shard_count, open) << "seed " << seed << " step " << step;
    EXPECT_EQ(limits->on_demand_stream_count, on_demand) << "seed " << seed << " step " << step;
  }
}

// A storage that keeps track of its logs, to sum their memory.
class tracking_storage final : public storage {
 public:
  result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) override {
    auto log = inner_->create_log(key);
    if (log) {
      std::lock_guard lock(mu_);
      logs_[{key.stream_uid, key.shard.index()}] = log->get();
    }
    return log;
  }
  void remove_log(const shard_log_key& key) override {
    {
      std::lock_guard lock(mu_);
      logs_.erase({key.stream_uid, key.shard.index()});
    }
    inner_->remove_log(key);
  }
  std::size_t memory_bytes() {
    std::lock_guard lock(mu_);
    std::size_t n = 0;
    for (const auto& [k, log] : logs_) n += log->memory_bytes();
    return n;
  }

 private:
  std::shared_ptr<storage> inner_ = make_memory_storage();
  std::mutex mu_;
  std::map<std::pair<std::uint64_t, std::uint32_t>, shard_log*> logs_;
};

// 4,096 quiet shards under a steady trickle for 48 simulated hours: the memory
// the logs hold stays a small constant per shard, comes back to nothing once
// every record expired, and a shard that is written again starts small (it
// used to start at twice its last segment, so a quiet shard's memory kept
// growing).
TEST(ScaleMemory, QuietShardsStaySmallAndReturnToNothingAfterExpiry) {
  constexpr int kShards = 4096;
  auto storage = std::make_shared<tracking_storage>();
  engine_options opt;
  opt.storage = storage;
  opt.metrics.enabled = false;
  opt.trim_interval = 1h;
  test_engine e(opt);
  stream_builder s(*e, "quiet", kShards);
  const u128 width = ~u128{0} / kShards;
  std::vector<std::string> keys;
  for (int i = 0; i < kShards; ++i) keys.push_back(hash_key(width * static_cast<u128>(i)).to_string());
  const std::string data(200, 'x');
  auto trickle = [&] {  // one 200-byte record in every shard
    for (int first = 0; first < kShards; first += 500) {
      put_records_request req{.stream_name = "quiet"};
      for (int i = first; i < std::min(kShards, first + 500); ++i) {
        req.records.push_back(
            {.data = data, .partition_key = "k", .explicit_hash_key = keys[static_cast<std::size_t>(i)]});
      }
      auto r = e->put_records(req);
      ASSERT_TRUE(r.ok()) << r.error();
      ASSERT_EQ(r->failed_record_count, 0);
    }
  };
  std::size_t peak = 0;
  for (int hour = 0; hour < 48; hour += 2) {
    trickle();
    e.clock->advance(2h);
    peak = std::max(peak, storage->memory_bytes());
  }
  // At most 12 live records (~2.5 KB) per shard: two small segments at most
  // (a full 4 KiB one and the 8 KiB one after it), never the 64 KiB to 1 MiB
  // segments a quiet shard used to hold.
  EXPECT_LE(peak, static_cast<std::size_t>(kShards) * 16384) << "peak " << peak;
  e.clock->advance(25h);
  e->trim_expired();
  EXPECT_EQ(storage->memory_bytes(), 0u);
  trickle();
  EXPECT_LE(storage->memory_bytes(), static_cast<std::size_t>(kShards) * 4200);
}

}  // namespace
}  // namespace rill::testing
