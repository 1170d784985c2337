// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Where a KinesisStreamAsSource delivery stream gets its records: the
// `record_source` seam, and a built-in reader over `rill::kinesis` that polls
// every shard, follows resharding (children after their parents) and keeps a
// checkpoint per shard. A KCL-style consumer can replace the built-in reader by
// implementing `record_source`.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delivery/file_system.hpp"
#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"

namespace rill::delivery {

/// One record read from a stream (owned copies).
struct source_record {
  std::string data{};
  timestamp approximate_arrival_timestamp{};
  std::string shard_id{};
  std::string partition_key{};
  std::string sequence_number{};
};

struct poll_result {
  std::vector<source_record> records{};
  /// The largest MillisBehindLatest of this poll.
  std::int64_t millis_behind_latest = 0;
  std::int64_t throttled_get_records = 0;
};

/// A source of records with at-least-once acknowledgement.
///
/// Thread safety: one caller at a time (the delivery stream calls it under its lock).
class record_source {
 public:
  virtual ~record_source() = default;
  /// Reads what is available now (one GetRecords per shard). Transient errors
  /// (throttling, expired iterators, a missing stream) are retried on the next poll.
  virtual poll_result poll() = 0;
  /// Every record of `shard_id` up to and including `sequence_number` reached
  /// its final place: the reader may resume after it.
  virtual void checkpoint(const std::string& shard_id, const std::string& sequence_number) = 0;
  /// When reading started.
  [[nodiscard]] virtual timestamp start_timestamp() const = 0;
};

/// The built-in reader. Starts at LATEST (as Firehose does), and at
/// TRIM_HORIZON on shards born after the start. With a non-empty
/// `checkpoint_file`, the start time and the checkpoints are persisted through
/// `fs` (JSON: {"start": <epoch ms>, "shards": {"shardId-…": "<sequence number>"
/// | "SHARD_END"}}) and read back when a reader starts: shards with a
/// checkpoint resume after it, others at the stored start (AT_TIMESTAMP).
std::unique_ptr<record_source> make_kinesis_reader(std::shared_ptr<kinesis> kinesis, std::string stream_arn,
                                                   timestamp now, std::shared_ptr<file_system> fs,
                                                   std::filesystem::path checkpoint_file);

}  // namespace rill::delivery
