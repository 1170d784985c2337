// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The in-process Kinesis engine. Start here: construct an `engine`, then call
// the operations of `rill::kinesis` (kinesis.hpp) on it.
//
//   auto clock = std::make_shared<rill::manual_clock>();
//   rill::engine kinesis({.clock = clock});
//   (void)kinesis.create_stream({.stream_name = "clicks", .shard_count = 4});
//   auto put = kinesis.put_record({.stream_name = "clicks", .data = "hello",
//                                  .partition_key = "user-1"});
//   if (!put) std::cerr << put.error() << "\n";
//
// Thread safety: every public method may be called from any thread,
// concurrently. Writes to different shards do not contend on a common lock;
// resharding briefly excludes writers of the stream it changes.
//
// Background work (retention trimming, status transitions) runs on a scheduler
// made from the engine's clock: a Boost.Asio thread for `system_clock`, inside
// `manual_clock::advance()` for the manual clock.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rill/clock.hpp"
#include "rill/encryption.hpp"
#include "rill/faults.hpp"
#include "rill/file_system.hpp"
#include "rill/kinesis.hpp"
#include "rill/limits.hpp"
#include "rill/metrics.hpp"
#include "rill/storage.hpp"

namespace rill {

/// Enhanced fan-out (see kinesis.hpp: subscription).
struct fanout_options {
  /// How long a consumer stays CREATING and DELETING. Zero: the transition
  /// happens inside the call.
  duration register_consumer_delay{0};
  duration deregister_consumer_delay{0};
  /// Consumers per stream, and CREATING at once per stream (Kinesis: 20, 5).
  std::int32_t max_consumers_per_stream = 20;
  std::int32_t max_creating_consumers = 5;
  /// A subscription's life, and the takeover rule (Kinesis: 5 minutes, 5 s).
  duration subscription_lifetime = std::chrono::minutes(5);
  duration takeover_after = std::chrono::seconds(5);
  /// An event without records is produced when none was for this long.
  duration heartbeat_interval = std::chrono::seconds(1);
  /// Per (consumer, shard) pipe when the stream's throughput limits are enabled.
  std::int64_t pipe_bytes_per_second = 2 << 20;
};

struct engine_options {
  /// The clock for everything time-dependent. Default: a system_clock.
  std::shared_ptr<rill::clock> clock{};
  /// Where shards keep records. Default: make_memory_storage().
  std::shared_ptr<rill::storage> storage{};

  /// Used in ARNs and error messages.
  std::string region = "us-east-1";
  std::string account_id = "000000000000";

  /// How long a stream stays CREATING, UPDATING (after split, merge,
  /// update_shard_count, update_stream_mode) and DELETING. Zero (the default)
  /// makes the transitions happen inside the call.
  duration create_stream_delay{0};
  duration update_stream_delay{0};
  duration delete_stream_delay{0};

  /// Open shards of PROVISIONED streams allowed across the engine (the
  /// account shard quota; AWS does not count on-demand streams' shards).
  std::int32_t shard_limit = 20'000;
  /// On-demand streams allowed at once.
  std::int32_t on_demand_stream_count_limit = 50;

  /// How often expired records and shards are released. Expired records are
  /// unreadable at once whatever this is; this only bounds how long their
  /// memory lingers.
  duration trim_interval = std::chrono::minutes(1);

  /// All of AWS's limits at once: as configured below (default), enforced at
  /// AWS's values, or reported (counted and logged) without being enforced.
  /// See limits_mode.
  limits_mode limits = limits_mode::as_configured;
  /// Per-shard read and write limits for every stream (off by default);
  /// engine::set_stream_throughput() overrides them for one stream.
  throughput_limits throughput{};
  /// Control-plane rates and quotas (off by default).
  control_plane_limits control_plane{};
  /// How ON_DEMAND streams split their hot shards.
  on_demand_scaling on_demand{};
  /// CloudWatch-style metrics.
  metrics_options metrics{};

  /// Key for authenticating shard iterators and pagination tokens. Empty: 32
  /// random bytes. Engines with different keys reject each other's tokens.
  std::string token_key{};

  // --- Durable streams (see docs/storage.md) ----------------------------------

