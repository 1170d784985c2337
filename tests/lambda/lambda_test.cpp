// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// The Lambda-style event source mapping: batching, event shape, bisect, retries,
// record age, ReportBatchItemFailures, ParallelizationFactor, checkpoints.
#include "rill/lambda.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "rill/testing.hpp"
#include "seed.hpp"

namespace rill::lambda {
namespace {

using namespace std::chrono_literals;
using rill::testing::stream_builder;
using rill::testing::test_engine;

TEST(LambdaMapping, BatchesOfBatchSizeWithLambdasEventShape) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::string last_seq;
  for (int i = 0; i < 25; ++i)
    last_seq = s.put("k" + std::to_string(i), "r" + std::to_string(i)).sequence_number.to_string();
  std::vector<std::size_t> sizes;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 10}, [&](const kinesis_event& ev) {
    if (sizes.empty()) {
      // The event's views are valid during the call.
      if (ev.records.empty()) {
        ADD_FAILURE() << "an empty batch";
        return function_response{};
      }
      const auto& r = ev.records[0];
      EXPECT_EQ(r.kinesis.data, "r0");
      EXPECT_EQ(r.kinesis.data_base64(), "cjA=");
      EXPECT_EQ(r.kinesis.partition_key, "k0");
      EXPECT_EQ(r.kinesis.kinesis_schema_version, "1.0");
      EXPECT_EQ(r.event_source, "aws:kinesis");
      EXPECT_EQ(r.event_version, "1.0");
      EXPECT_EQ(r.event_name, "aws:kinesis:record");
      EXPECT_EQ(r.event_id(), "shardId-000000000000:" + r.kinesis.sequence_number.to_string());
      EXPECT_EQ(r.event_source_arn(), "arn:aws:kinesis:us-east-1:000000000000:stream/s");
      EXPECT_EQ(r.aws_region(), "us-east-1");
      EXPECT_DOUBLE_EQ(r.kinesis.approximate_arrival_timestamp, 1704067200.0);
      EXPECT_FALSE(ev.window.has_value());
      EXPECT_FALSE(ev.is_final_invoke_for_window);
    }
    sizes.push_back(ev.records.size());
    return function_response{};
  });
  ASSERT_OK(esm.run_until_caught_up());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
  EXPECT_EQ(esm.checkpoints().at("shardId-000000000000"), last_seq);
  EXPECT_EQ(esm.stats().records_processed, 25);
}

TEST(LambdaMapping, Base64IsStandard) {
  kinesis_data d;
  for (const auto& [raw, b64] : std::vector<std::pair<std::string, std::string>>{
           {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"\xff\xfe", "//4="}}) {
    d.data = raw;
    EXPECT_EQ(d.data_base64(), b64);
  }
}

TEST(LambdaMapping, BatchingWindowWaitsOnTheClock) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<timestamp> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 100, .maximum_batching_window = 5s},
                           [&](const kinesis_event&) {
                             calls.push_back(e.clock->now());
                             return function_response{};
                           });
  s.put("k", "a");
  const timestamp t0 = e.clock->now();
  ASSERT_OK(esm.poll());
  EXPECT_TRUE(calls.empty());
  e.advance(4s);
  ASSERT_OK(esm.poll());
  EXPECT_TRUE(calls.empty());
  e.advance(1s);
  ASSERT_OK(esm.poll());
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], t0 + 5s);
}

