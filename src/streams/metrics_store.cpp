// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "streams/metrics_store.hpp"

namespace rill::detail {
namespace {

constexpr std::array<metric_info, kStreamMetrics> kStream = {{
    {"IncomingBytes", "Bytes"},
    {"IncomingRecords", "Count"},
    {"PutRecord.Bytes", "Bytes"},
    {"PutRecord.Latency", "Milliseconds"},
    {"PutRecord.Success", "Count"},
    {"PutRecords.Bytes", "Bytes"},
    {"PutRecords.Records", "Count"},
    {"PutRecords.SuccessfulRecords", "Count"},
    {"PutRecords.FailedRecords", "Count"},
    {"PutRecords.ThrottledRecords", "Count"},
    {"PutRecords.TotalRecords", "Count"},
    {"PutRecords.Latency", "Milliseconds"},
    {"PutRecords.Success", "Count"},
    {"GetRecords.Bytes", "Bytes"},
    {"GetRecords.Records", "Count"},
    {"GetRecords.Latency", "Milliseconds"},
    {"GetRecords.Success", "Count"},
    {"GetRecords.IteratorAgeMilliseconds", "Milliseconds"},
    {"ReadProvisionedThroughputExceeded", "Count"},
    {"WriteProvisionedThroughputExceeded", "Count"},
}};

constexpr std::array<metric_info, kShardMetrics> kShard = {{
    {"IncomingBytes", "Bytes"},
    {"IncomingRecords", "Count"},
    {"OutgoingBytes", "Bytes"},
    {"OutgoingRecords", "Count"},
    {"IteratorAgeMilliseconds", "Milliseconds"},
    {"ReadProvisionedThroughputExceeded", "Count"},
    {"WriteProvisionedThroughputExceeded", "Count"},
}};

}  // namespace

const metric_info& info(stream_metric m) { return kStream[static_cast<std::size_t>(m)]; }
const metric_info& info(shard_metric m) { return kShard[static_cast<std::size_t>(m)]; }

std::optional<stream_metric> stream_metric_named(std::string_view name) {
  for (std::size_t i = 0; i < kStream.size(); ++i) {
    if (kStream[i].name == name) return static_cast<stream_metric>(i);
  }
  return std::nullopt;
}

std::optional<shard_metric> shard_metric_named(std::string_view name) {
  for (std::size_t i = 0; i < kShard.size(); ++i) {
    if (kShard[i].name == name) return static_cast<shard_metric>(i);
  }
  return std::nullopt;
}

std::string_view enhanced_name(shard_metric m) { return info(m).name; }

}  // namespace rill::detail
