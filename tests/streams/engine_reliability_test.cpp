// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Reliability classes of issue 6: expiry is final, injected refusals keep the
// ordering promise, sequence numbers name one stream incarnation, arithmetic
// at the edges saturates or is refused, oversized records are not refused
// forever, out-of-range enums are ValidationExceptions, delays never hang,
// the storage contract holds, metric series go with their shards, and ARNs of
// another partition name no stream.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <climits>
#include <thread>

#include "builder.hpp"
#include "common/token.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

std::string first_seq(engine& e, const std::string& stream, std::string_view data) {
  auto r = e.put_record({.stream_name = stream, .data = data, .partition_key = "k"});
  if (!r) throw std::runtime_error(r.error().to_string());
  return r->sequence_number.to_string();
}

// --- retention ----------------------------------------------------------------

engine_options no_trim() {
  engine_options opt;
  opt.trim_interval = duration::zero();  // nothing released behind the test's back
  return opt;
}

TEST(Retention, AnIncreaseDoesNotResurrectRecordsHiddenByADecrease) {
  test_engine e(no_trim());
  stream_builder s(*e, "s", 1);
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 48}));
  s.put("k", "old");
  e.clock->advance(30h);
  s.put("k", "young");
  RILL_ASSERT_OK(e->decrease_stream_retention_period({.stream_name = "s", .retention_period_hours = 24}));
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"young"});
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 72}));
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"young"});  // "old" stays expired
}

TEST(Retention, AnIncreaseDoesNotResurrectExpiredClosedShards) {
  test_engine e(no_trim());
  stream_builder s(*e, "s", 1);
  s.put("k", "in parent");
  s.split_middle(s.shards()[0]);
  e.clock->advance(25h);  // the closed parent expired (not yet released: no trim)
  EXPECT_EQ(s.shards().size(), 2u);
  RILL_ASSERT_OK(e->increase_stream_retention_period({.stream_name = "s", .retention_period_hours = 48}));
  EXPECT_EQ(s.shards().size(), 2u);
  RILL_EXPECT_ERROR(e->get_shard_iterator({.stream_name = "s",
                                           .shard_id = "shardId-000000000000",
                                           .shard_iterator_type = shard_iterator_type::trim_horizon}),
                    error_code::resource_not_found_exception);
}

// --- injected throttling keeps the ordering promise ------------------------------------

TEST(Faults, AnInjectedThrottleRefusesTheShardsLaterEntriesLikeARealOne) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  fault_plan plan;
  plan.rules.push_back({.operation = "PutRecords",
                        .error = error_code::provisioned_throughput_exceeded_exception,
                        .schedule = {2}});  // the 2nd entry is refused
  e->set_fault_plan(plan);
  put_records_request req{.stream_name = "s"};
  const std::vector<std::string> data = {"a", "b", "c", "d"};
  for (const auto& d : data) req.records.push_back({.data = d, .partition_key = "key"});
  auto r = e->put_records(req);
  RILL_ASSERT_OK(r);
  ASSERT_EQ(r->records.size(), 4u);
  EXPECT_FALSE(r->records[0].error_code);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_EQ(r->records[i].error_code, error_code::provisioned_throughput_exceeded_exception) << i;
  }
  EXPECT_EQ(r->failed_record_count, 3);
  EXPECT_EQ(s.read_all(shard_id(0)), std::vector<std::string>{"a"});
}

// --- sequence numbers name one stream incarnation ----------------------------------------

TEST(SequenceNumbers, RefusedOnAnotherStreamCreatedInTheSameSecond) {
  test_engine e;
  stream_builder a(*e, "a", 1);
  stream_builder b(*e, "b", 1);
  const std::string seq_a = first_seq(*e, "a", "from a");
  first_seq(*e, "b", "from b");
  auto it = e->get_shard_iterator({.stream_name = "b",
                                   .shard_id = "shardId-000000000000",
                                   .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                   .starting_sequence_number = seq_a});
  RILL_EXPECT_ERROR(it, error_code::invalid_argument_exception);
  // The number still works where it was issued.
  RILL_ASSERT_OK(e->get_shard_iterator({.stream_name = "a",
                                        .shard_id = "shardId-000000000000",
                                        .shard_iterator_type = shard_iterator_type::at_sequence_number,
                                        .starting_sequence_number = seq_a}));
}

