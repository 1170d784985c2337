// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Capacity as Kinesis enforces it, opt-in. Every limit here is a token bucket
// or a rolling window on the engine's clock, so a test can drive a writer into
// ProvisionedThroughputExceededException and out again by advancing a
// manual_clock. docs/limits.md lists each limit, its default and how it
// differs from AWS.
//
// Thread safety: plain value types. Pass them in engine_options, or change a
// stream's throughput limits at run time with engine::set_stream_throughput().
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "rill/types.hpp"

namespace rill {

/// Per-shard data-plane limits (Kinesis: 1 MiB/s and 1000 records/s in, 5
/// reads/s and 2 MiB/s out, 5 GetShardIterator calls/s). Off by default.
/// How the engine applies AWS's limits, in one option (engine_options::limits).
enum class limits_mode : std::uint8_t {
  /// `engine_options::throughput` and `control_plane` as set (both off by default).
  as_configured,
  /// Every AWS limit at AWS's values, enforced: per-shard write and read
  /// throughput, GetShardIterator rates, control-plane rates and quotas, as
  /// the defaults of throughput_limits and control_plane_limits (which this
  /// replaces). The shard and on-demand quotas always apply.
  aws,
  /// AWS's limits at AWS's values, reported and not enforced: a call (or
  /// PutRecords entry) AWS would have refused goes through, is counted in the
  /// engine's metrics registry (namespace "rill/Limits", metric
  /// "WouldBeThrottled", dimensions Limit and StreamName) and logged as a
  /// warning at most once a minute per limit and stream. For tests that want
  /// to notice code that production would throttle without being throttled.
  aws_report,
};

struct throughput_limits {
  bool enabled = false;
  /// Writes per shard, PutRecord and PutRecords together; bytes count data
  /// plus partition key.
  std::int64_t write_bytes_per_second = 1 << 20;
  std::int64_t write_records_per_second = 1000;
  /// GetRecords per shard, shared by every reader of the shard.
  std::int64_t read_calls_per_second = 5;
  std::int64_t read_bytes_per_second = 2 << 20;
  /// A GetRecords response of at least this many bytes blocks the shard's
  /// reads for `large_read_penalty` (Kinesis: 10 MiB, 5 s).
  std::int64_t large_read_bytes = 10 << 20;
  duration large_read_penalty = std::chrono::seconds(5);
  /// GetShardIterator per shard.
  std::int64_t get_shard_iterator_per_second = 5;
};

/// Control-plane quotas and rates. Off by default (the shard quota, the
/// doubling/halving rule of UpdateShardCount and the 10000-shard cap always
/// apply; they are part of what the operations mean).
struct control_plane_limits {
  bool enabled = false;
  /// Calls per second per operation for the whole engine (Kinesis: per
  /// account), by AWS operation name. Operations not listed are not limited.
  std::map<std::string, std::int32_t, std::less<>> operations_per_second = {
      {"AddTagsToStream", 5},
      {"CreateStream", 5},
      {"DecreaseStreamRetentionPeriod", 5},
      {"DeleteStream", 5},
      {"DescribeLimits", 1},
      {"DescribeStream", 10},
      {"DescribeStreamSummary", 20},
      {"DisableEnhancedMonitoring", 5},
      {"EnableEnhancedMonitoring", 5},
      {"IncreaseStreamRetentionPeriod", 5},
      {"ListShards", 1000},
      {"ListStreams", 5},
      {"ListTagsForStream", 5},
      {"MergeShards", 5},
      {"RemoveTagsFromStream", 5},
      {"SplitShard", 5},
      {"UpdateShardCount", 10},
      {"UpdateStreamMode", 5},
  };
  /// Streams in CREATING at once.
  std::int32_t max_creating_streams = 5;
  /// UpdateShardCount calls per stream per rolling 24 hours.
  std::int32_t max_scalings_per_day = 10;
  /// UpdateStreamMode calls per stream per rolling 24 hours.
  std::int32_t max_mode_switches_per_day = 2;
  /// Retention changes (increase or decrease) per stream per rolling 24 hours;
  /// 0 means unlimited (AWS documents no such quota).
  std::int32_t max_retention_changes_per_day = 0;
};

/// How ON_DEMAND streams grow: a shard whose incoming traffic stays above
/// `split_threshold` of its write capacity for `sustain` is split at the
/// middle of its range (AWS: above 500 KB/s, within about 15 minutes).
struct on_demand_scaling {
  bool enabled = true;
  double split_threshold = 0.5;
  duration sustain = std::chrono::minutes(15);
  /// How often the scaler looks at the shards.
  duration evaluation_interval = std::chrono::minutes(1);
  /// Open shards an on-demand stream may grow to.
  std::int32_t max_shards = 200;
};

}  // namespace rill