TEST(LambdaMapping, BisectIsolatesAPoisonRecordAndTheRestProceed) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 16; ++i) s.put("k", i == 11 ? "poison" : std::to_string(i));
  std::vector<std::string> processed;
  std::vector<failure_record> failures;
  event_source_mapping esm(*e, *e.clock,
                           {.stream_name = "s",
                            .batch_size = 16,
                            .bisect_batch_on_function_error = true,
                            .maximum_retry_attempts = 10,
                            .on_failure = [&](const failure_record& f) { failures.push_back(f); }},
                           [&](const kinesis_event& ev) {
                             for (const auto& r : ev.records) {
                               if (r.kinesis.data == "poison") return function_response{.function_error = true};
                             }
                             for (const auto& r : ev.records) processed.emplace_back(r.kinesis.data);
                             return function_response{};
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].batch_size, 1);
  EXPECT_EQ(failures[0].condition, "RetryAttemptsExhausted");
  EXPECT_EQ(failures[0].start_sequence_number, failures[0].end_sequence_number);
  EXPECT_EQ(failures[0].shard_id, "shardId-000000000000");
  std::vector<std::string> want;
  for (int i = 0; i < 16; ++i) {
    if (i != 11) want.push_back(std::to_string(i));
  }
  EXPECT_EQ(processed, want);  // in order, everything but the poison
}

TEST(LambdaMapping, RetriesAreCountedExactly) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "a");
  s.put("k", "b");
  int calls = 0;
  std::vector<failure_record> failures;
  event_source_mapping esm(*e, *e.clock,
                           {.stream_name = "s",
                            .maximum_retry_attempts = 2,
                            .on_failure = [&](const failure_record& f) { failures.push_back(f); }},
                           [&](const kinesis_event& ev) {
                             EXPECT_EQ(ev.attempt, calls);
                             ++calls;
                             return function_response{.function_error = true};
                           });
  ASSERT_OK(esm.run_until_caught_up());
  EXPECT_EQ(calls, 3);  // the first try and 2 retries
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].batch_size, 2);
  EXPECT_EQ(failures[0].approximate_invoke_count, 3);
  EXPECT_EQ(esm.stats().records_failed, 2);
}

TEST(LambdaMapping, RecordAgeIsHonouredOnTheClock) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "old");
  e.advance(30s);
  s.put("k", "young");
  int calls = 0;
  std::vector<failure_record> failures;
  std::vector<std::string> last;
  event_source_mapping esm(*e, *e.clock,
                           {.stream_name = "s",
                            .maximum_record_age_in_seconds = 60,
                            .on_failure = [&](const failure_record& f) { failures.push_back(f); }},
                           [&](const kinesis_event& ev) {
                             ++calls;
                             last.clear();
                             for (const auto& r : ev.records) last.emplace_back(r.kinesis.data);
                             if (calls < 4) {
                               e.advance(10s);  // each failing try takes 10 s
                               return function_response{.function_error = true};
                             }
                             return function_response{};
                           });
  ASSERT_OK(esm.run_until_caught_up());
  // Tries at 30, 40 and 50 s of "old"'s age fail; at exactly 60 s it is not yet
  // past the age, so the 4th try (which succeeds) still carries both.
  ASSERT_EQ(calls, 4);
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(last, (std::vector<std::string>{"old", "young"}));

  // With one more failure, "old" passes 60 s and goes to the destination alone.
  test_engine e2;
  stream_builder s2(*e2, "s", 1);
  s2.put("k", "old");
  e2.advance(30s);
  s2.put("k", "young");
  calls = 0;
  last.clear();
  event_source_mapping esm2(*e2, *e2.clock,
                            {.stream_name = "s",
                             .maximum_record_age_in_seconds = 60,
                             .on_failure = [&](const failure_record& f) { failures.push_back(f); }},
                            [&](const kinesis_event& ev) {
                              ++calls;
                              last.clear();
                              for (const auto& r : ev.records) last.emplace_back(r.kinesis.data);
                              if (calls < 5) {
                                e2.advance(10s);
                                return function_response{.function_error = true};
                              }
                              return function_response{};
                            });
  ASSERT_OK(esm2.run_until_caught_up());
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_EQ(failures[0].condition, "RecordAgeExceeded");
  EXPECT_EQ(failures[0].batch_size, 1);
  EXPECT_EQ(last, (std::vector<std::string>{"young"}));
}

