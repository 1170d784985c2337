// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// CloudWatch-style metrics (namespace AWS/Kinesis), kept per minute on the
// engine's clock for a configurable window.
//
// Stream-level metrics (dimension StreamName) are always recorded:
//   IncomingBytes, IncomingRecords, PutRecord.Bytes, PutRecord.Latency,
//   PutRecord.Success, PutRecords.Bytes, PutRecords.Records,
//   PutRecords.SuccessfulRecords, PutRecords.FailedRecords,
//   PutRecords.ThrottledRecords, PutRecords.TotalRecords, PutRecords.Latency,
//   PutRecords.Success, GetRecords.Bytes, GetRecords.Records,
//   GetRecords.Latency, GetRecords.Success, GetRecords.IteratorAgeMilliseconds,
//   ReadProvisionedThroughputExceeded, WriteProvisionedThroughputExceeded.
// Shard-level metrics (dimensions StreamName, ShardId) are recorded only
// while enabled with enable_enhanced_monitoring:
//   IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords,
//   IteratorAgeMilliseconds, ReadProvisionedThroughputExceeded,
//   WriteProvisionedThroughputExceeded.
//
// Each API call contributes one sample to each metric it touches (e.g. one
// PutRecords call: IncomingRecords gets one sample whose value is the number of
// records it stored), so Sum, Minimum, Maximum, SampleCount and Average mean
// what CloudWatch's do. docs/limits.md gives each metric's definition.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rill/types.hpp"

namespace rill {

struct metrics_options {
  /// Record metrics at all (turning it off saves a few nanoseconds per call).
  bool enabled = true;
  /// How much history to keep.
  duration window = std::chrono::hours(1);
};

/// One minute of one metric.
struct metric_datapoint {
  /// The start of the minute.
  rill::timestamp timestamp;
  double sum = 0;
  double minimum = 0;
  double maximum = 0;
  std::int64_t sample_count = 0;
  [[nodiscard]] double average() const { return sample_count ? sum / static_cast<double>(sample_count) : 0; }
};

struct get_metric_statistics_request {
  std::string stream_name;
  /// For a shard-level metric.
  std::optional<std::string> shard_id;
  /// e.g. "IncomingRecords".
  std::string metric_name;
  /// Minutes whose start lies in [start_time, end_time).
  rill::timestamp start_time;
  rill::timestamp end_time;
};

struct get_metric_statistics_result {
  std::string label;
  /// "Bytes", "Count" or "Milliseconds".
  std::string unit;
  /// Oldest first; minutes with no samples are left out.
  std::vector<metric_datapoint> datapoints;
};

}  // namespace rill
