// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Limits at their boundaries under the manual clock: exactly the allowed
// amount passes, one more fails with the Kinesis error, and time restores it.
#include <gtest/gtest.h>

#include "builder.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

engine_options throttled() {
  engine_options o;
  o.throughput.enabled = true;
  return o;
}

// n entries, each routed to shard 0 of a 1-shard stream, with views kept alive.
struct batch {
  explicit batch(std::size_t n, std::size_t data_size = 1) : data(data_size, 'd') {
    for (std::size_t i = 0; i < n; ++i) keys.push_back("k" + std::to_string(i));
  }
  put_records_request request(const std::string& stream) const {
    put_records_request r{.stream_name = stream};
    for (const auto& k : keys) r.records.push_back({.data = data, .partition_key = k});
    return r;
  }
  std::string data;
  std::vector<std::string> keys;
};

TEST(Capacity, ExactlyAThousandRecordsPerSecondPassPerShard) {
  test_engine e(throttled());
  stream_builder s(*e, "s", 1);
  batch b(500);
  for (int i = 0; i < 2; ++i) {
    auto r = e->put_records(b.request("s"));
    RILL_ASSERT_OK(r);
    EXPECT_EQ(r->failed_record_count, 0);
  }
  auto over = e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"});
  RILL_EXPECT_ERROR(over, error_code::provisioned_throughput_exceeded_exception);
  EXPECT_EQ(over.error().message(),
            "Rate exceeded for shard shardId-000000000000 in stream s under account 000000000000.");
  e.clock->advance(999ms);  // 999 records' worth back: one per millisecond
  auto first = e->put_records(b.request("s"));
  RILL_ASSERT_OK(first);
  EXPECT_EQ(first->failed_record_count, 0);
  auto partial = e->put_records(b.request("s"));
  RILL_ASSERT_OK(partial);
  EXPECT_EQ(partial->failed_record_count, 1);
  EXPECT_FALSE(partial->records.back().ok());  // the last one, not an earlier one
  e.clock->advance(1s);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
}

TEST(Capacity, OneMebibytePerSecondOfDataPlusKeysPerShard) {
  test_engine e(throttled());
  stream_builder s(*e, "s", 1);
  const std::string key = "key";
  const std::string full((1 << 20) - key.size(), 'd');
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = full, .partition_key = key}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1ms);  // 1048.576 bytes back
  const std::string d1047(1047, 'd');
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = d1047, .partition_key = "k"}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1s);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = full, .partition_key = key}));
}

TEST(Capacity, PutRecordsThrottlesPerEntryAndAcceptsTheRest) {
  test_engine e(throttled());
  stream_builder s(*e, "s", 2);  // entries split over two shards
  batch b(500);
  auto r1 = e->put_records(b.request("s"));
  auto r2 = e->put_records(b.request("s"));
  auto r3 = e->put_records(b.request("s"));  // both shards have now seen 750 records each
  RILL_ASSERT_OK(r3);
  auto r4 = e->put_records(b.request("s"));
  RILL_ASSERT_OK(r4);
  EXPECT_GT(r4->failed_record_count, 0);
  EXPECT_LT(r4->failed_record_count, 500);
  ASSERT_EQ(r4->records.size(), 500u);
  int failed = 0;
  for (const auto& entry : r4->records) {
    if (entry.ok()) continue;
    ++failed;
    EXPECT_EQ(entry.error_code, error_code::provisioned_throughput_exceeded_exception);
    EXPECT_EQ(entry.error_message.rfind("Rate exceeded for shard shardId-00000000000", 0), 0u) << entry.error_message;
  }
  EXPECT_EQ(failed, r4->failed_record_count);
  std::size_t stored = s.read_all(shard_id(0)).size() + s.read_all(shard_id(1)).size();
  EXPECT_EQ(stored, 2000u - static_cast<std::size_t>(failed))
      << "a throttled entry was stored, or an accepted one lost";
}

TEST(Capacity, ConfiguredLimitsApply) {
  engine_options o = throttled();
  o.throughput.write_records_per_second = 10;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 10; ++i) RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(100ms);  // one token per 100 ms
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  // Per-stream override, and off again.
  RILL_ASSERT_OK(e->set_stream_throughput("s", throughput_limits{.enabled = true, .write_records_per_second = 2}));
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  RILL_ASSERT_OK(e->set_stream_throughput("s", throughput_limits{.enabled = false}));
  for (int i = 0; i < 100; ++i) RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  RILL_EXPECT_ERROR(e->set_stream_throughput("s", throughput_limits{.enabled = true, .write_records_per_second = 0}),
                    error_code::validation_exception);
  RILL_EXPECT_ERROR(e->set_stream_throughput("nope", throughput_limits{}), error_code::resource_not_found_exception);
}