TEST(SequenceNumbers, RefusedOnANewIncarnationOfTheSameName) {
  test_engine e;
  std::string old_seq;
  {
    stream_builder a(*e, "a", 1);
    old_seq = first_seq(*e, "a", "first life");
    RILL_ASSERT_OK(e->delete_stream({.stream_name = "a"}));
  }
  stream_builder again(*e, "a", 1);
  first_seq(*e, "a", "second life");
  RILL_EXPECT_ERROR(e->get_shard_iterator({.stream_name = "a",
                                           .shard_id = "shardId-000000000000",
                                           .shard_iterator_type = shard_iterator_type::after_sequence_number,
                                           .starting_sequence_number = old_seq}),
                    error_code::invalid_argument_exception);
}

// --- arithmetic at the edges ----------------------------------------------------------------

TEST(Edges, AnIteratorSealedNearInt64MinIsExpiredNotOverflowed) {
  engine_options opt;
  opt.token_key = "0123456789abcdef0123456789abcdef";
  test_engine e(opt);
  stream_builder s(*e, "s", 1);
  s.put("k", "v");
  auto real = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(real);
  // The uid of the first stream of an engine is 1.
  detail::token_codec codec("0123456789abcdef0123456789abcdef");
  for (std::int64_t issued : {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::min() + 5}) {
    const std::string token =
        codec.seal(detail::payload_writer().u8(1).u64(1).str("s").u32(0).u64(0).i64(issued).take());
    RILL_EXPECT_ERROR(e->get_records({.shard_iterator = token}), error_code::expired_iterator_exception);
  }
  // A ListStreams token from the far past is expired as well.
  const std::string list_token =
      codec.seal(detail::payload_writer().u8(3).i64(std::numeric_limits<std::int64_t>::min()).str("s").take());
  RILL_EXPECT_ERROR(e->list_streams({.next_token = list_token}), error_code::expired_next_token_exception);
}

TEST(Edges, Int64MaxThroughputMeansUnlimited) {
  engine_options opt;
  opt.throughput.enabled = true;
  opt.throughput.write_bytes_per_second = std::numeric_limits<std::int64_t>::max();
  opt.throughput.write_records_per_second = std::numeric_limits<std::int64_t>::max();
  opt.throughput.read_calls_per_second = std::numeric_limits<std::int64_t>::max();
  opt.throughput.read_bytes_per_second = std::numeric_limits<std::int64_t>::max();
  opt.throughput.get_shard_iterator_per_second = std::numeric_limits<std::int64_t>::max();
  opt.throughput.large_read_bytes = std::numeric_limits<std::int64_t>::max();
  test_engine e(opt);
  stream_builder s(*e, "s", 1);
  const std::string data(1000, 'x');
  for (int i = 0; i < 3000; ++i) {
    auto r = e->put_record({.stream_name = "s", .data = data, .partition_key = "k"});
    ASSERT_TRUE(r.ok()) << i << ": " << r.error();
  }
  for (int i = 0; i < 20; ++i) ASSERT_NO_THROW(s.iterator(shard_id(0)));
  EXPECT_EQ(s.read_all(shard_id(0)).size(), 3000u);
}

TEST(Edges, ThroughputOptionsBelowOneAreRefusedAtConstruction) {
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{-5}}) {
    engine_options opt;
    opt.throughput.write_bytes_per_second = bad;
    EXPECT_THROW(rill::engine{opt}, std::invalid_argument) << bad;
    engine_options opt2;
    opt2.throughput.read_calls_per_second = bad;
    EXPECT_THROW(rill::engine{opt2}, std::invalid_argument) << bad;
  }
}

TEST(Edges, ClockTimesTheSequenceNumberLayoutCannotHoldAreRefused) {
  {
    engine_options opt;
    auto clock = std::make_shared<manual_clock>(timestamp(-5s));
    opt.clock = clock;
    rill::engine e(opt);
    auto r = e.create_stream({.stream_name = "s", .shard_count = 1});
    RILL_EXPECT_ERROR(r, error_code::invalid_argument_exception);
  }
  {
    engine_options opt;
    auto clock = std::make_shared<manual_clock>();
    opt.clock = clock;
    opt.trim_interval = duration::zero();  // no per-minute task to run over 450 years
    opt.on_demand.enabled = false;
    rill::engine e(opt);
    RILL_ASSERT_OK(e.create_stream({.stream_name = "s", .shard_count = 1}));
    clock->advance_to(timestamp(std::chrono::seconds(sequence_number::max_create_seconds)));
    RILL_EXPECT_ERROR(e.put_record({.stream_name = "s", .data = "x", .partition_key = "k"}),
                      error_code::invalid_argument_exception);
    RILL_EXPECT_ERROR(e.create_stream({.stream_name = "t", .shard_count = 1}), error_code::invalid_argument_exception);
  }
}

TEST(Edges, ManualClockAdvanceByDurationMaxSaturates) {
  manual_clock clock;
  clock.advance(duration::max());
  EXPECT_EQ(clock.now(), timestamp::max());
  clock.advance(1h);
  EXPECT_EQ(clock.now(), timestamp::max());
}

