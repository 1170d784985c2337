// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Per-minute metric statistics for one stream: a series of minutes, each with
// Sum / Minimum / Maximum / SampleCount for every stream-level metric, and the
// same per shard for shard-level metrics. One mutex per stream; a call takes it
// once to record all its samples.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rill/metrics.hpp"
#include "rill/types.hpp"

namespace rill::detail {

enum class stream_metric : std::uint8_t {
  incoming_bytes,
  incoming_records,
  put_record_bytes,
  put_record_latency,
  put_record_success,
  put_records_bytes,
  put_records_records,
  put_records_successful_records,
  put_records_failed_records,
  put_records_throttled_records,
  put_records_total_records,
  put_records_latency,
  put_records_success,
  get_records_bytes,
  get_records_records,
  get_records_latency,
  get_records_success,
  get_records_iterator_age,
  read_throttled,
  write_throttled,
  count_,
};

enum class shard_metric : std::uint8_t {
  incoming_bytes,
  incoming_records,
  outgoing_bytes,
  outgoing_records,
  iterator_age,
  read_throttled,
  write_throttled,
  count_,
};

inline constexpr std::size_t kStreamMetrics = static_cast<std::size_t>(stream_metric::count_);
inline constexpr std::size_t kShardMetrics = static_cast<std::size_t>(shard_metric::count_);

struct metric_info {
  std::string_view name;
  std::string_view unit;
};
const metric_info& info(stream_metric m);
const metric_info& info(shard_metric m);
std::optional<stream_metric> stream_metric_named(std::string_view name);
std::optional<shard_metric> shard_metric_named(std::string_view name);
/// The enhanced-monitoring name of a shard metric, e.g. "OutgoingBytes".
std::string_view enhanced_name(shard_metric m);

struct stat {
  double sum = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  std::int64_t count = 0;
  void add(double v) {
    sum += v;
    min = v < min ? v : min;
    max = v > max ? v : max;
    ++count;
  }
};

template <std::size_t N>
class minute_series {
 public:
  /// The statistics of minute `minute` (creating it), dropping minutes older
  /// than `keep` minutes before it.
  std::array<stat, N>& at(std::int64_t minute, std::int64_t keep) {
    if (minutes_.empty() || minutes_.back().index < minute) {
      minutes_.push_back({minute, {}});
      while (minutes_.front().index <= minute - keep) minutes_.pop_front();
      return minutes_.back().stats;
    }
    for (auto it = minutes_.rbegin(); it != minutes_.rend(); ++it) {
      if (it->index == minute) return it->stats;
    }
    return minutes_.back().stats;  // an older minute than the newest: fold into the newest
  }
  void collect(std::size_t metric, timestamp from, timestamp to, std::vector<metric_datapoint>& out) const {
    for (const auto& m : minutes_) {
      const timestamp start{std::chrono::minutes(m.index)};
      if (start < from || start >= to) continue;
      const stat& s = m.stats[metric];
      if (s.count == 0) continue;
      out.push_back({start, s.sum, s.min, s.max, s.count});
    }
  }
  [[nodiscard]] bool empty() const { return minutes_.empty(); }
  /// Drops the minutes more than `keep` minutes before `minute` (outside the window).
  void prune(std::int64_t minute, std::int64_t keep) {
    while (!minutes_.empty() && minutes_.front().index <= minute - keep) minutes_.pop_front();
  }

 private:
  struct minute {
    std::int64_t index;
    std::array<stat, N> stats;
  };
  std::deque<minute> minutes_;
};

class stream_metrics {
 public:
  std::mutex mu;
  minute_series<kStreamMetrics> stream;                                    // guarded by mu
  std::unordered_map<std::uint32_t, minute_series<kShardMetrics>> shards;  // guarded by mu
};

inline std::int64_t minute_of(timestamp t) {
  return std::chrono::floor<std::chrono::minutes>(t).time_since_epoch().count();
}

}  // namespace rill::detail
