// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A producer in the manner of the Kinesis Producer Library (KPL): a service
// hands it user records and forgets them; the producer predicts each record's
// shard, packs records bound for the same shard into KPL aggregated records
// (rill/kpl.hpp), collects those into PutRecords calls, paces each shard with a
// token bucket, retries throttled and failed records with backoff until their
// time to live runs out, and tells the caller the outcome through a future or a
// callback. It is written against `rill::kinesis` only, so the same producer
// drives the in-process engine or any other implementation of the interface.
//
//   rill::producer p(kinesis, {.clock = clock});
//   auto f = p.add_user_record({.stream_name = "clicks", .partition_key = "user-1", .data = "hello"});
//   p.flush();
//   rill::user_record_result r = f.get();   // r.successful, r.shard_id, r.sequence_number, r.attempts
//
// Time: every timer (RecordMaxBufferedTime, backoff, token-bucket refill,
// RecordTtl, shard-map refresh) runs on schedulers made from the configured
// clock. PutRecords calls run on up to MaxConnections schedulers of that clock
// (worker threads on a system_clock); on a manual_clock all of it runs inside
// manual_clock::advance(), so a test is deterministic.
//
// Configuration keys are the KPL's (AggregationMaxSize -> aggregation_max_size)
// with its defaults and ranges; producer_configuration::from_properties() reads
// a KPL default_config.properties file. docs/producer.md has the full table.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"
#include "rill/metrics.hpp"
#include "rill/types.hpp"

namespace rill {

/// What add_user_record does when the outstanding bound is reached.
enum class back_pressure_mode : std::uint8_t {
  /// Wait until enough outstanding records finish (never on a manual clock's
  /// advancing thread: nothing would finish).
  block,
  /// Return LimitExceededException at once.
  fail,
};

/// The KPL configuration (names in snake_case, defaults and ranges of KPL 1.0.7,
/// durations in milliseconds as the KPL counts them), plus rill's own settings
/// at the end. validate() checks every range.
struct producer_configuration {
  /// Pack user records bound for the same shard into one aggregated record.
  bool aggregation_enabled = true;
  /// Max user records per aggregated record (1..2^63-1).
  std::uint64_t aggregation_max_count = 4294967295ULL;
  /// Max bytes per aggregated record (64..10485760); a larger user record goes alone.
  std::uint64_t aggregation_max_size = 51200;
  /// Max Kinesis records per PutRecords (1..500).
  std::uint64_t collection_max_count = 500;
  /// Max bytes (data + partition keys) per PutRecords (52224..2^63-1; Kinesis takes 5 MiB).
  std::uint64_t collection_max_size = 5242880;
  /// Longest a record waits in the producer's buffers before it is sent (0..2^63-1 ms).
  std::uint64_t record_max_buffered_time = 100;
  /// A record not put within this time fails with "Expired" (100..2^63-1 ms).
  std::uint64_t record_ttl = 30000;
  /// Fail (do not retry) records throttled with ProvisionedThroughputExceededException.
  bool fail_if_throttled = false;
  /// Per-shard pacing as a percentage of the shard limits (1..2^63-1; 150 lets
  /// one producer saturate a shard).
  std::uint64_t rate_limit = 150;
  /// Max PutRecords calls in flight at once (1..256).
  std::uint64_t max_connections = 24;
  /// Accepted for compatibility (1..16): rill makes senders on demand.
  std::uint64_t min_connections = 1;
  /// Accepted for compatibility (100..600000 ms): the rill::kinesis call decides its own timeouts.
  std::uint64_t request_timeout = 6000;
  /// Accepted for compatibility (100..300000 ms).
  std::uint64_t connect_timeout = 6000;
  /// Max data bytes of one user record (64..10485760).
  std::uint64_t max_user_record_size = 1048576;
  /// "none", "summary" or "detailed".
  std::string metrics_level = "detailed";
  /// "global", "stream" or "shard".
  std::string metrics_granularity = "shard";
  /// CloudWatch namespace of the metrics; must not start with "AWS/".
  std::string metrics_namespace = "KinesisProducerLibrary";
  /// Accepted for compatibility (1..60000 ms): the registry keeps per-minute statistics itself.
  std::uint64_t metrics_upload_delay = 60000;
  /// "info", "warning" or "error": the level of rill's logger for the producer's messages.
  std::string log_level = "info";

  // --- rill's own settings ----------------------------------------------------

  /// The clock of every timer (use the engine's). Null: a system_clock.
  std::shared_ptr<rill::clock> clock{};
  /// Where the metrics go (e.g. engine::metrics()). Null: none.
  std::shared_ptr<metrics_registry> metrics{};
  /// Back-pressure: outstanding user records (buffered or in flight) and their
  /// data bytes past which add_user_record blocks or fails.
  std::uint64_t max_outstanding_records = 1'000'000;
  std::uint64_t max_outstanding_bytes = 1ULL << 30;
  back_pressure_mode back_pressure = back_pressure_mode::block;
  /// Backoff before a failed record is sent again: the first retry waits
  /// retry_backoff_base ms, each further one twice as long, at most retry_backoff_max ms.
  std::uint64_t retry_backoff_base = 100;
  std::uint64_t retry_backoff_max = 2000;