// --- a write limit below one record's size ------------------------------------------------

TEST(Limits, ARecordLargerThanTheWriteLimitIsAdmittedWhenTheBucketIsFull) {
  engine_options opt;
  opt.throughput.enabled = true;
  test_engine e(opt);
  stream_builder s(*e, "s", 1);
  throughput_limits small = opt.throughput;
  small.write_bytes_per_second = 100;
  RILL_ASSERT_OK(e->set_stream_throughput("s", small));
  const std::string big(499, 'x');  // 500 bytes with the key
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = big, .partition_key = "k"}));
  // It left the bucket 400 bytes in debt: refused until repaid (4 s) and full again (1 s more).
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = big, .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(4s);
  RILL_EXPECT_ERROR(e->put_record({.stream_name = "s", .data = big, .partition_key = "k"}),
                    error_code::provisioned_throughput_exceeded_exception);
  e.clock->advance(1s);
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = big, .partition_key = "k"}));
}

// --- enums out of range ---------------------------------------------------------------------

TEST(Enums, OutOfRangeValuesAreValidationExceptions) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  // No shard count and a mode that is neither: it used to divide by zero.
  auto c =
      e->create_stream({.stream_name = "bad", .stream_mode_details = stream_mode_details{static_cast<stream_mode>(7)}});
  RILL_EXPECT_ERROR(c, error_code::validation_exception);
  EXPECT_NE(c.error().message().find("'streamModeDetails.streamMode' failed to satisfy constraint: Member must "
                                     "satisfy enum value set: [PROVISIONED, ON_DEMAND]"),
            std::string::npos)
      << c.error().message();
  auto it = e->get_shard_iterator({.stream_name = "s",
                                   .shard_id = "shardId-000000000000",
                                   .shard_iterator_type = static_cast<shard_iterator_type>(9)});
  RILL_EXPECT_ERROR(it, error_code::validation_exception);
  EXPECT_NE(
      it.error().message().find("Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, "
                                "AT_SEQUENCE_NUMBER, TRIM_HORIZON]"),
      std::string::npos);
  RILL_EXPECT_ERROR(
      e->list_shards({.stream_name = "s", .shard_filter = shard_filter{static_cast<shard_filter_type>(6)}}),
      error_code::validation_exception);
  RILL_EXPECT_ERROR(e->update_shard_count(
                        {.stream_name = "s", .target_shard_count = 2, .scaling_type = static_cast<scaling_type>(3)}),
                    error_code::validation_exception);
  auto arn = e->describe_stream_summary({.stream_name = "s"})->stream_description_summary.stream_arn;
  RILL_EXPECT_ERROR(e->update_stream_mode(
                        {.stream_arn = arn, .stream_mode_details = stream_mode_details{static_cast<stream_mode>(2)}}),
                    error_code::validation_exception);
}

// --- delays never hang ------------------------------------------------------------------------

TEST(Faults, ADelayOnTheManualClockIsRecordedNotWaited) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  fault_plan plan;
  plan.rules.push_back({.operation = "PutRecord", .action = fault_action::delay, .latency = 10s});
  e->set_fault_plan(plan);
  const timestamp before = e.clock->now();
  RILL_ASSERT_OK(e->put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));  // used to hang here
  EXPECT_EQ(e.clock->now(), before);
}

TEST(Faults, AScheduledTaskHitByADelayDoesNotDeadlockAdvance) {
  test_engine e;
  stream_builder s(*e, "s", 1);
  fault_plan plan;
  plan.rules.push_back({.operation = "*", .action = fault_action::delay, .latency = 1min});
  e->set_fault_plan(plan);
  auto sched = e.clock->make_scheduler();
  bool ran = false;
  sched->call_at(e.clock->now() + 1s, [&] {
    auto r = e->list_shards({.stream_name = "s"});
    ran = r.ok();
  });
  e.clock->advance(2s);  // used to deadlock: the task waited for the clock that runs it
  EXPECT_TRUE(ran);
  sched->shutdown();
}

TEST(Faults, ADelayOnTheSystemClockIsARealWait) {
  engine_options opt;  // the system clock
  rill::engine e(opt);
  RILL_ASSERT_OK(e.create_stream({.stream_name = "s", .shard_count = 1}));
  e.set_fault_plan({.rules = {{.operation = "PutRecord", .action = fault_action::delay, .latency = 50ms}}});
  const timestamp before = e.clock().now();
  RILL_ASSERT_OK(e.put_record({.stream_name = "s", .data = "x", .partition_key = "k"}));
  EXPECT_GE(e.clock().now() - before, 50ms);
}

