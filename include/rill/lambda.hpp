// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A batch consumer modelled on AWS Lambda's Kinesis event source mapping,
// written against `rill::kinesis` only. It follows shard lineage (parents
// before children) and reads with GetRecords, or through enhanced fan-out
// (SubscribeToShard) when given a consumer ARN. Events view the bytes of the
// GetRecords results / fan-out events (no per-record copies).
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
//   * Checkpoints live in a KCL lease table (rill/lease.hpp): one lease per
//     shard, keyed "<mapping_uuid>:<shard id>", written after every batch
//     (success, on_failure, the ReportBatchItemFailures position) and set to
//     SHARD_END when a closed shard is done; children start only after their
//     parents are at SHARD_END in the table. A mapping given the same
//     `lease_store` and `mapping_uuid` resumes after the stored checkpoints.
//     Without a lease_store the mapping keeps an in-memory table of its own.
//     A second live instance with the same identity gets
//     ResourceInUseException until the first releases its leases (destructor)
//     or stops renewing them for more than failover_time (then it takes them
//     over).
//   * tumbling_window: state carried between the invocations of a window,
//     then a final invocation per window and shard (is_final_invoke_for_window).
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
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"
#include "rill/lease.hpp"

namespace rill::lambda {

/// The `kinesis` object of a record in the event a function receives. Its
/// views (partition_key, data) are valid during the invocation only: copy what
/// you keep.
struct kinesis_data {
  static constexpr std::string_view kinesis_schema_version = "1.0";
  std::string_view partition_key{};
  /// Lambda's `sequenceNumber` (as text: sequence_number.to_string()).
  rill::sequence_number sequence_number{};
  /// Raw bytes (Lambda hands them base64-encoded: see data_base64()).
  std::string_view data{};
  /// Seconds since the epoch with milliseconds, as Lambda's JSON has it.
  double approximate_arrival_timestamp = 0;
  /// For KPL-deaggregated records: the position within the aggregate.
  std::optional<std::uint64_t> sub_sequence_number{};

  /// `data` in standard base64 (what Lambda's JSON carries).
  [[nodiscard]] std::string data_base64() const;
};

/// What the records of one shard share (Lambda repeats it in every record).
struct event_source_info {
  std::string shard_id{};
  std::string aws_region{};
  std::string event_source_arn{};
  std::string invoke_identity_arn{};
};

/// One record of the event (Lambda's KinesisEventRecord). The constant fields
/// are static members, the per-shard ones read through `source` (so a record
/// is small: the batch path writes each once); valid during the invocation only.
struct kinesis_event_record {
  rill::lambda::kinesis_data kinesis{};
  static constexpr std::string_view event_source = "aws:kinesis";
  static constexpr std::string_view event_version = "1.0";
  static constexpr std::string_view event_name = "aws:kinesis:record";
  /// The mapping's, for the shard the record comes from.
  const event_source_info* source = nullptr;

