// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// CloudWatch-style metrics, injected faults and the "rill" logger.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "builder.hpp"
#include "rill/logging.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

get_metric_statistics_result stats(rill::engine& e, const std::string& stream, const std::string& metric,
                                   std::optional<std::string> shard = std::nullopt) {
  auto r = e.get_metric_statistics({.stream_name = stream,
                                    .shard_id = shard,
                                    .metric_name = metric,
                                    .start_time = timestamp::min(),
                                    .end_time = timestamp::max()});
  if (!r) throw std::runtime_error(r.error().to_string());
  return *r;
}

double sum(const get_metric_statistics_result& r) {
  double total = 0;
  for (const auto& p : r.datapoints) total += p.sum;
  return total;
}

TEST(Metrics, PutsAndGetsAreCountedPerMinute) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  const std::vector<std::string> keys = {"a", "b", "c", "d"};
  put_records_request req{.stream_name = "s"};
  for (const auto& k : keys) req.records.push_back({.data = "12345", .partition_key = k});
  RILL_ASSERT_OK(e->put_records(req));
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "xyz", .partition_key = "k"}));
  e.clock->advance(1min);
  RILL_ASSERT_OK(e->put_records(req));

  auto incoming = stats(*e, "s", "IncomingRecords");
  EXPECT_EQ(incoming.unit, "Count");
  ASSERT_EQ(incoming.datapoints.size(), 2u);  // two minutes
  EXPECT_EQ(incoming.datapoints[0].sum, 5);
  EXPECT_EQ(incoming.datapoints[0].sample_count, 2);  // one sample per call
  EXPECT_EQ(incoming.datapoints[0].maximum, 4);
  EXPECT_EQ(incoming.datapoints[0].minimum, 1);
  EXPECT_EQ(incoming.datapoints[1].timestamp - incoming.datapoints[0].timestamp, 1min);
  EXPECT_EQ(sum(stats(*e, "s", "IncomingBytes")), 2 * 4 * (5 + 1) + 4);
  EXPECT_EQ(sum(stats(*e, "s", "PutRecords.TotalRecords")), 8);
  EXPECT_EQ(sum(stats(*e, "s", "PutRecords.SuccessfulRecords")), 8);
  EXPECT_EQ(stats(*e, "s", "PutRecords.Success").datapoints[0].average(), 1.0);
  EXPECT_EQ(sum(stats(*e, "s", "PutRecord.Bytes")), 4);
  EXPECT_EQ(stats(*e, "s", "PutRecord.Latency").unit, "Milliseconds");

  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
  RILL_ASSERT_OK(r);
  EXPECT_EQ(sum(stats(*e, "s", "GetRecords.Records")), static_cast<double>(r->records.size()));
  EXPECT_EQ(sum(stats(*e, "s", "GetRecords.Success")), 1);
  // Window: only minutes asked for.
  auto window = e->get_metric_statistics({.stream_name = "s",
                                          .metric_name = "IncomingRecords",
                                          .start_time = e.clock->now() - 30s,
                                          .end_time = e.clock->now() + 1min});
  RILL_ASSERT_OK(window);
  EXPECT_EQ(window->datapoints.size(), 1u);
}

TEST(Metrics, ShardLevelMetricsOnlyWhileEnhancedMonitoringIsOn) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "before");
  EXPECT_TRUE(stats(*e, "s", "IncomingRecords", "shardId-000000000000").datapoints.empty());
  auto on =
      e->enable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"IncomingRecords", "OutgoingBytes"}});
  RILL_ASSERT_OK(on);
  EXPECT_TRUE(on->current_shard_level_metrics.empty());
  EXPECT_EQ(on->desired_shard_level_metrics, (std::vector<std::string>{"IncomingRecords", "OutgoingBytes"}));
  s.put("k", "after");
  EXPECT_EQ(sum(stats(*e, "s", "IncomingRecords", "shardId-000000000000")), 1);
  EXPECT_TRUE(stats(*e, "s", "IncomingBytes", "shardId-000000000000").datapoints.empty());
  RILL_ASSERT_OK(e->get_records({.shard_iterator = s.iterator(shard_id(0))}));
  EXPECT_EQ(sum(stats(*e, "s", "OutgoingBytes", "shardId-000000000000")), 2 * 1 + 6 + 5);
  auto all = e->enable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"ALL"}});
  RILL_ASSERT_OK(all);
  EXPECT_EQ(all->desired_shard_level_metrics.size(), 7u);
  auto d = e->describe_stream({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description.enhanced_monitoring[0].shard_level_metrics.size(), 7u);
  auto off = e->disable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"ALL"}});
  RILL_ASSERT_OK(off);
  EXPECT_TRUE(off->desired_shard_level_metrics.empty());
  RILL_EXPECT_ERROR(e->enable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"Bogus"}}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->get_metric_statistics({.stream_name = "s", .metric_name = "Bogus"}),
                    error_code::invalid_argument_exception);
}

