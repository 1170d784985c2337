// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// The Lambda-style mapping's tumbling windows (TumblingWindowInSeconds: state
// carried between invocations, the final invocation per window) and its
// reading through enhanced fan-out (a consumer ARN instead of polling).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "rill/lambda.hpp"
#include "rill/testing.hpp"
#include "seed.hpp"

namespace rill::lambda {
namespace {

using namespace std::chrono_literals;
using rill::testing::stream_builder;
using rill::testing::test_engine;
using rill::testing::value_or_throw;

constexpr const char* kShard0 = "shardId-000000000000";

/// What one invocation looked like.
struct call {
  std::vector<std::string> data;
  std::optional<time_window> window;
  window_state state;
  bool final = false;
  bool early = false;
  std::int32_t attempt = 0;
  std::string shard;
};

call record_call(const kinesis_event& ev) {
  call c{.window = ev.window,
         .state = ev.state,
         .final = ev.is_final_invoke_for_window,
         .early = ev.is_window_terminated_early,
         .attempt = ev.attempt,
         .shard = ev.shard_id};
  for (const auto& r : ev.records) c.data.emplace_back(r.kinesis.data);
  return c;
}

/// A counting function: state["n"] += records of the batch.
function_response count_records(const kinesis_event& ev) {
  window_state s = ev.state;
  s["n"] = std::to_string((s.count("n") ? std::stoi(s["n"]) : 0) + static_cast<int>(ev.records.size()));
  return function_response{.state = s};
}

TEST(LambdaTumblingWindow, StateIsCarriedAndTheWindowEndsExactlyOnTheClock) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const timestamp t0 = e.clock->now();  // 2024-01-01T00:00:00Z: a multiple of 60 s
  for (int i = 0; i < 3; ++i) s.put("k", "a" + std::to_string(i));
  e.advance(10s);
  s.put("k", "a3");
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 2, .tumbling_window = 60s},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             return count_records(ev);
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 2u);
  const time_window w0{t0, t0 + 60s};
  EXPECT_EQ(calls[0].data, (std::vector<std::string>{"a0", "a1"}));
  EXPECT_EQ(calls[0].window, w0);
  EXPECT_TRUE(calls[0].state.empty());
  EXPECT_EQ(calls[1].data, (std::vector<std::string>{"a2", "a3"}));
  EXPECT_EQ(calls[1].state, (window_state{{"n", "2"}}));
  EXPECT_FALSE(calls[1].final);

  // One millisecond before the window's end: still open.
  e.advance(t0 + 60s - 1ms - e.clock->now());
  ASSERT_OK(esm.poll());
  ASSERT_EQ(calls.size(), 2u);
  // At its end: the final invocation, no records, the final state.
  e.advance(1ms);
  ASSERT_OK(esm.poll());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_TRUE(calls[2].final);
  EXPECT_FALSE(calls[2].early);
  EXPECT_TRUE(calls[2].data.empty());
  EXPECT_EQ(calls[2].window, w0);
  EXPECT_EQ(calls[2].state, (window_state{{"n", "4"}}));

  // The next window starts with a fresh state.
  s.put("k", "b0");
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[3].window, (time_window{t0 + 60s, t0 + 120s}));
  EXPECT_TRUE(calls[3].state.empty());
  EXPECT_EQ(esm.stats().records_processed, 5);
}

TEST(LambdaTumblingWindow, ALaterWindowsRecordEndsTheWindowFirstAndBatchesNeverSpanWindows) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const timestamp t0 = e.clock->now();
  s.put("k", "a0");
  e.advance(25s);
  s.put("k", "a1");
  e.advance(5s);  // t0 + 30 s: the next 30 s window
  s.put("k", "b0");
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 100, .tumbling_window = 30s},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             return count_records(ev);
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].data, (std::vector<std::string>{"a0", "a1"}));
  EXPECT_EQ(calls[0].window, (time_window{t0, t0 + 30s}));
  EXPECT_TRUE(calls[1].final);
  EXPECT_EQ(calls[1].state, (window_state{{"n", "2"}}));
  EXPECT_EQ(calls[2].data, (std::vector<std::string>{"b0"}));
  EXPECT_EQ(calls[2].window, (time_window{t0 + 30s, t0 + 60s}));
  EXPECT_TRUE(calls[2].state.empty());
}

