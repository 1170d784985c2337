// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// engine_options::limits: every AWS limit at AWS's values in one option, and a
// mode that reports (counts and logs) what AWS would have refused without
// refusing it.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

double would_be_throttled(engine& e, std::string_view limit, std::string_view stream) {
  const metric_dimension dims[] = {{"Limit", std::string(limit)}, {"StreamName", std::string(stream)}};
  auto r = e.metrics()->get("rill/Limits", "WouldBeThrottled", dims, timestamp::min(), timestamp::max());
  double sum = 0;
  for (const auto& p : r.datapoints) sum += p.sum;
  return sum;
}

// 1,001 records into one shard within one second, and six CreateStream calls
// at one instant: AWS refuses the 1,001st record (1,000 records/s per shard)
// and the sixth CreateStream (5 per second).
struct outcome {
  int refused_records = 0;
  int refused_creates = 0;
};

outcome burst(test_engine& e) {
  outcome o;
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 1001; ++i) {
    auto r = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"});
    if (!r) {
      EXPECT_EQ(r.error().code(), error_code::provisioned_throughput_exceeded_exception);
      ++o.refused_records;
    }
  }
  e.clock->advance(1s);  // the CreateStream above used one of this second's 5
  for (int i = 0; i < 6; ++i) {
    auto r = e->create_stream({.stream_name = "c" + std::to_string(i), .shard_count = 1});
    if (!r) {
      EXPECT_EQ(r.error().code(), error_code::limit_exceeded_exception);
      ++o.refused_creates;
    }
  }
  return o;
}

TEST(LimitsMode, AsConfiguredByDefaultLimitsNothing) {
  test_engine e;
  auto o = burst(e);
  EXPECT_EQ(o.refused_records, 0);
  EXPECT_EQ(o.refused_creates, 0);
}

TEST(LimitsMode, AwsEnforcesEveryLimitAtAwsValues) {
  engine_options opt;
  opt.limits = limits_mode::aws;
  test_engine e(opt);
  EXPECT_TRUE(e->options().throughput.enabled);
  EXPECT_TRUE(e->options().control_plane.enabled);
  EXPECT_EQ(e->options().throughput.write_records_per_second, 1000);
  auto o = burst(e);
  EXPECT_EQ(o.refused_records, 1);
  EXPECT_EQ(o.refused_creates, 1);
  EXPECT_EQ(would_be_throttled(*e, "WriteProvisionedThroughputExceeded", "s"), 0);
}

TEST(LimitsMode, AwsReportCountsWhatAwsWouldRefuseAndRefusesNothing) {
  engine_options opt;
  opt.limits = limits_mode::aws_report;
  test_engine e(opt);
  auto o = burst(e);
  EXPECT_EQ(o.refused_records, 0);
  EXPECT_EQ(o.refused_creates, 0);
  EXPECT_EQ(would_be_throttled(*e, "WriteProvisionedThroughputExceeded", "s"), 1);
  EXPECT_EQ(would_be_throttled(*e, "CreateStream rate", "c5"), 1);
  // Reads: 5 GetRecords per second per shard; the 6th would be refused.
  stream_builder s(*e, "r", 1);
  std::string it = s.iterator(shard_id(0));
  for (int i = 0; i < 6; ++i) {
    auto r = e->get_records({.shard_iterator = it});
    ASSERT_TRUE(r.ok()) << r.error();
    it = *r->next_shard_iterator;
  }
  EXPECT_EQ(would_be_throttled(*e, "ReadProvisionedThroughputExceeded", "r"), 1);
}

}  // namespace
}  // namespace rill::testing