TEST(LambdaMapping, ReportBatchItemFailuresCheckpointsBeforeTheLowestFailure) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  std::vector<std::string> seqs;
  for (int i = 0; i < 6; ++i) seqs.push_back(s.put("k", std::to_string(i)).sequence_number.to_string());
  std::vector<std::vector<std::string>> batches;
  std::map<std::string, std::string> checkpoint_at_second_call;
  event_source_mapping* self = nullptr;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 6, .report_batch_item_failures = true},
                           [&](const kinesis_event& ev) {
                             std::vector<std::string> b;
                             for (const auto& r : ev.records) b.emplace_back(r.kinesis.data);
                             batches.push_back(b);
                             if (batches.size() == 1) {
                               // Items 4 and 2 fail: retry from 2.
                               return function_response{.batch_item_failures = {seqs[4], seqs[2]}};
                             }
                             checkpoint_at_second_call = self->checkpoints();
                             return function_response{};
                           });
  self = &esm;
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[1], (std::vector<std::string>{"2", "3", "4", "5"}));
  EXPECT_EQ(checkpoint_at_second_call.at("shardId-000000000000"), seqs[1]);  // just before "2"
  EXPECT_EQ(esm.checkpoints().at("shardId-000000000000"), seqs[5]);
  EXPECT_EQ(esm.stats().records_processed, 6);
}

TEST(LambdaMapping, ParallelizationFactorTenKeepsPerKeyOrder) {
  const std::uint64_t seed = rill::testing::test_seed(4242);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 2);
  std::map<std::string, int> next_put;
  for (int i = 0; i < 600; ++i) {
    const std::string key = "k" + std::to_string(rng() % 37);
    s.put(key, std::to_string(next_put[key]++));
  }
  std::map<std::string, int> next_seen;
  int batches = 0;
  event_source_mapping esm(
      *e, *e.clock, {.stream_name = "s", .batch_size = 50, .parallelization_factor = 10}, [&](const kinesis_event& ev) {
        ++batches;
        for (const auto& r : ev.records) {
          EXPECT_EQ(std::stoi(std::string(r.kinesis.data)), next_seen[std::string(r.kinesis.partition_key)]++);
        }
        return function_response{};
      });
  ASSERT_OK(esm.run_until_caught_up());
  EXPECT_EQ(next_seen, next_put);
  EXPECT_GT(batches, 12);  // batches were split by key
}

TEST(LambdaMapping, InitialCheckpointsSkipWhatWasProcessed) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 5; ++i) s.put("k", std::to_string(i));
  std::map<std::string, std::string> cp;
  {
    event_source_mapping esm(*e, *e.clock, {.stream_name = "s"},
                             [](const kinesis_event&) { return function_response{}; });
    ASSERT_OK(esm.run_until_caught_up());
    cp = esm.checkpoints();
  }
  for (int i = 5; i < 8; ++i) s.put("k", std::to_string(i));
  std::vector<std::string> got;
  event_source_mapping again(*e, *e.clock, {.stream_name = "s", .initial_checkpoints = cp},
                             [&](const kinesis_event& ev) {
                               for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
                               return function_response{};
                             });
  ASSERT_OK(again.run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"5", "6", "7"}));
}

TEST(LambdaMapping, InvalidOptionsAreReported) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto fn = [](const kinesis_event&) { return function_response{}; };
  EXPECT_KINESIS_ERROR(event_source_mapping(*e, *e.clock, {.stream_name = "s", .batch_size = 0}, fn).poll(),
                       error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(
      event_source_mapping(*e, *e.clock, {.stream_name = "s", .parallelization_factor = 11}, fn).poll(),
      error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(
      event_source_mapping(*e, *e.clock, {.stream_name = "s", .maximum_record_age_in_seconds = 59}, fn).poll(),
      error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(event_source_mapping(*e, *e.clock, {.stream_name = "nope"}, fn).poll(),
                       error_code::resource_not_found_exception);
}

}  // namespace
}  // namespace rill::lambda