TEST(LambdaTumblingWindow, AResponseWithoutStateFailsAndIsRetriedWithTheSameState) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "a0");
  s.put("k", "a1");
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 1, .tumbling_window = 60s},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             if (calls.size() == 2) return function_response{};  // no state: a failure
                             return count_records(ev);
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].data, (std::vector<std::string>{"a1"}));
  EXPECT_EQ(calls[2].data, (std::vector<std::string>{"a1"}));
  EXPECT_EQ(calls[2].attempt, 1);
  EXPECT_EQ(calls[2].state, calls[1].state);
  EXPECT_EQ(calls[2].state, (window_state{{"n", "1"}}));
}

TEST(LambdaTumblingWindow, AStateOverOneMebibyteTerminatesTheWindowEarly) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 3; ++i) s.put("k", "a" + std::to_string(i));
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 1, .tumbling_window = 60s},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             if (ev.records.empty()) return function_response{.state = window_state{}};
                             window_state st = ev.state;
                             // The first batch grows the state past 1 MiB (keys plus values).
                             st["big"] = std::string(calls.size() == 1 ? (1u << 20) : 1u, 'x');
                             return function_response{.state = st};
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0].data, (std::vector<std::string>{"a0"}));
  EXPECT_TRUE(calls[1].final);
  EXPECT_TRUE(calls[1].early);
  EXPECT_EQ(calls[1].state.at("big").size(), 1u << 20);
  // The rest of the same window starts afresh.
  EXPECT_EQ(calls[2].data, (std::vector<std::string>{"a1"}));
  EXPECT_TRUE(calls[2].state.empty());
  EXPECT_EQ(calls[2].window, calls[0].window);
  EXPECT_EQ(calls[3].data, (std::vector<std::string>{"a2"}));
  EXPECT_EQ(calls[3].state, (window_state{{"big", "x"}}));
}

TEST(LambdaTumblingWindow, AShardsEndClosesItsWindowBeforeTheChildrenAreRead) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "parent");
  s.split_in_half(shard_id(0));
  s.put("k", "child");
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 10, .tumbling_window = 900s},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             return count_records(ev);
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].data, (std::vector<std::string>{"parent"}));
  EXPECT_EQ(calls[0].shard, kShard0);
  EXPECT_TRUE(calls[1].final);  // the parent's window closes with the shard
  EXPECT_EQ(calls[1].shard, kShard0);
  EXPECT_EQ(calls[1].state, (window_state{{"n", "1"}}));
  EXPECT_EQ(calls[2].data, (std::vector<std::string>{"child"}));
  EXPECT_NE(calls[2].shard, kShard0);
  EXPECT_TRUE(calls[2].state.empty());  // children start their own windows
}

TEST(LambdaTumblingWindow, OutOfRangeIsRefused) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto fn = [](const kinesis_event&) { return function_response{}; };
  EXPECT_KINESIS_ERROR(event_source_mapping(*e, *e.clock, {.stream_name = "s", .tumbling_window = 901s}, fn).poll(),
                       error_code::invalid_argument_exception);
  EXPECT_KINESIS_ERROR(event_source_mapping(*e, *e.clock, {.stream_name = "s", .tumbling_window = 1500ms}, fn).poll(),
                       error_code::invalid_argument_exception);
}

// --- reading through enhanced fan-out ----------------------------------------------

std::string register_consumer(test_engine& e, const std::string& name) {
  const auto arn = value_or_throw(e->describe_stream_summary({.stream_name = "s"}), "describe")
                       .stream_description_summary.stream_arn;
  return value_or_throw(e->register_stream_consumer({.stream_arn = arn, .consumer_name = name}), "register")
      .consumer.consumer_arn;
}

/// Every invocation as (shard, sequence numbers), for comparing two mappings.
using batch_log = std::vector<std::pair<std::string, std::vector<std::string>>>;

function log_batches(batch_log& out) {
  return [&out](const kinesis_event& ev) {
    std::vector<std::string> seqs;
    for (const auto& r : ev.records) seqs.push_back(r.kinesis.sequence_number.to_string());
    out.emplace_back(ev.shard_id, std::move(seqs));
    return function_response{};
  };
}