  [[nodiscard]] std::string_view shard_id() const noexcept { return source ? source->shard_id : std::string_view(); }
  [[nodiscard]] std::string_view aws_region() const noexcept {
    return source ? source->aws_region : std::string_view();
  }
  [[nodiscard]] std::string_view event_source_arn() const noexcept {
    return source ? source->event_source_arn : std::string_view();
  }
  [[nodiscard]] std::string_view invoke_identity_arn() const noexcept {
    return source ? source->invoke_identity_arn : std::string_view();
  }
  /// Lambda's `eventID`: "<shard id>:<sequence number>" (made on each call).
  [[nodiscard]] std::string event_id() const;
};

/// A tumbling window: [start, end), aligned to multiples of its length since
/// the epoch, by the records' approximate arrival timestamps.
struct time_window {
  timestamp start{};
  timestamp end{};
  friend bool operator==(const time_window&, const time_window&) = default;
};

/// The state a function carries between the invocations of one window (Lambda's
/// `state`: a JSON object of strings for Java's TimeWindowEventResponse).
using window_state = std::map<std::string, std::string>;

/// The event of one invocation. The function receives it by const reference;
/// it (its records, and the bytes they view) is valid during the call only.
struct kinesis_event {
  /// The batch, in order (views the mapping's buffer: no copy per invocation).
  std::span<const kinesis_event_record> records{};
  /// The shard the batch comes from.
  std::string shard_id{};
  /// Zero-based attempt number of this batch (0: first try).
  std::int32_t attempt = 0;
  /// With tumbling_window: the window of every record of the batch.
  std::optional<time_window> window{};
  /// With tumbling_window: the state the function returned last in this window
  /// (empty at the window's first invocation).
  window_state state{};
  /// The window has ended: no records, `state` is the window's final state to act on.
  bool is_final_invoke_for_window = false;
  /// With is_final_invoke_for_window: the window ended early because the state
  /// grew beyond 1 MiB (keys plus values); the window's later records start afresh.
  bool is_window_terminated_early = false;
};

struct function_response {
  /// The invocation failed as a whole (as a thrown error or timeout would).
  bool function_error = false;
  /// With report_batch_item_failures: the sequence numbers of failed records
  /// (Lambda's batchItemFailures[].itemIdentifier). An identifier that is not a
  /// sequence number of the batch fails the whole batch, as on Lambda.
  std::vector<std::string> batch_item_failures{};
  /// With tumbling_window: the state to carry to the next invocation of the
  /// window. Required: a response without it is a failed invocation (as on Lambda).
  std::optional<window_state> state{};
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
  /// Checkpoints of an earlier mapping (shard id → last processed sequence
  /// number). They seed the lease table: a shard whose lease has no sequence
  /// checkpoint yet (absent, or at TRIM_HORIZON / LATEST / AT_TIMESTAMP) starts
  /// after the given one; a checkpoint already in the table wins over it.
  std::map<std::string, std::string> initial_checkpoints{};
  /// Used in the event records.
  std::string aws_region = "us-east-1";
  /// TumblingWindowInSeconds, 0..900 s (0: off). Records are grouped into
  /// windows by arrival time; the function's returned `state` is handed to the
  /// next invocation of the same window and shard; after the window's last
  /// records a final invocation (no records, is_final_invoke_for_window) gets
  /// the final state. See docs/fanout.md.
  duration tumbling_window{0};
  /// Read through enhanced fan-out (Lambda's StartingPosition plus a stream
  /// consumer ARN as EventSourceArn): one SubscribeToShard pipe per shard,
  /// instead of GetRecords polling. The consumer must be ACTIVE.
  std::optional<std::string> consumer_arn{};
  /// Where checkpoints live: the KCL lease table (rill/lease.hpp:
  /// make_memory_lease_store, make_file_lease_store, or your own backend),
  /// shared with later mappings of the same identity. Null: an in-memory
  /// table of this mapping's own (gone with it). Ownership: shared.
  std::shared_ptr<rill::kcl::lease_store> lease_store{};
  /// The mapping's identity, as Lambda keys a mapping's state by its UUID:
  /// lease keys are "<mapping_uuid>:<shard id>" (just the shard id when
  /// empty), so mappings with different UUIDs share a table without touching
  /// each other's leases. Required (non-empty) with lease_store.
  std::string mapping_uuid{};
  /// The instance holding the leases (leaseOwner). Empty: "<mapping_uuid>-"
  /// plus 16 random hex digits, unique per instance. A new instance with the
  /// identifier of a crashed one takes its leases back at once (as the KCL).
  std::string worker_identifier{};
  /// A lease held by another instance is taken over once its leaseCounter has
  /// not moved for more than this long on this mapping's clock (the KCL's
  /// rule for failoverTimeMillis);
  /// held leases are renewed every failover_time / 3, inside poll().
  duration failover_time{10'000};
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
  /// Nothing is read or written before the first poll().
  event_source_mapping(kinesis& client, rill::clock& clock, event_source_mapping_options options, function fn);
  /// Releases the leases this instance holds (leaseOwner removed, checkpoints
  /// kept), so a successor takes them at once; a store failure here is logged.
  ~event_source_mapping();
  event_source_mapping(const event_source_mapping&) = delete;
  event_source_mapping& operator=(const event_source_mapping&) = delete;

  /// One GetRecords call (with consumer_arn: one non-blocking read of the
  /// shard's fan-out subscription) on the next ready shard, then every batch
  /// that is ready is invoked (with its retries), and every tumbling window
  /// that has ended gets its final invocation. Errors: the options' validation
  /// error, or the service's (e.g. ProvisionedThroughputExceededException, or
  /// ResourceInUseException from SubscribeToShard: call again later; nothing
  /// is lost). Lease table errors: ResourceInUseException when a shard's
  /// lease is held by another live instance of the same mapping (call again:
  /// it is taken over once expired), or when this instance lost a lease to
  /// another (sticky: this instance stops, a new one resumes from the table);
  /// the store's own error (e.g. InternalFailure) when a checkpoint could not
  /// be written: the records stay checkpointed in memory, the write is retried
  /// first thing at the next poll() and nothing more is read until it succeeds,
  /// so nothing is skipped (a restart may see the unwritten batch again).
  result<void> poll();
  /// poll() until every shard is caught up and no records are buffered
  /// (batching windows are waited out on the clock). For tests and batch jobs.
  result<void> run_until_caught_up();

  /// Last processed sequence number per shard (also those resumed from the
  /// lease table). The table holds the same, plus SHARD_END for ended shards.
  [[nodiscard]] const std::map<std::string, std::string>& checkpoints() const noexcept { return checkpoints_; }
  [[nodiscard]] const event_source_mapping_stats& stats() const noexcept { return stats_; }

 private:
  struct pending_shard;
  class feed;
  using batch_view = std::span<const kinesis_event_record>;
  result<void> validate() const;
  void flush(pending_shard& p, timestamp now, bool force);
  void process(pending_shard& p, batch_view batch);
  void fail(const std::string& shard, batch_view batch, const char* condition, std::int32_t invokes);
  void fill_event(const pending_shard& p, batch_view batch, std::int32_t attempt);
  bool invoke_final(pending_shard& p);
  [[nodiscard]] time_window window_of(timestamp t) const;
  // The lease table (src/consumer/lambda/lambda.cpp, "checkpoints").
  /// A lease this instance holds: its copy as last written (the expectation of
  /// the next conditional write); dirty: l.checkpoint is not in the table yet.
  struct held_lease {
    kcl::lease l{};
    bool dirty = false;
  };
  /// Where the feed starts a shard.
  struct start_point {
    bool finished = false;               // SHARD_END in the table
    std::optional<std::string> after{};  // the stored checkpoint
    bool inclusive = false;              // read AT it (it may be inside a KPL aggregate)
  };
  [[nodiscard]] std::string lease_key(std::string_view shard) const;
  result<std::optional<kcl::lease>> stored_lease(const shard_id& shard);
  result<start_point> acquire(const rill::shard& info, bool parent_read);
  void advance(pending_shard& p, const kinesis_event_record& last);
  bool write_checkpoint(const std::string& shard, held_lease& h);
  void end_shard(pending_shard& p);
  result<void> maintain_leases(timestamp now);
  void lose(const std::string& shard);
  void release_lease(const std::string& shard);

  kinesis& client_;
  rill::clock& clock_;
  event_source_mapping_options opt_;
  function fn_;
  std::unique_ptr<feed> feed_;
  kinesis_event event_;  // reused between invocations
  std::string stream_arn_;
  std::map<std::string, std::unique_ptr<pending_shard>> pending_;
  std::map<std::string, std::string> checkpoints_;
  event_source_mapping_stats stats_{};
  std::shared_ptr<kcl::lease_store> store_;
  std::string owner_;
  std::map<std::string, held_lease> held_;                              // by shard id
  std::set<shard_id> ended_;                                            // SHARD_END in the table
  std::map<std::string, std::pair<std::int64_t, timestamp>> observed_;  // others' leases: counter, since
  std::optional<timestamp> last_renewal_{};
  std::optional<error> store_error_{};    // the first store failure of this poll()
  std::optional<error> lost_{};           // sticky: a lease was taken by another instance
  bool retry_writes_ = false;             // a checkpoint write failed: retry before reading
  std::uint64_t empty_reads_behind_ = 0;  // reads with no records, not at the shard's tip
  bool ends_due_ = false;                 // a shard has ended: SHARD_END to write once it is drained
};

}  // namespace rill::lambda
