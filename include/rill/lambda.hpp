// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A batch consumer modelled on AWS Lambda's Kinesis event source mapping,
// written against `rill::kinesis` only (it reads with rill::stream_reader, so
// it follows shard lineage: parents before children).
//
//   rill::lambda::event_source_mapping esm(kinesis, clock, {.stream_name = "clicks", .batch_size = 100},
//       [](const rill::lambda::kinesis_event& ev) {
//         for (const auto& r : ev.records) handle(r.kinesis.data);
//         return rill::lambda::function_response{};
//       });
//   while (running) esm.poll();          // or esm.run_until_caught_up() in tests
//
// Semantics (docs/fanout.md, "Lambda-style event source mapping"):
//   * Records of a shard are buffered until batch_size are there or
//     maximum_batching_window has passed since the first (0: at once); a batch
//     never spans shards.
//   * parallelization_factor N splits a shard's batch into N batches by
//     partition key (MD5 hash mod N), so a key's records stay in order.
//   * A function error retries the batch up to maximum_retry_attempts (-1:
//     until the records expire or exceed maximum_record_age_in_seconds); with
//     bisect_batch_on_function_error it is split in halves first, so a poison
//     record ends up alone. A batch that runs out of retries or age goes to
//     on_failure with Lambda's metadata, and processing moves on.
//   * report_batch_item_failures: the function names failed records by
//     sequence number; the checkpoint lands just before the lowest one and the
//     records from it on are retried.
//   * Checkpoints (the last processed sequence number of each shard) are kept in
//     the mapping's own in-memory store (checkpoints()); a new mapping given
//     them as `initial_checkpoints` skips what was processed.
//   * Retries and record age run on the injected clock, inside poll().
//
// Thread safety: one thread calls poll() at a time; the function and on_failure
// run on that thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"

namespace rill {
class stream_reader;
}

namespace rill::lambda {

/// The `kinesis` object of a record in the event a function receives.
struct kinesis_data {
  std::string kinesis_schema_version = "1.0";
  std::string partition_key{};
  std::string sequence_number{};
  /// Raw bytes (Lambda hands them base64-encoded: see data_base64()).
  std::string data{};
  /// Seconds since the epoch with milliseconds, as Lambda's JSON has it.
  double approximate_arrival_timestamp = 0;
  /// For KPL-deaggregated records: the position within the aggregate.
  std::optional<std::uint64_t> sub_sequence_number{};

  /// `data` in standard base64 (what Lambda's JSON carries).
  [[nodiscard]] std::string data_base64() const;
};

/// One record of the event (Lambda's KinesisEventRecord).
struct kinesis_event_record {
  rill::lambda::kinesis_data kinesis{};
  std::string event_source = "aws:kinesis";
  std::string event_version = "1.0";
  /// "<shard id>:<sequence number>".
  std::string event_id{};
  std::string event_name = "aws:kinesis:record";
  std::string invoke_identity_arn{};
  std::string aws_region{};
  std::string event_source_arn{};
};

struct kinesis_event {
  std::vector<kinesis_event_record> records{};
  /// The shard the batch comes from.
  std::string shard_id{};
  /// Zero-based attempt number of this batch (0: first try).
  std::int32_t attempt = 0;
};

struct function_response {
  /// The invocation failed as a whole (as a thrown error or timeout would).
  bool function_error = false;
  /// With report_batch_item_failures: the sequence numbers of failed records
  /// (Lambda's batchItemFailures[].itemIdentifier).
  std::vector<std::string> batch_item_failures{};
};

using function = std::function<function_response(const kinesis_event&)>;

/// What Lambda sends to an on-failure destination (requestContext and
/// KinesisBatchInfo).
struct failure_record {
  /// "RetryAttemptsExhausted" or "RecordAgeExceeded".
  std::string condition{};
  std::string shard_id{};
  std::string start_sequence_number{};
  std::string end_sequence_number{};
  timestamp approximate_arrival_of_first_record{};
  timestamp approximate_arrival_of_last_record{};
  std::int32_t batch_size = 0;
  std::string stream_arn{};
  /// Attempts made (invocations of this batch).
  std::int32_t approximate_invoke_count = 0;
};

struct event_source_mapping_options {
  /// The stream, by name or ARN.
  std::optional<std::string> stream_name{};
  std::optional<std::string> stream_arn{};
  /// 1..10000.
  std::int32_t batch_size = 100;
  /// 0..300 s.
  duration maximum_batching_window{0};
  /// TRIM_HORIZON, LATEST or AT_TIMESTAMP (with starting_position_timestamp).
  shard_iterator_type starting_position = shard_iterator_type::trim_horizon;
  std::optional<timestamp> starting_position_timestamp{};
  /// 1..10.
  std::int32_t parallelization_factor = 1;
  bool bisect_batch_on_function_error = false;
  /// -1 (until the record expires) or 0..10000.
  std::int32_t maximum_retry_attempts = -1;
  /// -1 (none) or 60..604800.
  std::int32_t maximum_record_age_in_seconds = -1;
  /// FunctionResponseTypes = ["ReportBatchItemFailures"].
  bool report_batch_item_failures = false;
  /// Split KPL aggregated records into their user records.
  bool deaggregate = false;
  /// The on-failure destination (none: failed batches are skipped after logging).
  std::function<void(const failure_record&)> on_failure{};
  /// Checkpoints of an earlier mapping (shard id → last processed sequence number).
  std::map<std::string, std::string> initial_checkpoints{};
  /// Used in the event records.
  std::string aws_region = "us-east-1";
};

/// Counters, for tests and benchmarks.
struct event_source_mapping_stats {
  std::int64_t invocations = 0;
  std::int64_t records_processed = 0;
  std::int64_t records_failed = 0;
};

class event_source_mapping {
 public:
  /// Errors in the options are reported by poll() (InvalidArgumentException /
  /// ValidationException). `client` and `clock` must outlive the mapping.
  event_source_mapping(kinesis& client, rill::clock& clock, event_source_mapping_options options, function fn);
  ~event_source_mapping();
  event_source_mapping(const event_source_mapping&) = delete;
  event_source_mapping& operator=(const event_source_mapping&) = delete;

  /// One GetRecords call (on the next ready shard), then every batch that is
  /// ready is invoked (with its retries). Errors: the options' validation
  /// error, or the service's (e.g. ProvisionedThroughputExceededException:
  /// call again later; nothing is lost).
  result<void> poll();
  /// poll() until every shard is caught up and no records are buffered
  /// (batching windows are waited out on the clock). For tests and batch jobs.
  result<void> run_until_caught_up();

  /// Last processed sequence number per shard.
  [[nodiscard]] const std::map<std::string, std::string>& checkpoints() const noexcept { return checkpoints_; }
  [[nodiscard]] const event_source_mapping_stats& stats() const noexcept { return stats_; }

 private:
  struct pending_shard;
  struct item;
  result<void> validate() const;
  void flush(pending_shard& p, timestamp now, bool force);
  void process(const std::string& shard, std::vector<item> batch);
  void fail(const std::string& shard, const std::vector<item>& batch, const char* condition, std::int32_t invokes);
  kinesis_event make_event(const std::string& shard, const std::vector<item>& batch, std::int32_t attempt) const;

  kinesis& client_;
  rill::clock& clock_;
  event_source_mapping_options opt_;
  function fn_;
  std::unique_ptr<stream_reader> reader_;
  std::string stream_arn_;
  std::map<std::string, std::unique_ptr<pending_shard>> pending_;
  std::map<std::string, std::string> checkpoints_;
  event_source_mapping_stats stats_{};
};

}  // namespace rill::lambda
