// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// wait_until_stream_exists / wait_until_stream_not_exists on both clocks.
#include "rill/waiter.hpp"

#include <gtest/gtest.h>

#include "rill/testing.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::test_engine;

TEST(Waiter, StreamExistsWaitsOutCreatingOnTheManualClock) {
  test_engine e({.create_stream_delay = 25s});
  const timestamp t0 = e.clock->now();
  ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  auto r = wait_until_stream_exists(*e, *e.clock, {.stream_name = "s"});
  ASSERT_OK(r);
  EXPECT_EQ(r->stream_description_summary.stream_status, stream_status::active);
  // Polled at 0, 10, 20 (CREATING) and 30 s (ACTIVE).
  EXPECT_EQ(e.clock->now(), t0 + 30s);
  EXPECT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
}

TEST(Waiter, StreamExistsGivesUpAfterMaxAttempts) {
  test_engine e({.create_stream_delay = 1h});
  ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  auto r = wait_until_stream_exists(*e, *e.clock, {.stream_name = "s"}, {.max_attempts = 3, .delay = 1s});
  ASSERT_KINESIS_ERROR(r, error_code::resource_in_use_exception);
  EXPECT_EQ(r.error().message(), "Waiter StreamExists failed: Max attempts exceeded (stream s is CREATING)");
  auto missing = wait_until_stream_exists(*e, *e.clock, {.stream_name = "nope"}, {.max_attempts = 2, .delay = 1s});
  EXPECT_KINESIS_ERROR(missing, error_code::resource_not_found_exception);
  // Errors other than "not found" end the wait at once.
  auto bad = wait_until_stream_exists(*e, *e.clock, {.stream_name = "bad name!"});
  EXPECT_KINESIS_ERROR(bad, error_code::validation_exception);
}

TEST(Waiter, StreamNotExistsWaitsOutDeleting) {
  test_engine e({.delete_stream_delay = 15s});
  ASSERT_OK(e->create_stream({.stream_name = "s", .shard_count = 1}));
  ASSERT_OK(e->delete_stream({.stream_name = "s"}));
  const timestamp t0 = e.clock->now();
  EXPECT_OK(wait_until_stream_not_exists(*e, *e.clock, {.stream_name = "s"}, {.max_attempts = 5, .delay = 10s}));
  EXPECT_EQ(e.clock->now(), t0 + 20s);
  ASSERT_OK(e->create_stream({.stream_name = "t", .shard_count = 1}));
  auto stays = wait_until_stream_not_exists(*e, *e.clock, {.stream_name = "t"}, {.max_attempts = 2, .delay = 1s});
  EXPECT_KINESIS_ERROR(stays, error_code::resource_in_use_exception);
}

TEST(Waiter, WorksOnTheSystemClock) {
  auto clock = std::make_shared<system_clock>();
  engine e({.clock = clock, .create_stream_delay = 30ms});
  ASSERT_OK(e.create_stream({.stream_name = "s", .shard_count = 1}));
  auto r = wait_until_stream_exists(e, *clock, {.stream_name = "s"}, {.max_attempts = 50, .delay = 10ms});
  ASSERT_OK(r);
  EXPECT_EQ(r->stream_description_summary.stream_status, stream_status::active);
}

}  // namespace
}  // namespace rill
