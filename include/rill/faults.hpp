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
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
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
};

struct fault_plan {
  std::uint64_t seed = 0;
  std::vector<fault_rule> rules{};
};

}  // namespace rill