  /// Checks every range and name. Errors: InvalidArgumentException naming the key.
  [[nodiscard]] result<void> validate() const;

  /// Parses the text of a KPL properties file such as the KPL's
  /// default_config.properties (`Key = Value` lines, `#` and `!` comments),
  /// starting from the defaults. (rill reads no files itself: pass the file's text.) Keys of the KPL that configure a
  /// connection (Region, KinesisEndpoint, …) are accepted and ignored; an unknown key or a value that does not parse or
  /// validate is an InvalidArgumentException naming the line.
  [[nodiscard]] static result<producer_configuration> from_properties(std::string_view text);
};

/// One try at putting a user record.
struct attempt {
  /// When the PutRecords call carrying the record started.
  timestamp start{};
  /// Time from the record's arrival (first attempt) or the previous attempt's end to this attempt's start.
  rill::duration delay{0};
  /// How long the call took.
  rill::duration duration{0};
  bool success = false;
  /// An AWS error name ("ProvisionedThroughputExceededException",
  /// "InternalFailure", …) or one of the KPL's: "Expired", "Wrong Shard",
  /// "Record Count Mismatch", plus rill's "Shutdown". Empty on success.
  std::string error_code{};
  std::string error_message{};
};

/// The outcome of one user record.
struct user_record_result {
  bool successful = false;
  std::optional<rill::shard_id> shard_id{};
  /// The Kinesis record's sequence number (shared by every member of an aggregate).
  std::optional<rill::sequence_number> sequence_number{};
  /// The record's position in its aggregate, as a deaggregating consumer sees it
  /// (0 if sent alone). The KPL does not report it; rill does.
  std::uint64_t sub_sequence_number = 0;
  /// Every attempt, in order; the last one decided the outcome.
  std::vector<attempt> attempts{};
};

struct user_record_request {
  /// Required (1..128 characters).
  std::string stream_name{};
  /// Required: 1..256 characters (UTF-16 code units), valid UTF-8.
  std::string_view partition_key{};
  /// At most max_user_record_size bytes.
  std::string_view data{};
  /// Decimal in [0, 2^128-1]; overrides MD5(partition_key) for routing.
  std::optional<std::string_view> explicit_hash_key{};
};

/// Called once per record with its outcome, on a producer thread (inside
/// manual_clock::advance() on a manual clock). It must not block; it may call
/// add_user_record (with back_pressure_mode::fail) and flush.
using user_record_callback = std::function<void(const user_record_result&)>;

/// The producer.
///
/// Thread safety: every method may be called from any thread concurrently.
/// Ownership: `kinesis` must outlive the producer; request views are copied
/// before add_user_record returns (the caller's buffers may die at once).
class producer {
 public:
  /// Validates the configuration. Throws std::invalid_argument if it is invalid
  /// (a broken invariant of the caller): check with validate() first, or use make().
  producer(rill::kinesis& kinesis, producer_configuration config = {});
  /// A producer, or InvalidArgumentException for an invalid configuration.
  [[nodiscard]] static result<std::unique_ptr<producer>> make(rill::kinesis& kinesis,
                                                              producer_configuration config = {});
  /// shutdown().
  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  /// Queues a user record. The future resolves with the outcome (success, or a
  /// failure after retries: "Expired", FailIfThrottled, "Shutdown"). Errors at
  /// once (nothing queued): ValidationException (stream name, partition key,
  /// data size), InvalidArgumentException (explicit hash key),
  /// LimitExceededException (outstanding bound with back_pressure_mode::fail),
  /// ResourceInUseException (after shutdown()). The first record of a stream
  /// lists its shards (ListShards) in the caller's thread.
  [[nodiscard]] result<std::future<user_record_result>> add_user_record(const user_record_request& request);
  /// The same, delivering the outcome to `callback` instead (null: nobody is told;
  /// the outcome still counts in the metrics).
  result<void> add_user_record(const user_record_request& request, user_record_callback callback);

  /// Sends every buffered record of every stream now (records held by the rate
  /// limiter or waiting for a retry stay until their turn). Non-blocking.
  void flush();
  /// As flush() for one stream.
  void flush(std::string_view stream_name);
  /// Flushes and waits until no record is outstanding. On a manual clock, call
  /// it from a thread other than the one advancing the clock.
  void flush_sync();

  /// User records added and not yet finished (buffered, waiting or in flight).
  [[nodiscard]] std::uint64_t outstanding_records_count() const;
  /// Their data bytes.
  [[nodiscard]] std::uint64_t outstanding_bytes() const;

  /// Stops the producer: refuses new records, waits for PutRecords calls in
  /// flight (their records finish normally) and fails every other outstanding
  /// record with "Shutdown". Call flush_sync() first for a graceful stop.
  /// Idempotent. Must not be called from a callback.
  void shutdown();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace rill