TEST(Metrics, ThrottlingIsCounted) {
  engine_options o;
  o.throughput.enabled = true;
  o.throughput.write_records_per_second = 3;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  const std::vector<std::string> keys = {"a", "b", "c", "d", "e"};
  put_records_request req{.stream_name = "s"};
  for (const auto& k : keys) req.records.push_back({.data = "x", .partition_key = k});
  auto r = e->put_records(req);
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->failed_record_count, 2);
  EXPECT_EQ(sum(stats(*e, "s", "PutRecords.ThrottledRecords")), 2);
  EXPECT_EQ(sum(stats(*e, "s", "WriteProvisionedThroughputExceeded")), 2);
  EXPECT_EQ(sum(stats(*e, "s", "IncomingRecords")), 3);
  const auto it = s.iterator(shard_id(0));
  for (int i = 0; i < 6; ++i) (void)e->get_records({.shard_iterator = it});
  EXPECT_EQ(sum(stats(*e, "s", "ReadProvisionedThroughputExceeded")), 1);
  EXPECT_EQ(stats(*e, "s", "ReadProvisionedThroughputExceeded").datapoints[0].sample_count, 6);
}

TEST(Metrics, OffMeansNothingIsRecorded) {
  engine_options o;
  o.metrics.enabled = false;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  s.put("k", "x");
  EXPECT_TRUE(stats(*e, "s", "IncomingRecords").datapoints.empty());
}

TEST(Metrics, OldMinutesLeaveTheWindow) {
  engine_options o;
  o.metrics.window = 10min;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  s.put("k", "x");
  e.clock->advance(5min);
  s.put("k", "x");
  EXPECT_EQ(stats(*e, "s", "IncomingRecords").datapoints.size(), 2u);
  e.clock->advance(10min);
  s.put("k", "x");
  EXPECT_EQ(stats(*e, "s", "IncomingRecords").datapoints.size(), 1u);
}

TEST(Metrics, ExportAsCloudWatchShapedJson) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  RILL_ASSERT_OK(e->enable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"IncomingBytes"}}));
  s.put("k", "hello");
  auto doc = nlohmann::json::parse(e->metrics_json());
  EXPECT_EQ(doc["Namespace"], "AWS/Kinesis");
  bool stream_level = false;
  bool shard_level = false;
  for (const auto& m : doc["Metrics"]) {
    if (m["MetricName"] != "IncomingBytes") continue;
    ASSERT_EQ(m["Datapoints"].size(), 1u);
    EXPECT_EQ(m["Datapoints"][0]["Sum"], 6.0);
    EXPECT_EQ(m["Datapoints"][0]["Timestamp"], "2024-01-01T00:00:00Z");
    EXPECT_EQ(m["Unit"], "Bytes");
    if (m["Dimensions"].size() == 1) stream_level = true;
    if (m["Dimensions"].size() == 2) {
      shard_level = true;
      EXPECT_EQ(m["Dimensions"][1]["Value"], "shardId-000000000000");
    }
  }
  EXPECT_TRUE(stream_level);
  EXPECT_TRUE(shard_level);
}

// --- faults --------------------------------------------------------------------

std::vector<bool> entry_outcomes(std::uint64_t seed) {
  test_engine e;
  stream_builder s(*e, "s", 2);
  e->set_fault_plan({.seed = seed, .rules = {{.operation = "PutRecords", .probability = 0.3}}});
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back(std::to_string(i));
  put_records_request req{.stream_name = "s"};
  for (const auto& k : keys) req.records.push_back({.data = k, .partition_key = k});
  auto r = e->put_records(req);
  std::vector<bool> ok;
  for (const auto& entry : r->records) ok.push_back(entry.ok());
  // Failed entries are not stored.
  std::size_t stored = s.read_all(shard_id(0)).size() + s.read_all(shard_id(1)).size();
  EXPECT_EQ(stored, static_cast<std::size_t>(200 - r->failed_record_count));
  return ok;
}

