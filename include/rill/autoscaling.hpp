// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Auto-scaling for PROVISIONED streams, as a library object: what AWS users
// build from CloudWatch alarms and a Lambda that calls UpdateShardCount.
//
// Every `evaluation_interval` the autoscaler reads the stream's offered load
// over the last `evaluation_period`: IncomingBytes and IncomingRecords plus the
// records refused by throttling (WriteProvisionedThroughputExceeded), so a
// saturated stream is seen as the load it is refused, not capped at capacity.
// Utilization is the larger of bytes/s and records/s as a fraction of the open
// shards' write capacity. Outside the cooldowns it asks for
//     ceil(open shards × utilization / target_utilization)
// shards — when scaling out, at least `scale_out_step` more, since each change
// spends one of the stream's daily UpdateShardCount calls — clamped to
// [min_shards, max_shards] and to what one UpdateShardCount call may do (half
// to double). It scales out when utilization exceeds the target and in only
// when it is below `scale_in_utilization`. A refused UpdateShardCount is
// recorded and retried after the scale-out cooldown.
//
//   auto scaler = rill::autoscaler::start(engine, {.stream_name = "clicks", .max_shards = 32});
//   if (!scaler) ...;   // ResourceNotFoundException, ValidationException, InvalidArgumentException
//   ... (*scaler)->history() lists every decision.
//
// Thread safety: start() and the destructor from any thread; history() and
// evaluate_now() from any thread, concurrently with the background runs.
// The engine must outlive the autoscaler.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rill/engine.hpp"

namespace rill {

struct autoscaling_policy {
  std::string stream_name{};
  /// Utilization to aim for, in (0, 1].
  double target_utilization = 0.7;
  /// Scale in only below this utilization (hysteresis), in [0, target).
  double scale_in_utilization = 0.3;
  /// A scale-out adds at least this fraction of the open shards (≥ 0).
  double scale_out_step = 0.5;
  std::int32_t min_shards = 1;
  std::int32_t max_shards = 64;
  /// The traffic averaged (whole minutes, ≥ 1 minute).
  duration evaluation_period = std::chrono::minutes(5);
  duration evaluation_interval = std::chrono::minutes(1);
  /// Quiet time after a change before the next scale-out; a scale-in also
  /// waits this long after any change (and after start).
  duration scale_out_cooldown = std::chrono::minutes(5);
  duration scale_in_cooldown = std::chrono::minutes(15);
  /// One shard's write capacity (Kinesis: 1 MiB/s and 1000 records/s).
  std::int64_t shard_write_bytes_per_second = 1 << 20;
  std::int64_t shard_write_records_per_second = 1000;
};

struct scaling_decision {
  timestamp at{};
  std::int32_t from_shards = 0;
  std::int32_t to_shards = 0;
  double utilization = 0;
  /// Empty if UpdateShardCount succeeded; otherwise its error.
  std::string error{};
};

class autoscaler {
 public:
  /// Validates the policy and starts evaluating on the engine's clock.
  /// Errors: ValidationException (policy), ResourceNotFoundException (stream),
  /// InvalidArgumentException (ON_DEMAND stream, or the engine's metrics off).
  static result<std::unique_ptr<autoscaler>> start(engine& e, autoscaling_policy policy);
  ~autoscaler();
  autoscaler(const autoscaler&) = delete;
  autoscaler& operator=(const autoscaler&) = delete;

  /// Evaluates once now (the background runs do the same).
  void evaluate_now();
  /// Every change asked for, oldest first.
  [[nodiscard]] std::vector<scaling_decision> history() const;

 private:
  struct impl;
  explicit autoscaler(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
