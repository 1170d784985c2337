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
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rill/types.hpp"

namespace rill {
class clock;
}

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
  rill::timestamp timestamp{};
  double sum = 0;
  double minimum = 0;
  double maximum = 0;
  std::int64_t sample_count = 0;
  [[nodiscard]] double average() const { return sample_count ? sum / static_cast<double>(sample_count) : 0; }
};

struct get_metric_statistics_request {
  std::string stream_name{};
  /// For a shard-level metric.
  std::optional<std::string> shard_id{};
  /// e.g. "IncomingRecords".
  std::string metric_name{};
  /// Minutes whose start lies in [start_time, end_time).
  rill::timestamp start_time{};
  rill::timestamp end_time{};
};

struct get_metric_statistics_result {
  std::string label{};
  /// "Bytes", "Count" or "Milliseconds".
  std::string unit{};
  /// Oldest first; minutes with no samples are left out.
  std::vector<metric_datapoint> datapoints{};
};

// ---------------------------------------------------------------------------
// Metrics of the components above the engine (producer, consumer, delivery
// streams, server), in their own CloudWatch namespaces ("KinesisProducerLibrary",
// "KinesisClientLibrary", "AWS/Firehose", …). The engine owns one registry
// (engine::metrics()) and includes it in engine::metrics_json(); a component
// takes a `std::shared_ptr<metrics_registry>` in its configuration and records
// into it (null: no metrics). A registry can also stand alone, for a component
// that runs against another `rill::kinesis`.

struct metric_dimension {
  std::string name{};
  std::string value{};
  friend bool operator==(const metric_dimension&, const metric_dimension&) = default;
  friend auto operator<=>(const metric_dimension&, const metric_dimension&) = default;
};

class metrics_registry;

/// One metric of a metrics_registry, its key (namespace, name, dimensions)
/// resolved once by metrics_registry::series(): put() adds a sample without
/// building and looking up the key, for code that records the same metric
/// per call or per record. A default-constructed series records nothing.
///
/// Thread safety: put() may be called from any thread concurrently. Ownership:
/// a series shares the registry's state, so it may outlive the registry (its
/// samples then go nowhere). After metrics_registry::remove_dimension()
/// removed its metric, its samples go nowhere either: call series() again.
class metric_series {
 public:
  metric_series() = default;
  /// Adds one sample `value` to the current minute, as metrics_registry::put
  /// with this series' key does. No-op when the registry's metrics are off.
  void put(double value) const;
  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(state_); }

 private:
  friend class metrics_registry;
  struct state;
  std::shared_ptr<const state> state_{};
};

/// Per-minute statistics of any number of metrics, keyed by (namespace, name,
/// dimensions), kept for `options.window` on `clock`.
///
/// Thread safety: every method may be called from any thread concurrently.
class metrics_registry {
 public:
  explicit metrics_registry(std::shared_ptr<const rill::clock> clock, metrics_options options = {});
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// Adds one sample `value` to the current minute of the metric. `unit` is a
  /// CloudWatch unit name ("Count", "Bytes", "Milliseconds", …); the first
  /// sample of a metric fixes it. No-op when options.enabled is false.
  void put(std::string_view metric_namespace, std::string_view metric_name,
           std::span<const metric_dimension> dimensions, double value, std::string_view unit);

  /// The metric (namespace, name, dimensions), registered now with `unit` if
  /// it is new, as a handle whose put() skips the key (see metric_series). It
  /// shows in to_json() once it has a sample. Errors: none.
  [[nodiscard]] metric_series series(std::string_view metric_namespace, std::string_view metric_name,
                                     std::span<const metric_dimension> dimensions, std::string_view unit);

  /// The datapoints of one metric whose minute starts in [start_time, end_time),
  /// oldest first (empty if unknown). Dimensions must match exactly (in any order).
  [[nodiscard]] get_metric_statistics_result get(std::string_view metric_namespace, std::string_view metric_name,
                                                 std::span<const metric_dimension> dimensions, timestamp start_time,
                                                 timestamp end_time) const;

  /// Every metric as a JSON array of {"Namespace", "MetricName", "Dimensions":
  /// [{"Name","Value"}], "Unit", "Datapoints": [{"Timestamp", "Sum", "Minimum",
  /// "Maximum", "SampleCount", "Average"}]}, sorted by namespace, name, dimensions.
  [[nodiscard]] std::string to_json() const;

  /// Drops every metric that has one of these dimensions (e.g. a deleted stream's).
  void remove_dimension(const metric_dimension& dimension);

 private:
  friend class metric_series;
  struct impl;
  std::shared_ptr<impl> impl_;  // shared with the metric_series handles
};

}  // namespace rill