  /// A folder that makes the engine durable: streams, shards, lineage,
  /// statuses, retention, tags, mode, throughput, encryption state (in
  /// `MANIFEST`) and every unexpired record (in segment files under
  /// `streams/`) survive a restart, and sequence numbers keep increasing. One
  /// live engine per folder (an advisory lock on `LOCK`). Empty (the
  /// default): everything lives in memory and `storage` applies.
  std::string data_directory{};
  /// When put_record / put_records make records durable (data_directory only).
  rill::sync_policy sync = sync_policy::none;
  /// The period of sync_policy::interval, on the engine's clock.
  duration sync_interval{1000};
  /// Size at which a shard's segment file is sealed and a new one started.
  std::size_t segment_bytes = 64u << 20;
  /// All file access of a durable engine. Default: posix_file_system().
  std::shared_ptr<rill::file_system> file_system{};
  /// Gives the data keys of streams under start_stream_encryption. A durable
  /// engine needs one to encrypt (else KMSNotFoundException); an in-memory
  /// engine without one treats encryption as a flag and accepts any key id.
  std::shared_ptr<rill::key_provider> key_provider{};
  /// Enhanced fan-out.
  fanout_options fanout{};
};

/// An in-process Kinesis Data Streams.
class engine final : public kinesis {
 public:
  /// An engine. With `data_directory` set it opens (or creates) that folder and
  /// throws bad_result_access if it cannot; use engine::open to get that error
  /// as a value.
  /// Throws std::invalid_argument if `options.throughput` holds a rate or
  /// size below 1 (a misconfiguration, not a request error). Any rate up to
  /// INT64_MAX is valid; rates above about 9.2e15 per second mean "unlimited".
  explicit engine(engine_options options = {});
  /// Opens an engine, durable when `data_directory` is set: recovers the
  /// manifest and every shard's log (cutting torn tails, rebuilding stale
  /// indexes), removes files of shards the manifest does not know (a crash
  /// during a control-plane call), and finishes interrupted transitions
  /// (CREATING streams activate, DELETING ones go, UPDATING ones become ACTIVE
  /// without their pending change). Errors: InternalFailure naming the folder
  /// or file (locked by another engine, unreadable, corrupt).
  static result<std::unique_ptr<engine>> open(engine_options options);
  /// Stops background work and drops every stream. No call may be in flight.
  ~engine() override;
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  result<void> create_stream(const create_stream_request& req) override;
  result<void> delete_stream(const delete_stream_request& req) override;
  result<list_streams_result> list_streams(const list_streams_request& req) override;
  result<describe_stream_result> describe_stream(const describe_stream_request& req) override;
  result<describe_stream_summary_result> describe_stream_summary(const describe_stream_summary_request& req) override;
  result<list_shards_result> list_shards(const list_shards_request& req) override;
  result<void> increase_stream_retention_period(const update_retention_period_request& req) override;
  result<void> decrease_stream_retention_period(const update_retention_period_request& req) override;
  result<void> add_tags_to_stream(const add_tags_to_stream_request& req) override;
  result<void> remove_tags_from_stream(const remove_tags_from_stream_request& req) override;
  result<list_tags_for_stream_result> list_tags_for_stream(const list_tags_for_stream_request& req) override;
  result<void> split_shard(const split_shard_request& req) override;
  result<void> merge_shards(const merge_shards_request& req) override;
  result<update_shard_count_result> update_shard_count(const update_shard_count_request& req) override;
  result<void> update_stream_mode(const update_stream_mode_request& req) override;
  result<enhanced_monitoring_result> enable_enhanced_monitoring(const enhanced_monitoring_request& req) override;
  result<enhanced_monitoring_result> disable_enhanced_monitoring(const enhanced_monitoring_request& req) override;
  result<describe_limits_result> describe_limits() override;
  result<void> start_stream_encryption(const stream_encryption_request& req) override;
  result<void> stop_stream_encryption(const stream_encryption_request& req) override;
  result<void> update_max_record_size(const update_max_record_size_request& req) override;
  result<void> tag_resource(const tag_resource_request& req) override;
  result<void> untag_resource(const untag_resource_request& req) override;
  result<list_tags_for_resource_result> list_tags_for_resource(const list_tags_for_resource_request& req) override;
  result<void> put_resource_policy(const put_resource_policy_request& req) override;
  result<get_resource_policy_result> get_resource_policy(const get_resource_policy_request& req) override;
  result<void> delete_resource_policy(const delete_resource_policy_request& req) override;

  result<put_record_result> put_record(const put_record_request& req) override;
  result<put_records_result> put_records(const put_records_request& req) override;
  result<get_shard_iterator_result> get_shard_iterator(const get_shard_iterator_request& req) override;
  result<get_records_result> get_records(const get_records_request& req) override;

  result<register_stream_consumer_result> register_stream_consumer(
      const register_stream_consumer_request& req) override;
  result<describe_stream_consumer_result> describe_stream_consumer(
      const describe_stream_consumer_request& req) override;
  result<list_stream_consumers_result> list_stream_consumers(const list_stream_consumers_request& req) override;
  result<void> deregister_stream_consumer(const deregister_stream_consumer_request& req) override;
  result<std::shared_ptr<subscription>> subscribe_to_shard(const subscribe_to_shard_request& req) override;

  // --- Beyond the Kinesis API -------------------------------------------------

  /// The engine's clock.
  [[nodiscard]] rill::clock& clock() const noexcept;
  /// The options the engine was made with (clock and storage filled in).
  [[nodiscard]] const engine_options& options() const noexcept;
  /// The registry the components above the engine (producer, consumer,
  /// delivery streams, server) record their metrics into; part of metrics_json().
  [[nodiscard]] std::shared_ptr<metrics_registry> metrics() const noexcept;
  /// Releases expired records and shards now (the scheduler also does this
  /// every trim_interval).
  void trim_expired();

  /// Replaces one stream's per-shard throughput limits (engine_options::throughput
  /// applies to streams without an override). Buckets restart full.
  /// Errors: ResourceNotFoundException, ValidationException for a rate below 1.
  result<void> set_stream_throughput(const std::string& stream_name, const throughput_limits& limits);

  /// Installs a fault plan, replacing the previous one; an empty plan turns
  /// injection off. Ordinals of `schedule` count from this call.
  void set_fault_plan(fault_plan plan);

  /// The per-minute statistics of one metric (see metrics.hpp).
  /// Errors: ResourceNotFoundException (stream), InvalidArgumentException
  /// (unknown metric, or a shard metric without shard_id and vice versa).
  result<get_metric_statistics_result> get_metric_statistics(const get_metric_statistics_request& req) const;

  /// Every metric datapoint in the window as JSON, in the shape of CloudWatch's
  /// GetMetricData: {"Namespace": "AWS/Kinesis", "Metrics": [{"MetricName",
  /// "Dimensions", "Unit", "Datapoints": [{"Timestamp", "Sum", "Minimum",
  /// "Maximum", "SampleCount", "Average"}]}], "Components": [the registry's
  /// metrics, see metrics_registry::to_json()]}.
  [[nodiscard]] std::string metrics_json() const;

 private:
  struct defer_open {};
  engine(engine_options options, defer_open);
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