TEST(LambdaFanOut, GivesTheSameBatchesAsPollingAcrossASplitAndAMerge) {
  const std::uint64_t seed = rill::testing::test_seed(7);
  std::mt19937_64 rng(seed);
  test_engine e;
  stream_builder s(*e, "s", 2);
  std::int64_t total = 0;
  const auto put_some = [&] {
    const int n = 50 + static_cast<int>(rng() % 200);
    total += n;
    for (int i = 0; i < n; ++i) s.put("k" + std::to_string(rng() % 41), std::to_string(rng()));
  };
  put_some();
  s.split_in_half(shard_id(0));
  put_some();
  e.advance(3s);
  s.merge(shard_id(2), shard_id(3));
  put_some();
  const auto arn = register_consumer(e, "lambda");
  const auto batch = static_cast<std::int32_t>(1 + rng() % 60);
  batch_log polled;
  batch_log pushed;
  event_source_mapping polling(*e, *e.clock, {.stream_name = "s", .batch_size = batch}, log_batches(polled));
  event_source_mapping fanout(*e, *e.clock, {.stream_name = "s", .batch_size = batch, .consumer_arn = arn},
                              log_batches(pushed));
  ASSERT_OK(polling.run_until_caught_up());
  ASSERT_OK(fanout.run_until_caught_up());
  ASSERT_FALSE(polled.empty());
  // Same batches per shard (the order of shards between them may differ: round robin).
  std::map<std::string, std::vector<std::vector<std::string>>> by_shard_polled;
  std::map<std::string, std::vector<std::vector<std::string>>> by_shard_pushed;
  for (auto& [sh, b] : polled) by_shard_polled[sh].push_back(b);
  for (auto& [sh, b] : pushed) by_shard_pushed[sh].push_back(b);
  EXPECT_EQ(by_shard_pushed, by_shard_polled) << "seed " << seed;
  EXPECT_EQ(fanout.checkpoints(), polling.checkpoints());
  EXPECT_EQ(fanout.stats().records_processed, polling.stats().records_processed);
  EXPECT_EQ(polling.stats().records_processed, total);
  EXPECT_GE(by_shard_polled.size(), 4u);  // parents and children
}

TEST(LambdaFanOut, ResubscribesFromItsContinuationAfterTheFiveMinuteLife) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto arn = register_consumer(e, "lambda");
  std::vector<std::string> got;
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .batch_size = 10, .consumer_arn = arn},
                           [&](const kinesis_event& ev) {
                             for (const auto& r : ev.records) got.emplace_back(r.kinesis.data);
                             return function_response{};
                           });
  s.put("k", "1");
  ASSERT_OK(esm.run_until_caught_up());
  e.advance(6min);  // the subscription has ended
  s.put("k", "2");
  s.put("k", "3");
  ASSERT_OK(esm.run_until_caught_up());
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(LambdaFanOut, AnUnknownOrDeregisteredConsumerIsReported) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "1");
  const auto arn = register_consumer(e, "lambda");
  const auto fn = [](const kinesis_event&) { return function_response{}; };
  event_source_mapping esm(*e, *e.clock, {.stream_name = "s", .consumer_arn = arn + "0"}, fn);
  EXPECT_KINESIS_ERROR(esm.run_until_caught_up(), error_code::resource_not_found_exception);
  ASSERT_OK(e->deregister_stream_consumer({.consumer_arn = arn}));
  event_source_mapping gone(*e, *e.clock, {.stream_name = "s", .consumer_arn = arn}, fn);
  EXPECT_KINESIS_ERROR(gone.run_until_caught_up(), error_code::resource_not_found_exception);
}

TEST(LambdaFanOut, TumblingWindowsWorkTheSameOverFanOut) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const auto arn = register_consumer(e, "lambda");
  for (int i = 0; i < 3; ++i) s.put("k", std::to_string(i));
  std::vector<call> calls;
  event_source_mapping esm(*e, *e.clock,
                           {.stream_name = "s", .batch_size = 2, .tumbling_window = 60s, .consumer_arn = arn},
                           [&](const kinesis_event& ev) {
                             calls.push_back(record_call(ev));
                             return count_records(ev);
                           });
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 2u);
  e.advance(60s);
  ASSERT_OK(esm.run_until_caught_up());
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_TRUE(calls[2].final);
  EXPECT_EQ(calls[2].state, (window_state{{"n", "3"}}));
}

}  // namespace
}  // namespace rill::lambda