TEST(Capacity, FiveGetRecordsCallsPerSecondPerShard) {
  test_engine e(throttled());
  stream_builder s(*e, "s", 1);
  s.put("k", "x");
  const auto it = s.iterator(shard_id(0));
  for (int i = 0; i < 5; ++i) RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
  auto sixth = e->get_records({.shard_iterator = it});
  RILL_EXPECT_ERROR(sixth, error_code::provisioned_throughput_exceeded_exception);
  EXPECT_EQ(sixth.error().message(), "Rate exceeded for Shard - 000000000000/s/shardId-000000000000");
  e.clock->advance(199ms);
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it}), error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1ms);  // one call back every 200 ms
  RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
  e.clock->advance(1s);
  for (int i = 0; i < 5; ++i) RILL_ASSERT_OK(e->get_records({.shard_iterator = it}));
}

TEST(Capacity, ReadingTenMebibytesBlocksTheShardForFiveSeconds) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string key = "k";
  const std::string mib((1 << 20) - key.size(), 'd');
  for (int i = 0; i < 12; ++i) s.put(key, mib);
  RILL_ASSERT_OK(e->set_stream_throughput("s", throughput_limits{.enabled = true}));
  const auto it = s.iterator(shard_id(0));
  auto big = e->get_records({.shard_iterator = it});
  RILL_ASSERT_OK(big);
  EXPECT_EQ(big->records.size(), 10u);  // the 10 MiB cap per call
  e.clock->advance(4999ms);
  auto blocked = e->get_records({.shard_iterator = *big->next_shard_iterator});
  RILL_EXPECT_ERROR(blocked, error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1ms);
  auto after = e->get_records({.shard_iterator = *big->next_shard_iterator});
  RILL_ASSERT_OK(after);
  EXPECT_EQ(after->records.size(), 2u);
}

TEST(Capacity, TwoMebibytesPerSecondOfReadsPerShard) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  const std::string mib((1 << 20) - 1, 'd');
  for (int i = 0; i < 4; ++i) s.put("k", mib);
  RILL_ASSERT_OK(e->set_stream_throughput("s", throughput_limits{.enabled = true}));
  std::string it = s.iterator(shard_id(0));
  auto r = e->get_records({.shard_iterator = it, .limit = 2});  // 2 MiB: the whole second's budget
  RILL_ASSERT_OK(r);
  it = *r->next_shard_iterator;
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it, .limit = 1}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1ms);
  RILL_ASSERT_OK(e->get_records({.shard_iterator = it, .limit = 1}));  // back above zero: one more read
  RILL_EXPECT_ERROR(e->get_records({.shard_iterator = it, .limit = 1}),
                    error_code::provisioned_throughput_exceeded_exception);
}

TEST(Capacity, FiveGetShardIteratorCallsPerSecondPerShard) {
  test_engine e(throttled());
  stream_builder s(*e, "s", 2);
  for (int i = 0; i < 5; ++i) s.iterator(shard_id(0));
  auto sixth = e->get_shard_iterator({.stream_name = "s", .shard_id = "shardId-000000000000"});
  RILL_EXPECT_ERROR(sixth, error_code::provisioned_throughput_exceeded_exception);
  s.iterator(shard_id(1));  // per shard
  e.clock->advance(1s);
  s.iterator(shard_id(0));
}

TEST(Capacity, ControlPlaneRatesPerOperation) {
  engine_options o;
  o.control_plane.enabled = true;
  test_engine e(o);
  stream_builder s(*e, "s", 1);
  for (int i = 0; i < 10; ++i) RILL_ASSERT_OK(e->describe_stream({.stream_name = "s"}));
  auto eleventh = e->describe_stream({.stream_name = "s"});
  RILL_EXPECT_ERROR(eleventh, error_code::limit_exceeded_exception);
  EXPECT_EQ(eleventh.error().message(), "Rate exceeded for stream s under account 000000000000.");
  RILL_ASSERT_OK(e->describe_stream_summary({.stream_name = "s"}));  // another operation, another bucket
  e.clock->advance(1s);
  RILL_ASSERT_OK(e->describe_stream({.stream_name = "s"}));
  RILL_ASSERT_OK(e->describe_limits());
  auto again = e->describe_limits();
  RILL_EXPECT_ERROR(again, error_code::limit_exceeded_exception);
  EXPECT_EQ(again.error().message(), "Rate exceeded for account 000000000000.");
}

TEST(Capacity, AtMostFiveStreamsCreatingAtOnce) {
  engine_options o;
  o.control_plane.enabled = true;
  o.create_stream_delay = 10s;
  test_engine e(o);
  for (int i = 0; i < 5; ++i) {
    RILL_ASSERT_OK(e->create_stream({.stream_name = "s" + std::to_string(i), .shard_count = 1}));
  }
  e.clock->advance(1s);  // the CreateStream rate (5/s) is not what stops the sixth
  RILL_EXPECT_ERROR(e->create_stream({.stream_name = "s5", .shard_count = 1}), error_code::limit_exceeded_exception);
  e.clock->advance(9s);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "s5", .shard_count = 1}));
}

