// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Injected faults, for testing clients against the failures real Kinesis
// produces: a seeded plan makes chosen calls fail with InternalFailure or
// ProvisionedThroughputExceededException (per entry for PutRecords), or take
// longer on the engine's clock. For a given seed and a given order of calls
// the outcome is always the same. Off unless a plan is installed.
//
//   rill::fault_plan plan{.seed = 42};
//   plan.rules.push_back({.operation = "PutRecords", .probability = 0.1});     // 10% of entries fail
//   plan.rules.push_back({.operation = "GetRecords", .schedule = {3, 4}});     // the 3rd and 4th calls fail
//   plan.rules.push_back({.operation = "PutRecord", .action = rill::fault_action::delay,
//                         .latency = std::chrono::seconds(2)});                 // every call takes 2 s
//   engine.set_fault_plan(plan);
//
// AWS FIS's Kinesis actions have factories below: a share of PutRecord,
// PutRecords (per entry) and GetRecords calls throttled, and GetRecords on
// iterators issued before the action refused with ExpiredIteratorException,
// for a while (FIS's duration) or until the plan is replaced:
//
//   plan.rules.push_back(rill::fis_provisioned_throughput_exception("PutRecords", 25.0, std::chrono::minutes(5)));
//   plan.rules.push_back(rill::fis_expired_iterator_exception(100.0));
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill {

enum class fault_action : std::uint8_t {
  /// The call (or, for PutRecords, the entry) fails with `error`. Nothing of
  /// it is stored.
  fail,
  /// The call completes `latency` later on the engine's clock. On a
  /// system_clock the calling thread waits that long. The engine never waits
  /// where the wait could not end or would stall the clock: on a manual_clock
  /// (time moves only when the test calls advance()) and inside a task of a
  /// rill scheduler (it would wait on the clock that runs it), the delay is
  /// recorded (counted and logged at debug level) and the call goes on at
  /// once. So a delay fault never hangs a single-threaded test or advance().
  delay,
  /// GetRecords only: a call whose iterator was issued before the plan was
  /// installed fails with ExpiredIteratorException (AWS FIS
  /// aws:kinesis:inject-api-expired-iterator-exception). Iterators issued
  /// after it work; a fresh GetShardIterator is the way out, as on AWS.
  expire_iterators,
};

struct fault_rule {
  /// The AWS operation name ("PutRecords", "GetRecords", "ListShards", …), or "*".
  std::string operation = "*";
  /// Only calls on this stream; any stream when absent.
  std::optional<std::string> stream_name{};
  fault_action action = fault_action::fail;
  /// For fail: normally InternalFailure or ProvisionedThroughputExceededException.
  rill::error_code error = error_code::internal_failure;
  /// For delay.
  duration latency{0};
  /// Chance that a matching call (for PutRecords: each entry) is hit.
  double probability = 1.0;
  /// If not empty: exactly these 1-based ordinals of the matching calls (for
  /// PutRecords: of the matching entries) are hit, and `probability` is ignored.
  std::vector<std::uint64_t> schedule{};
  /// For PutRecords with fail: true fails entries one by one (FailedRecordCount,
  /// ErrorCode per entry); false fails the whole request.
  bool per_entry = true;
  /// How long the rule acts, on the engine's clock, from set_fault_plan()
  /// (FIS's duration); zero: until the plan is replaced.
  duration active_for{0};
};

/// AWS FIS aws:kinesis:inject-api-provisioned-throughput-exception: `percentage`
/// (0..100, FIS's intensity) of the calls of `operation` ("PutRecord",
/// "PutRecords", "GetRecords") fail with ProvisionedThroughputExceededException;
/// for PutRecords, entry by entry, and once an entry of a shard is refused the
/// later entries of that shard in the request are too (as real throttling).
/// Throws std::invalid_argument for another operation or a percentage outside 0..100.
inline fault_rule fis_provisioned_throughput_exception(std::string operation, double percentage,
                                                       duration active_for = duration{0},
                                                       std::optional<std::string> stream_name = std::nullopt) {
  if (operation != "PutRecord" && operation != "PutRecords" && operation != "GetRecords") {
    throw std::invalid_argument("rill: FIS throughput faults apply to PutRecord, PutRecords and GetRecords only");
  }
  if (!(percentage >= 0.0 && percentage <= 100.0)) throw std::invalid_argument("rill: percentage must be 0..100");
  fault_rule r;
  r.operation = std::move(operation);
  r.stream_name = std::move(stream_name);
  r.action = fault_action::fail;
  r.error = error_code::provisioned_throughput_exceeded_exception;
  r.probability = percentage / 100.0;
  r.active_for = active_for;
  return r;
}

/// AWS FIS aws:kinesis:inject-api-expired-iterator-exception: `percentage`
/// (0..100) of the GetRecords calls whose iterator was issued before the plan
/// was installed fail with ExpiredIteratorException.
/// Throws std::invalid_argument for a percentage outside 0..100.
inline fault_rule fis_expired_iterator_exception(double percentage, duration active_for = duration{0},
                                                 std::optional<std::string> stream_name = std::nullopt) {
  if (!(percentage >= 0.0 && percentage <= 100.0)) throw std::invalid_argument("rill: percentage must be 0..100");
  fault_rule r;
  r.operation = "GetRecords";
  r.stream_name = std::move(stream_name);
  r.action = fault_action::expire_iterators;
  r.error = error_code::expired_iterator_exception;
  r.probability = percentage / 100.0;
  r.active_for = active_for;
  return r;
}

struct fault_plan {
  std::uint64_t seed = 0;
  std::vector<fault_rule> rules{};
};

}  // namespace rill