TEST(Faults, SameSeedSameFaults) {
  auto a = entry_outcomes(42);
  auto b = entry_outcomes(42);
  auto c = entry_outcomes(43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const auto failures = std::count(a.begin(), a.end(), false);
  EXPECT_GT(failures, 30);  // about 30% of 200
  EXPECT_LT(failures, 90);
}

TEST(Faults, ScheduledCallsFailExactly) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  s.put("k", "x");
  const auto it = s.iterator(shard_id(0));
  e->set_fault_plan({.rules = {{.operation = "GetRecords", .schedule = {2, 3}},
                               {.operation = "PutRecord",
                                .error = error_code::provisioned_throughput_exceeded_exception,
                                .schedule = {1}}}});
  RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
  auto second = e->get_records({.shard_iterator = it});
  RILL_EXPECT_ERROR(second, error_code::internal_failure);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::internal_failure);
  RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "y", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "z", .partition_key = "k"}));
  EXPECT_EQ(s.read_all(shard_id(0)), (std::vector<std::string>{"x", "z"}));
  e->set_fault_plan({});  // off
  for (int i = 0; i < 5; ++i) RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
}

TEST(Faults, PerEntryScheduleAndWholeRequestFailures) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::vector<std::string> keys = {"a", "b", "c", "d"};
  put_records_request req{.stream_name = "s"};
  for (const auto& k : keys) req.records.push_back({.data = k, .partition_key = k});
  e->set_fault_plan({.rules = {{.operation = "PutRecords", .schedule = {2, 4}}}});
  auto r = e->put_records(req);
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->failed_record_count, 2);
  EXPECT_TRUE(r->records[0].ok());
  EXPECT_EQ(r->records[1].error_code, error_code::internal_failure);
  EXPECT_EQ(r->records[1].error_message, "Internal Service Failure");
  EXPECT_TRUE(r->records[2].ok());
  EXPECT_FALSE(r->records[3].ok());
  EXPECT_EQ(s.read_all(shard_id(0)), (std::vector<std::string>{"a", "c"}));
  e->set_fault_plan({.rules = {{.operation = "PutRecords", .stream_name = "s", .per_entry = false}}});
  RILL_EXPECT_ERROR(e->put_records(req), error_code::internal_failure);
  EXPECT_EQ(s.read_all(shard_id(0)).size(), 2u);
}

// On a manual clock a delay is recorded, not waited (waiting would hang a
// single-threaded test: see docs/semantics.md); on a system clock it is a real
// wait (tests/streams/engine_reliability_test.cpp).
TEST(Faults, DelayOnTheManualClockDoesNotWaitForTheClock) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  e->set_fault_plan({.rules = {{.operation = "PutRecord", .action = fault_action::delay, .latency = 2s}}});
  const timestamp before = e.clock->now();
  auto put = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"});
  RILL_ASSERT_OK(put);
  EXPECT_EQ(e.clock->now(), before);
  auto r = e->get_records({.shard_iterator = s.iterator(shard_id(0))});
  RILL_ASSERT_OK(r);
  EXPECT_EQ(r->records[0].approximate_arrival_timestamp, before);
}

// --- logging -----------------------------------------------------------------

TEST(Logging, LoggerIsNamedRillQuietByDefaultAndReplaceable) {
  auto log = rill::logger();
  ASSERT_TRUE(log);
  EXPECT_EQ(log->name(), "rill");
  EXPECT_EQ(rill::logger(), log);
  // A host's own logger under the name wins.
  spdlog::drop("rill");
  std::ostringstream out;
  auto mine = std::make_shared<spdlog::logger>("rill", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  mine->set_level(spdlog::level::info);
  spdlog::register_logger(mine);
  EXPECT_EQ(rill::logger(), mine);
  {
    test_engine e;
    stream_builder s(*e, "s", 1);
    s.split(shard_id(0), hash_key(1ULL << 40));
  }
  EXPECT_NE(out.str().find("SplitShard shardId-000000000000 of stream s"), std::string::npos) << out.str();
  spdlog::drop("rill");
  auto fresh = rill::logger();
  EXPECT_EQ(fresh->level(), spdlog::level::warn);
}

}  // namespace
}  // namespace rill::testing
