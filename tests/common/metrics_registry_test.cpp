// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// metrics_registry: a metric_series handle records into the same series as
// put() with the same key, and behaves safely when its metric is removed or
// its registry is gone.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "rill/clock.hpp"
#include "rill/metrics.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;

struct fixture {
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<metrics_registry> reg = std::make_shared<metrics_registry>(clock);
  timestamp from = clock->now() - 1h;
  timestamp to() const { return clock->now() + 1h; }
};

TEST(MetricSeries, RecordsIntoTheSeriesPutUsesWhateverTheDimensionOrder) {
  fixture f;
  const metric_dimension dims[] = {{"StreamName", "s"}, {"ShardId", "shardId-000000000001"}};
  const metric_dimension reversed[] = {dims[1], dims[0]};
  auto h = f.reg->series("NS", "UserRecordsPut", dims, "Count");
  ASSERT_TRUE(h.valid());
  h.put(3);
  f.reg->put("NS", "UserRecordsPut", reversed, 5, "Count");
  h.put(1);
  auto got = f.reg->get("NS", "UserRecordsPut", dims, f.from, f.to());
  ASSERT_EQ(got.datapoints.size(), 1U);
  EXPECT_EQ(got.unit, "Count");
  EXPECT_EQ(got.datapoints[0].sum, 9);
  EXPECT_EQ(got.datapoints[0].sample_count, 3);
  EXPECT_EQ(got.datapoints[0].minimum, 1);
  EXPECT_EQ(got.datapoints[0].maximum, 5);
  // A new minute on the clock is a new datapoint for the handle too.
  f.clock->advance(1min);
  h.put(7);
  got = f.reg->get("NS", "UserRecordsPut", dims, f.from, f.to());
  ASSERT_EQ(got.datapoints.size(), 2U);
  EXPECT_EQ(got.datapoints[1].sum, 7);
  // Registering the same key again gives the same series; the first unit stays.
  auto again = f.reg->series("NS", "UserRecordsPut", reversed, "Bytes");
  again.put(1);
  got = f.reg->get("NS", "UserRecordsPut", dims, f.from, f.to());
  EXPECT_EQ(got.unit, "Count");
  EXPECT_EQ(got.datapoints[1].sample_count, 2);
}

TEST(MetricSeries, NothingShowsBeforeTheFirstSample) {
  fixture f;
  auto h = f.reg->series("NS", "Quiet", {}, "Count");
  EXPECT_EQ(f.reg->to_json(), "[]");
  h.put(2);
  EXPECT_NE(f.reg->to_json().find("\"Quiet\""), std::string::npos);
}

TEST(MetricSeries, RemovedMetricsStayRemovedAndAHandleCanOutliveItsRegistry) {
  fixture f;
  const metric_dimension dims[] = {{"StreamName", "gone"}};
  auto h = f.reg->series("NS", "M", dims, "Count");
  h.put(1);
  f.reg->remove_dimension(dims[0]);
  h.put(1);  // detached: goes nowhere
  EXPECT_TRUE(f.reg->get("NS", "M", dims, f.from, f.to()).datapoints.empty());
  EXPECT_EQ(f.reg->to_json(), "[]");
  auto fresh = f.reg->series("NS", "M", dims, "Count");
  fresh.put(4);
  auto got = f.reg->get("NS", "M", dims, f.from, f.to());
  ASSERT_EQ(got.datapoints.size(), 1U);
  EXPECT_EQ(got.datapoints[0].sum, 4);
  f.reg.reset();  // the registry is gone; the handles still work (and record nowhere)
  h.put(1);
  fresh.put(1);
  metric_series none;
  EXPECT_FALSE(none.valid());
  none.put(1);
}

TEST(MetricSeries, OffMeansNothingIsRecorded) {
  auto clock = std::make_shared<manual_clock>();
  metrics_registry reg(clock, {.enabled = false});
  auto h = reg.series("NS", "M", {}, "Count");
  h.put(1);
  EXPECT_TRUE(reg.get("NS", "M", {}, clock->now() - 1h, clock->now() + 1h).datapoints.empty());
}

}  // namespace
}  // namespace rill
