// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A simulated day of traffic under the manual clock, against an ON_DEMAND
// stream (Kinesis splits hot shards) and a PROVISIONED stream driven by the
// autoscaler. Capacities are scaled down (10 records/s per shard) so a day
// takes seconds; the shapes are those of the real limits.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "builder.hpp"
#include "rill/autoscaling.hpp"
#include "seed.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kShardRecordsPerSecond = 10;

// Records per second at minute m of the day: quiet at night, a peak at noon.
double traffic(int minute, double night, double peak) {
  const double x = std::sin(std::numbers::pi * minute / 1440.0);
  return night + (peak - night) * x * x;
}

struct day_report {
  std::int64_t offered = 0;
  std::int64_t acknowledged = 0;
  std::int64_t throttled = 0;
  std::vector<std::int32_t> open_by_hour;
  std::vector<std::int64_t> throttled_by_hour;
};

std::int32_t open_shards(rill::engine& e, const std::string& stream) {
  auto d = e.describe_stream_summary({.stream_name = stream});
  return d ? d->stream_description_summary.open_shard_count : -1;
}

// Writes a day of traffic to `stream`: each minute, that minute's records in
// batches spread over the second, spread over the hash space. Throttled
// entries are retried in the next batch; what is still refused at the end of
// the minute is dropped (and counted).
day_report run_day(test_engine& e, const std::string& stream, std::uint64_t seed, double night, double peak) {
  std::mt19937_64 rng(seed);
  day_report rep;
  // Many users: a pool of partition keys, spread over the hash space by MD5.
  std::vector<std::string> users;
  for (int i = 0; i < 4096; ++i) users.push_back("user-" + std::to_string(rng()));
  std::int64_t throttled_this_hour = 0;
  for (int minute = 0; minute < 1440; ++minute) {
    const auto count = static_cast<std::int64_t>(traffic(minute, night, peak) * 60);
    rep.offered += count;
    // Spread the minute's records over 60 one-second slices.
    std::int64_t carried = 0;
    for (int second = 0; second < 60; ++second) {
      const std::int64_t fresh = count / 60 + (second < count % 60 ? 1 : 0);
      const auto n = static_cast<std::size_t>(fresh + carried);
      carried = 0;
      for (std::size_t b = 0; b < n; b += 500) {
        put_records_request req{.stream_name = stream};
        for (std::size_t i = b; i < std::min(b + 500, n); ++i) {
          req.records.push_back({.data = "x", .partition_key = users[rng() % users.size()]});
        }
        auto r = e->put_records(req);
        EXPECT_TRUE(r.ok()) << r.error();
        if (!r) return rep;
        rep.acknowledged += static_cast<std::int64_t>(req.records.size()) - r->failed_record_count;
        carried += r->failed_record_count;
        rep.throttled += r->failed_record_count;
        throttled_this_hour += r->failed_record_count;
      }
      if (second < 59) e.clock->advance(1s);
    }
    e.clock->advance(1s);
    if (minute % 60 == 59) {
      rep.open_by_hour.push_back(open_shards(*e, stream));
      rep.throttled_by_hour.push_back(throttled_this_hour);
      throttled_this_hour = 0;
    }
  }
  return rep;
}

engine_options small_shards() {
  engine_options o;
  o.throughput.enabled = true;
  o.throughput.write_records_per_second = kShardRecordsPerSecond;
  return o;
}

void expect_tiled(rill::engine& e, const std::string& stream) {
  auto l = e.list_shards({.stream_name = stream, .shard_filter = shard_filter{.type = shard_filter_type::at_latest}});
  ASSERT_TRUE(l.ok());
  auto open = l->shards;
  std::sort(open.begin(), open.end(), [](const shard& a, const shard& b) {
    return a.hash_key_range.starting_hash_key < b.hash_key_range.starting_hash_key;
  });
  EXPECT_EQ(open.front().hash_key_range.starting_hash_key, hash_key(0));
  EXPECT_EQ(open.back().hash_key_range.ending_hash_key, hash_key::max());
  for (std::size_t i = 1; i < open.size(); ++i) {
    EXPECT_EQ(open[i].hash_key_range.starting_hash_key.value(), open[i - 1].hash_key_range.ending_hash_key.value() + 1);
  }
}