TEST(Capacity, TenScalingsPerRolling24Hours) {
  engine_options o;
  o.control_plane.enabled = true;
  test_engine e(o);
  stream_builder s(*e, "s", 2);
  for (int i = 0; i < 10; ++i) {
    RILL_ASSERT_OK(e->update_shard_count({.stream_name = "s", .target_shard_count = i % 2 == 0 ? 4 : 2}));
    e.clock->advance(1h);
  }
  auto eleventh = e->update_shard_count({.stream_name = "s", .target_shard_count = 4});
  RILL_EXPECT_ERROR(eleventh, error_code::limit_exceeded_exception);
  EXPECT_NE(eleventh.error().message().find("10 UpdateShardCount calls per rolling 24 hours"), std::string::npos);
  e.clock->advance(14h);  // the first scaling was 24 h ago now
  RILL_ASSERT_OK(e->update_shard_count({.stream_name = "s", .target_shard_count = 4}));
}

TEST(Capacity, UpdateShardCountNeverExceedsTenThousandShards) {
  engine_options o;
  o.shard_limit = 100'000;
  test_engine e(o);
  RILL_ASSERT_OK(e->create_stream({.stream_name = "big", .shard_count = 6000}));
  auto r = e->update_shard_count({.stream_name = "big", .target_shard_count = 10001});
  RILL_EXPECT_ERROR(r, error_code::limit_exceeded_exception);
  EXPECT_NE(r.error().message().find("10000"), std::string::npos);
}

TEST(Capacity, TwoModeSwitchesPerRolling24Hours) {
  engine_options o;
  o.control_plane.enabled = true;
  test_engine e(o);
  stream_builder s(*e, "s", 2);
  const std::string arn = "arn:aws:kinesis:us-east-1:000000000000:stream/s";
  RILL_ASSERT_OK(e->update_stream_mode({.stream_arn = arn, .stream_mode_details = {stream_mode::on_demand}}));
  RILL_ASSERT_OK(e->update_stream_mode({.stream_arn = arn, .stream_mode_details = {stream_mode::provisioned}}));
  RILL_EXPECT_ERROR(e->update_stream_mode({.stream_arn = arn, .stream_mode_details = {stream_mode::on_demand}}),
                    error_code::limit_exceeded_exception);
  RILL_EXPECT_ERROR(e->update_stream_mode({.stream_arn = arn, .stream_mode_details = {stream_mode::provisioned}}),
                    error_code::invalid_argument_exception);  // already PROVISIONED
  e.clock->advance(24h);
  RILL_ASSERT_OK(e->update_stream_mode({.stream_arn = arn, .stream_mode_details = {stream_mode::on_demand}}));
  auto d = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(d);
  EXPECT_EQ(d->stream_description_summary.stream_mode_details.stream_mode, stream_mode::on_demand);
  EXPECT_EQ(d->stream_description_summary.open_shard_count, 2) << "the shard count carries over";
}

// A producer retrying with backoff past the limit: everything acknowledged is
// stored once, nothing refused is stored.
TEST(Capacity, WriterPastTheLimitLosesNothingAcknowledgedAndStoresNothingRefused) {
  engine_options o = throttled();
  o.throughput.write_records_per_second = 200;
  test_engine e(o);
  stream_builder s(*e, "s", 2);
  std::vector<std::string> pending;
  for (int i = 0; i < 3000; ++i) pending.push_back("rec-" + std::to_string(i));
  std::set<std::string> acknowledged;
  std::size_t refusals = 0;
  while (!pending.empty()) {
    put_records_request req{.stream_name = "s"};
    const std::size_t n = std::min<std::size_t>(pending.size(), 500);
    for (std::size_t i = 0; i < n; ++i) req.records.push_back({.data = pending[i], .partition_key = pending[i]});
    auto r = e->put_records(req);
    RILL_ASSERT_OK(r);
    std::vector<std::string> retry;
    for (std::size_t i = 0; i < n; ++i) {
      if (r->records[i].ok()) {
        EXPECT_TRUE(acknowledged.insert(pending[i]).second);
      } else {
        retry.push_back(pending[i]);
        ++refusals;
      }
    }
    retry.insert(retry.end(), pending.begin() + static_cast<std::ptrdiff_t>(n), pending.end());
    pending = std::move(retry);
    e.clock->advance(250ms);
  }
  EXPECT_GT(refusals, 1000u);
  std::multiset<std::string> stored;
  for (auto id : {shard_id(0), shard_id(1)}) {
    for (auto& d : s.read_all(id)) stored.insert(d);
  }
  EXPECT_EQ(stored.size(), 3000u);
  EXPECT_EQ(std::set<std::string>(stored.begin(), stored.end()), acknowledged);
}

}  // namespace
}  // namespace rill::testing