// --- the storage contract -----------------------------------------------------------------------

#ifndef NDEBUG
TEST(StorageContract, MemoryStorageCatchesUseAfterRemoveAndDoubleRemove) {
  auto storage = make_memory_storage();
  const shard_log_key key{"s", 1, shard_id(0)};
  auto log = storage->create_log(key);
  RILL_ASSERT_OK(log);
  const log_entry entry{"k", "v"};
  RILL_ASSERT_OK((*log)->append({&entry, 1}, timestamp(1s)));
  storage->remove_log(key);
  EXPECT_THROW((*log)->read(0, 10, 1000, [](std::span<const log_record>) {}), std::logic_error);
  EXPECT_THROW((void)(*log)->append({&entry, 1}, timestamp(2s)), std::logic_error);
  EXPECT_THROW(storage->remove_log(key), std::logic_error);
}
#endif

// Deleting streams while their shards expire, with the trimmer running:
// every log is removed exactly once and never used after its removal (the
// memory storage checks it in debug builds and throws otherwise).
TEST(StorageContract, DeleteAndTrimRemoveEachLogOnce) {
  engine_options opt;
  opt.delete_stream_delay = 1s;
  test_engine e(opt);
  for (int round = 0; round < 3; ++round) {
    stream_builder s(*e, "s", 2);
    s.put("k", "v");
    s.split_middle(s.open_shards()[0]);
    e.clock->advance(25h);  // the parent expires; the trimmer runs every minute
    RILL_ASSERT_OK(e->delete_stream({.stream_name = "s"}));
    e->trim_expired();
    e.clock->advance(2s);  // the stream goes
    e->trim_expired();
  }
}

// --- metric series go with their shards and the window ----------------------------------------

TEST(Metrics, PerShardSeriesAreReleasedWithTheirShardsAndTheWindow) {
  engine_options opt;
  opt.metrics.window = 1h;
  test_engine e(opt);
  stream_builder s(*e, "s", 1);
  RILL_ASSERT_OK(e->enable_enhanced_monitoring({.stream_name = "s", .shard_level_metrics = {"ALL"}}));
  s.put("k", "v");
  s.split_middle(s.shards()[0]);
  auto has_shard_series = [&](std::string_view id) {
    auto j = nlohmann::json::parse(e->metrics_json());
    for (const auto& m : j["Metrics"]) {
      for (const auto& d : m["Dimensions"]) {
        if (d["Name"] == "ShardId" && d["Value"] == id) return true;
      }
    }
    return false;
  };
  EXPECT_TRUE(has_shard_series("shardId-000000000000"));
  e.clock->advance(25h);  // past the window, and the closed parent expired and was released
  EXPECT_FALSE(has_shard_series("shardId-000000000000"));
  auto stats = e->get_metric_statistics({.stream_name = "s",
                                         .metric_name = "IncomingRecords",
                                         .start_time = timestamp::min(),
                                         .end_time = timestamp::max()});
  RILL_ASSERT_OK(stats);
  EXPECT_TRUE(stats->datapoints.empty());  // the stream's datapoints are outside the window too
}

// --- StreamARN partitions ---------------------------------------------------------------------

TEST(Arn, ThePartitionFollowsTheRegionAndOthersNameNoStream) {
  engine_options opt;
  opt.region = "cn-north-1";
  test_engine e(opt);
  stream_builder s(*e, "s", 1);
  auto sum = e->describe_stream_summary({.stream_name = "s"});
  RILL_ASSERT_OK(sum);
  const std::string arn = sum->stream_description_summary.stream_arn;
  EXPECT_EQ(arn, "arn:aws-cn:kinesis:cn-north-1:" + e->options().account_id + ":stream/s");
  RILL_ASSERT_OK(e->describe_stream_summary({.stream_arn = arn}));
  RILL_EXPECT_ERROR(
      e->describe_stream_summary({.stream_arn = "arn:aws:kinesis:cn-north-1:" + e->options().account_id + ":stream/s"}),
      error_code::resource_not_found_exception);

  test_engine plain;
  stream_builder p(*plain, "s", 1);
  const std::string account = plain->options().account_id;
  RILL_ASSERT_OK(plain->describe_stream_summary({.stream_arn = "arn:aws:kinesis:us-east-1:" + account + ":stream/s"}));
  for (const char* partition : {"aws-cn", "awsgarbage", "aws-us-gov"}) {
    RILL_EXPECT_ERROR(plain->describe_stream_summary({.stream_arn = std::string("arn:") + partition +
                                                                    ":kinesis:us-east-1:" + account + ":stream/s"}),
                      error_code::resource_not_found_exception);
  }
}

}  // namespace
}  // namespace rill::testing