TEST(Scaling, OnDemandStreamSplitsHotShardsThroughADay) {
  const auto seed = test_seed(11);
  test_engine e(small_shards());
  RILL_ASSERT_OK(
      e->create_stream({.stream_name = "od", .stream_mode_details = stream_mode_details{stream_mode::on_demand}}));
  EXPECT_EQ(open_shards(*e, "od"), 4);
  // 8 records/s at night (20% of 4 shards), 60 at noon (1.5x the first 4 shards).
  auto rep = run_day(e, "od", seed, 8, 60);
  for (std::size_t h = 0; h < rep.open_by_hour.size(); ++h) {
    std::printf("hour %2zu: %3d open shards, %6lld throttled\n", h, rep.open_by_hour[h],
                static_cast<long long>(rep.throttled_by_hour[h]));
  }
  // It grew: a shard at half capacity is 5 records/s, so 60 records/s wants at least 12.
  EXPECT_GE(rep.open_by_hour.back(), 12);
  EXPECT_EQ(rep.open_by_hour.front(), 4) << "split before sustained load";
  // Shard counts never shrink on their own, and splits come only in whole steps.
  for (std::size_t h = 1; h < rep.open_by_hour.size(); ++h) EXPECT_GE(rep.open_by_hour[h], rep.open_by_hour[h - 1]);
  // After growing, the afternoon is served with little throttling.
  std::int64_t afternoon = 0;
  for (std::size_t h = 13; h < 18; ++h) afternoon += rep.throttled_by_hour[h];
  EXPECT_LT(afternoon, rep.offered / 100) << "still throttling after the scale-up";
  expect_tiled(*e, "od");
  auto limits = e->describe_limits();
  RILL_ASSERT_OK(limits);
  EXPECT_EQ(limits->on_demand_stream_count, 1);
  EXPECT_EQ(limits->open_shard_count, 0) << "the shard quota counts provisioned streams only";
}

TEST(Scaling, AutoscalerFollowsADayOfTrafficWithinItsPolicy) {
  const auto seed = test_seed(12);
  engine_options o = small_shards();
  o.control_plane.enabled = true;  // at most 10 scalings per rolling 24 h
  test_engine e(o);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "p", .shard_count = 2}));
  auto scaler = autoscaler::start(*e, {.stream_name = "p",
                                       .target_utilization = 0.6,
                                       .scale_in_utilization = 0.3,
                                       .min_shards = 2,
                                       .max_shards = 24,
                                       .evaluation_period = 5min,
                                       .scale_out_cooldown = 10min,
                                       .scale_in_cooldown = 60min,
                                       .shard_write_records_per_second = kShardRecordsPerSecond});
  RILL_ASSERT_OK(scaler);
  auto rep = run_day(e, "p", seed, 5, 60);
  const auto history = (*scaler)->history();
  for (const auto& d : history) {
    std::printf("%5lld min: %2d -> %2d shards at %.2f utilization %s\n",
                static_cast<long long>((d.at - manual_clock::default_start) / 1min), d.from_shards, d.to_shards,
                d.utilization, d.error.c_str());
  }
  int outs = 0;
  int ins = 0;
  int successes = 0;
  for (const auto& d : history) {
    EXPECT_GE(d.to_shards, 2);
    EXPECT_LE(d.to_shards, 24);
    EXPECT_LE(d.to_shards, 2 * d.from_shards);
    EXPECT_GE(2 * d.to_shards, d.from_shards);
    if (!d.error.empty()) continue;
    ++successes;
    (d.to_shards > d.from_shards ? outs : ins) += 1;
  }
  EXPECT_GE(outs, 2) << "it should scale out for the noon peak";
  EXPECT_GE(ins, 1) << "and back in for the night";
  EXPECT_LE(successes, 10) << "the daily quota of UpdateShardCount";
  const auto peak = *std::max_element(rep.open_by_hour.begin(), rep.open_by_hour.end());
  EXPECT_GE(peak, 10);  // 60 records/s at 60% of 10 per shard
  EXPECT_LT(rep.open_by_hour.back(), peak);
  expect_tiled(*e, "p");
  RILL_EXPECT_ERROR(autoscaler::start(*e, {.stream_name = "p", .target_utilization = 1.5}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(autoscaler::start(*e, {.stream_name = "missing"}), error_code::resource_not_found_exception);
  engine_options quiet;
  quiet.metrics.enabled = false;
  test_engine blind(quiet);
  RILL_ASSERT_OK(blind->create_stream({.stream_name = "p", .shard_count = 2}));
  RILL_EXPECT_ERROR(autoscaler::start(*blind, {.stream_name = "p"}), error_code::invalid_argument_exception);
}

}  // namespace
}  // namespace rill::testing
