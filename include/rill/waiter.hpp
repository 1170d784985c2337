// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Waiters, as the AWS SDKs have them: poll a describe call until a stream
// reaches a state, sleeping on a `rill::clock` between attempts, so the same
// code waits seconds on the system clock and no wall time at all on a
// manual_clock (whose default sleep policy moves time; see clock.hpp).
//
//   auto clock = std::make_shared<rill::manual_clock>();
//   rill::engine kinesis({.clock = clock, .create_stream_delay = std::chrono::seconds(30)});
//   (void)kinesis.create_stream({.stream_name = "clicks", .shard_count = 2});
//   auto active = rill::wait_until_stream_exists(kinesis, *clock, {.stream_name = "clicks"});
//
// The defaults are the SDKs': StreamExists and StreamNotExists poll
// DescribeStream every 10 s, at most 18 times.
//
// Thread safety: the functions are reentrant; they block the calling thread
// in clock::sleep_for between attempts.
#pragma once

#include <cstdint>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"

namespace rill {

struct waiter_options {
  /// Calls of the describe operation, the first one immediately (≥ 1).
  std::int32_t max_attempts = 18;
  /// Sleep between attempts, on the given clock.
  duration delay = std::chrono::seconds(10);
};

/// Polls describe_stream_summary until the stream is ACTIVE; returns that
/// description. A missing stream (ResourceNotFoundException) is polled again,
/// as the SDK's StreamExists waiter does. Errors: after max_attempts, the last
/// error (ResourceNotFoundException) or, for a stream still in another state,
/// ResourceInUseException "Waiter StreamExists failed: Max attempts exceeded
/// (stream ... is CREATING)"; any other error of the call at once.
result<describe_stream_summary_result> wait_until_stream_exists(kinesis& client, clock& clock,
                                                                const describe_stream_summary_request& req,
                                                                waiter_options options = {});

/// Polls describe_stream_summary until it returns ResourceNotFoundException.
/// Errors: ResourceInUseException "Waiter StreamNotExists failed: Max attempts
/// exceeded ..." if the stream is still there after max_attempts; any other
/// error of the call at once.
result<void> wait_until_stream_not_exists(kinesis& client, clock& clock, const describe_stream_summary_request& req,
                                          waiter_options options = {});

}  // namespace rill
