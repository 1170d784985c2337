// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The producer against the in-process engine on a manual clock: buffering
// time, throttling and retries, resharding mid-flight, TTL expiry, order per
// partition key, shutdown, round trip through deaggregation, the 8x of
// aggregation, configuration and metrics.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "rill/kpl.hpp"
#include "rill/producer.hpp"
#include "seed.hpp"

namespace {

using namespace std::chrono_literals;

struct stored_user_record {
  std::string shard;
  std::string sequence_number;
  std::uint64_t sub_sequence_number = 0;
  std::string partition_key;
  std::string data;
  bool aggregated = false;
};

struct read_result {
  std::vector<stored_user_record> in_range;
  std::size_t out_of_range = 0;
  std::size_t kinesis_records = 0;
};

// Reads every shard (open and closed) from TRIM_HORIZON and deaggregates with
// each shard's range, as a KCL consumer does.
read_result read_all(rill::engine& e, const std::string& stream) {
  read_result out;
  auto shards = e.list_shards({.stream_name = stream});
  EXPECT_TRUE(shards.ok());
  for (const auto& sh : shards->shards) {
    auto it = e.get_shard_iterator({.stream_name = stream,
                                    .shard_id = sh.shard_id.to_string(),
                                    .shard_iterator_type = rill::shard_iterator_type::trim_horizon});
    EXPECT_TRUE(it.ok());
    std::optional<std::string> iter = it->shard_iterator;
    while (iter) {
      auto got = e.get_records({.shard_iterator = *iter});
      EXPECT_TRUE(got.ok()) << got.error();
      if (!got.ok()) break;
      for (const auto& r : got->records) {
        ++out.kinesis_records;
        auto d = rill::kpl::deaggregate(r, sh.hash_key_range);
        out.out_of_range += d.out_of_range.size();
        for (const auto& u : d.records)
          out.in_range.push_back({sh.shard_id.to_string(), u.sequence_number.to_string(), u.sub_sequence_number,
                                  std::string(u.partition_key), std::string(u.data), u.aggregated});
      }
      if (got->records.empty() && got->millis_behind_latest == 0 && got->next_shard_iterator) break;
      iter = got->next_shard_iterator;
    }
  }
  return out;
}

struct fixture {
  std::shared_ptr<rill::manual_clock> clock = std::make_shared<rill::manual_clock>();
  std::unique_ptr<rill::engine> engine;

  explicit fixture(int shards, bool limits = false) {
    rill::engine_options o;
    o.clock = clock;
    o.throughput.enabled = limits;
    engine = std::make_unique<rill::engine>(o);
    EXPECT_TRUE(engine->create_stream({.stream_name = "s", .shard_count = shards}).ok());
  }
  rill::producer_configuration config() const {
    rill::producer_configuration c;
    c.clock = clock;
    c.metrics = engine->metrics();
    c.back_pressure = rill::back_pressure_mode::fail;
    return c;
  }
  // Advances in steps until the producer has nothing outstanding (or `limit` passes).
  void drain(rill::producer& p, rill::duration limit = 120s) {
    auto end = clock->now() + limit;
    while (p.outstanding_records_count() > 0 && clock->now() < end) clock->advance(10ms);
  }
};

TEST(Producer, BufferingTimeIsHonouredToTheMillisecond) {
  fixture f(4);
  auto c = f.config();
  c.record_max_buffered_time = 250;
  rill::producer p(*f.engine, c);
  auto t0 = f.clock->now();
  auto fut = p.add_user_record({.stream_name = "s", .partition_key = "k", .data = "hello"});
  ASSERT_TRUE(fut.ok());
  f.clock->advance(100ms);
  auto fut2 = p.add_user_record({.stream_name = "s", .partition_key = "k", .data = "world"});
  ASSERT_TRUE(fut2.ok());
  f.clock->advance(149ms);
  EXPECT_EQ(fut->wait_for(0s), std::future_status::timeout);
  EXPECT_EQ(p.outstanding_records_count(), 2u);
  f.clock->advance(1ms);
  ASSERT_EQ(fut->wait_for(0s), std::future_status::ready);
  auto r = fut->get();
  ASSERT_TRUE(r.successful);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].start, t0 + 250ms);
  EXPECT_EQ(r.attempts[0].delay, 250ms);
  EXPECT_EQ(r.sub_sequence_number, 0u);
  // The second record went in the same aggregate (same key, same shard): early, never late.
  ASSERT_EQ(fut2->wait_for(0s), std::future_status::ready);
  auto r2 = fut2->get();
  EXPECT_EQ(r2.sequence_number, r.sequence_number);
  EXPECT_EQ(r2.sub_sequence_number, 1u);
  EXPECT_EQ(p.outstanding_records_count(), 0u);

  // Zero buffering: sent in the same millisecond.
  auto c0 = f.config();
  c0.record_max_buffered_time = 0;
  rill::producer p0(*f.engine, c0);
  auto t1 = f.clock->now();
  auto fut3 = p0.add_user_record({.stream_name = "s", .partition_key = "k", .data = "now"});
  ASSERT_TRUE(fut3.ok());
  f.clock->run_due();
  ASSERT_EQ(fut3->wait_for(0s), std::future_status::ready);
  EXPECT_EQ(fut3->get().attempts.at(0).start, t1);
}

TEST(Producer, RoundTripThroughTheEngineGivesBackExactlyTheUserRecords) {
  fixture f(4);
  rill::producer p(*f.engine, f.config());
  std::mt19937_64 rng(rill::testing::test_seed(31337));
  std::map<std::string, std::string> sent;  // data -> pk
  std::vector<std::future<rill::user_record_result>> futures;
  for (int i = 0; i < 3000; ++i) {
    std::string pk = "user-" + std::to_string(rng() % 97);
    std::string data = "event-" + std::to_string(i) + std::string(rng() % 200, 'x');
    std::optional<std::string> ehk;
    if (i % 10 == 0) ehk = std::to_string(rng());
    auto fut = p.add_user_record({.stream_name = "s",
                                  .partition_key = pk,
                                  .data = data,
                                  .explicit_hash_key = ehk ? std::optional<std::string_view>(*ehk) : std::nullopt});
    ASSERT_TRUE(fut.ok()) << fut.error();
    futures.push_back(std::move(*fut));
    sent[data] = pk;
    if (i % 500 == 0) f.clock->advance(7ms);
  }
  p.flush();
  f.drain(p);
  std::map<std::pair<std::string, std::uint64_t>, std::string> acknowledged;  // (seq, sub) -> data
  for (auto& fu : futures) {
    auto r = fu.get();
    ASSERT_TRUE(r.successful);
    ASSERT_TRUE(r.sequence_number.has_value());
    acknowledged[{r.sequence_number->to_string(), r.sub_sequence_number}] = "";
  }
  auto got = read_all(*f.engine, "s");
  EXPECT_EQ(got.out_of_range, 0u);
  ASSERT_EQ(got.in_range.size(), sent.size());
  std::set<std::string> seen;
  std::size_t aggregated = 0;
  for (const auto& u : got.in_range) {
    ASSERT_TRUE(sent.contains(u.data));
    EXPECT_EQ(sent[u.data], u.partition_key);
    EXPECT_TRUE(seen.insert(u.data).second) << "duplicate";
    // The (sequence number, sub-sequence number) the producer reported is where the consumer finds it.
    EXPECT_TRUE(acknowledged.contains({u.sequence_number, u.sub_sequence_number}));
    aggregated += u.aggregated;
  }
  EXPECT_GT(aggregated, got.in_range.size() * 9 / 10);
  EXPECT_LT(got.kinesis_records, sent.size() / 10);
}

TEST(Producer, ThrottledStreamDrivesRetriesAndLosesNothing) {
  fixture f(1, /*limits=*/true);
  auto c = f.config();
  c.aggregation_enabled = false;  // 1000 records/s per shard is the bottleneck
  c.rate_limit = 300;             // let the limiter pass more than the shard takes
  rill::producer p(*f.engine, c);
  std::size_t ok = 0, retried = 0, failed = 0;
  std::set<std::string> throttle_codes;
  for (int i = 0; i < 4000; ++i) {
    std::string data = "r" + std::to_string(i);
    ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = "pk" + std::to_string(i % 50), .data = data},
                                  [&](const rill::user_record_result& r) {
                                    if (r.successful)
                                      ++ok;
                                    else
                                      ++failed;
                                    if (r.attempts.size() > 1) ++retried;
                                    for (const auto& a : r.attempts)
                                      if (!a.success) throttle_codes.insert(a.error_code);
                                  })
                    .ok());
  }
  f.drain(p);
  EXPECT_EQ(ok, 4000u);
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(retried, 100u);
  EXPECT_TRUE(throttle_codes.contains("ProvisionedThroughputExceededException"));
  auto got = read_all(*f.engine, "s");
  std::set<std::string> seen;
  for (const auto& u : got.in_range) EXPECT_TRUE(seen.insert(u.data).second) << "duplicate " << u.data;
  EXPECT_EQ(seen.size(), 4000u);
  auto m = f.engine->metrics()->to_json();
  EXPECT_NE(m.find("ProvisionedThroughputExceededException"), std::string::npos);
}

TEST(Producer, FailIfThrottledFailsInsteadOfRetrying) {
  fixture f(1, /*limits=*/true);
  auto c = f.config();
  c.aggregation_enabled = false;
  c.rate_limit = 1000;
  c.fail_if_throttled = true;
  rill::producer p(*f.engine, c);
  std::size_t ok = 0, failed = 0;
  for (int i = 0; i < 3000; ++i)
    ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = "k" + std::to_string(i), .data = "x"},
                                  [&](const rill::user_record_result& r) {
                                    if (r.successful) {
                                      ++ok;
                                    } else {
                                      ++failed;
                                      EXPECT_EQ(r.attempts.size(), 1u);
                                      EXPECT_EQ(r.attempts.back().error_code, "ProvisionedThroughputExceededException");
                                    }
                                  })
                    .ok());
  f.drain(p);
  EXPECT_EQ(ok + failed, 3000u);
  EXPECT_GT(failed, 0u);
}

TEST(Producer, ReshardingMidFlightReroutesWithoutLossOrDuplicates) {
  fixture f(2);
  auto c = f.config();
  c.record_max_buffered_time = 500;
  rill::producer p(*f.engine, c);
  std::mt19937_64 rng(rill::testing::test_seed(555));
  std::map<std::string, rill::user_record_result> results;
  std::size_t wrong_shard_retries = 0;
  int n = 0;
  auto add = [&](int count) {
    for (int i = 0; i < count; ++i, ++n) {
      std::string data = "d" + std::to_string(n);
      ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = "k" + std::to_string(rng()), .data = data},
                                    [&results, &wrong_shard_retries, data](const rill::user_record_result& r) {
                                      results[data] = r;
                                      for (const auto& a : r.attempts)
                                        wrong_shard_retries += a.error_code == "Wrong Shard";
                                    })
                      .ok());
    }
  };
  add(2000);  // buffered, predicted for the two parents
  auto shards = f.engine->list_shards({.stream_name = "s"});
  ASSERT_TRUE(shards.ok());
  for (const auto& sh : shards->shards) {
    auto mid = sh.hash_key_range.starting_hash_key.value() +
               (sh.hash_key_range.ending_hash_key.value() - sh.hash_key_range.starting_hash_key.value()) / 2;
    ASSERT_TRUE(f.engine
                    ->split_shard({.stream_name = "s",
                                   .shard_to_split = sh.shard_id.to_string(),
                                   .new_starting_hash_key = rill::hash_key(mid).to_string()})
                    .ok());
  }
  f.clock->advance(100ms);
  add(2000);
  f.clock->advance(300ms);
  // Merge two children back while records are in flight.
  auto open = f.engine->list_shards(
      {.stream_name = "s", .shard_filter = rill::shard_filter{.type = rill::shard_filter_type::at_latest}});
  ASSERT_TRUE(open.ok());
  ASSERT_GE(open->shards.size(), 4u);
  add(1000);
  ASSERT_TRUE(f.engine
                  ->merge_shards({.stream_name = "s",
                                  .shard_to_merge = open->shards[0].shard_id.to_string(),
                                  .adjacent_shard_to_merge = open->shards[1].shard_id.to_string()})
                  .ok());
  add(1000);
  p.flush();
  f.drain(p);
  ASSERT_EQ(results.size(), static_cast<std::size_t>(n));
  for (const auto& [data, r] : results) ASSERT_TRUE(r.successful) << data;
  EXPECT_GT(wrong_shard_retries, 0u) << "the split should have sent some members to the wrong child";

  // A KCL-style consumer (members filtered by shard range) sees every record exactly once,
  // where the producer said it put it.
  auto got = read_all(*f.engine, "s");
  EXPECT_EQ(got.out_of_range, wrong_shard_retries);
  std::map<std::string, const stored_user_record*> by_data;
  for (const auto& u : got.in_range) {
    EXPECT_TRUE(by_data.emplace(u.data, &u).second) << "duplicate " << u.data;
  }
  ASSERT_EQ(by_data.size(), results.size());
  for (const auto& [data, r] : results) {
    const auto* u = by_data.at(data);
    EXPECT_EQ(u->shard, r.shard_id->to_string());
    EXPECT_EQ(u->sequence_number, r.sequence_number->to_string());
    EXPECT_EQ(u->sub_sequence_number, r.sub_sequence_number);
  }
}

TEST(Producer, RecordsExpireAtTheirTtl) {
  fixture f(1);
  auto c = f.config();
  c.record_ttl = 1000;
  rill::producer p(*f.engine, c);
  auto t0 = f.clock->now();
  // No such stream: ListShards and PutRecords fail with ResourceNotFoundException, retried until the TTL.
  auto fut = p.add_user_record({.stream_name = "missing", .partition_key = "k", .data = "x"});
  ASSERT_TRUE(fut.ok());
  f.clock->advance(999ms);
  EXPECT_EQ(fut->wait_for(0s), std::future_status::timeout);
  f.clock->advance(1ms);
  ASSERT_EQ(fut->wait_for(0s), std::future_status::ready);
  auto r = fut->get();
  EXPECT_FALSE(r.successful);
  ASSERT_GE(r.attempts.size(), 3u);
  EXPECT_EQ(r.attempts.back().error_code, "Expired");
  EXPECT_EQ(r.attempts.back().start, t0 + 1000ms);
  EXPECT_EQ(r.attempts.front().error_code, "ResourceNotFoundException");
  // Backoff: 100, 200, 400 ms between attempts.
  ASSERT_GE(r.attempts.size(), 4u);
  EXPECT_EQ(r.attempts[1].start - r.attempts[0].start, 100ms + 50ms);  // backoff, then RecordMaxBufferedTime / 2
  EXPECT_EQ(p.outstanding_records_count(), 0u);
  EXPECT_NE(f.engine->metrics()->to_json().find("UserRecordExpired"), std::string::npos);
}

TEST(Producer, OrderPerPartitionKeyIsKept) {
  fixture f(4);
  auto c = f.config();
  c.aggregation_max_size = 2000;  // many aggregates per shard
  rill::producer p(*f.engine, c);
  std::vector<std::future<rill::user_record_result>> futures;
  std::vector<std::string> pks;
  for (int i = 0; i < 3000; ++i) {
    std::string pk = "key-" + std::to_string(i % 13);
    std::string data = std::to_string(i) + std::string(40, 'o');
    auto fut = p.add_user_record({.stream_name = "s", .partition_key = pk, .data = data});
    ASSERT_TRUE(fut.ok());
    futures.push_back(std::move(*fut));
    pks.push_back(pk);
    if (i % 100 == 0) f.clock->advance(3ms);
  }
  f.drain(p);
  std::map<std::string, std::pair<rill::sequence_number, std::uint64_t>> last;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.successful);
    std::pair<rill::sequence_number, std::uint64_t> pos{*r.sequence_number, r.sub_sequence_number};
    if (auto it = last.find(pks[i]); it != last.end()) {
      EXPECT_LT(it->second, pos) << "record " << i << " of " << pks[i] << " overtook an earlier one";
    }
    last[pks[i]] = pos;
  }
}

TEST(Producer, ShutdownPutsOrFailsEveryRecordNeverDropsOne) {
  fixture f(4);
  std::size_t ok = 0, shut = 0, other = 0;
  {
    auto c = f.config();
    c.aggregation_max_count = 50;
    c.collection_max_count = 5;
    rill::producer p(*f.engine, c);
    auto cb = [&](const rill::user_record_result& r) {
      if (r.successful) {
        ++ok;
      } else if (r.attempts.back().error_code == "Shutdown") {
        ++shut;
      } else {
        ++other;
      }
    };
    for (int i = 0; i < 500; ++i)
      ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = std::to_string(i), .data = "x"}, cb).ok());
    f.clock->advance(100ms);  // the first ones are put
    for (int i = 0; i < 1000; ++i)
      ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = std::to_string(i), .data = "y"}, cb).ok());
    // Full aggregates are now in PutRecords calls not yet run (or waiting for a connection), the rest buffered.
    EXPECT_GT(p.outstanding_records_count(), 0u);
    p.shutdown();
    EXPECT_EQ(p.outstanding_records_count(), 0u);
    auto after = p.add_user_record({.stream_name = "s", .partition_key = "k", .data = "z"});
    ASSERT_FALSE(after.ok());
    EXPECT_EQ(after.error().code(), rill::error_code::resource_in_use_exception);
  }
  EXPECT_EQ(ok + shut + other, 1500u);
  EXPECT_EQ(other, 0u);
  EXPECT_GE(ok, 500u);
  EXPECT_GT(shut, 0u);
  // What was reported put is in the stream, nothing else.
  auto got = read_all(*f.engine, "s");
  EXPECT_EQ(got.in_range.size(), ok);
}

TEST(Producer, BackPressureFailsOrBoundsOutstandingRecords) {
  fixture f(1);
  auto c = f.config();
  c.max_outstanding_records = 100;
  rill::producer p(*f.engine, c);
  int accepted = 0;
  rill::error_code last{};
  for (int i = 0; i < 150; ++i) {
    auto r = p.add_user_record({.stream_name = "s", .partition_key = "k", .data = "x"}, nullptr);
    if (r.ok()) {
      ++accepted;
    } else {
      last = r.error().code();
    }
  }
  EXPECT_EQ(accepted, 100);
  EXPECT_EQ(last, rill::error_code::limit_exceeded_exception);
  EXPECT_EQ(p.outstanding_records_count(), 100u);
  f.drain(p);
  EXPECT_EQ(p.outstanding_records_count(), 0u);
  EXPECT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = "k", .data = "x"}, nullptr).ok());
}

TEST(Producer, BadInputIsRefusedWithTheAwsErrorAndNothingQueued) {
  fixture f(1);
  rill::producer p(*f.engine, f.config());
  auto code = [&](const rill::user_record_request& r) {
    auto res = p.add_user_record(r, nullptr);
    return res.ok() ? std::optional<rill::error_code>() : res.error().code();
  };
  EXPECT_EQ(code({.stream_name = "s", .partition_key = "", .data = "x"}), rill::error_code::validation_exception);
  EXPECT_EQ(code({.stream_name = "s", .partition_key = std::string(257, 'k'), .data = "x"}),
            rill::error_code::validation_exception);
  EXPECT_EQ(code({.stream_name = "s", .partition_key = std::string(256, 'k'), .data = "x"}), std::nullopt);
  EXPECT_EQ(code({.stream_name = "s", .partition_key = "\xff\xfe", .data = "x"}),
            rill::error_code::validation_exception);
  EXPECT_EQ(code({.stream_name = "bad name!", .partition_key = "k", .data = "x"}),
            rill::error_code::validation_exception);
  EXPECT_EQ(code({.stream_name = "s", .partition_key = "k", .data = std::string(1048577, 'd')}),
            rill::error_code::validation_exception);
  EXPECT_EQ(code({.stream_name = "s", .partition_key = "k", .data = "x", .explicit_hash_key = "-1"}),
            rill::error_code::invalid_argument_exception);
  EXPECT_EQ(code({.stream_name = "s",
                  .partition_key = "k",
                  .data = "x",
                  .explicit_hash_key = "340282366920938463463374607431768211456"}),
            rill::error_code::invalid_argument_exception);
  EXPECT_EQ(p.outstanding_records_count(), 1u);
}

TEST(ProducerConfiguration, KplDefaultsRangesAndPropertiesFiles) {
  rill::producer_configuration d;
  EXPECT_TRUE(d.validate().ok());
  EXPECT_EQ(d.aggregation_max_size, 51200u);
  EXPECT_EQ(d.collection_max_count, 500u);
  EXPECT_EQ(d.record_max_buffered_time, 100u);
  EXPECT_EQ(d.record_ttl, 30000u);
  EXPECT_EQ(d.rate_limit, 150u);
  EXPECT_EQ(d.max_connections, 24u);
  auto bad = d;
  bad.collection_max_count = 501;
  ASSERT_FALSE(bad.validate().ok());
  EXPECT_NE(bad.validate().error().message().find("CollectionMaxCount"), std::string::npos);
  bad = d;
  bad.metrics_namespace = "AWS/Kinesis";
  EXPECT_FALSE(bad.validate().ok());

  // As the KPL's sample default_config.properties writes it.
  auto c = rill::producer_configuration::from_properties(R"(
# KinesisProducer configuration
AggregationEnabled = false
AggregationMaxCount = 4294967295
AggregationMaxSize = 51200
CollectionMaxCount = 300
CollectionMaxSize = 2097152
ConnectTimeout = 6000
FailIfThrottled = true
LogLevel = warning
MaxConnections = 4
MetricsGranularity = stream
MetricsLevel = summary
MetricsNamespace = MyProducer
MetricsUploadDelay = 60000
MinConnections = 1
RateLimit = 120
RecordMaxBufferedTime = 250
RecordTtl = 60000
Region = us-west-1
RequestTimeout = 6000
VerifyCertificate = true
)");
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_FALSE(c->aggregation_enabled);
  EXPECT_EQ(c->collection_max_count, 300u);
  EXPECT_EQ(c->collection_max_size, 2097152u);
  EXPECT_TRUE(c->fail_if_throttled);
  EXPECT_EQ(c->log_level, "warning");
  EXPECT_EQ(c->max_connections, 4u);
  EXPECT_EQ(c->metrics_granularity, "stream");
  EXPECT_EQ(c->metrics_namespace, "MyProducer");
  EXPECT_EQ(c->rate_limit, 120u);
  EXPECT_EQ(c->record_max_buffered_time, 250u);
  EXPECT_EQ(c->record_ttl, 60000u);

  auto e1 = rill::producer_configuration::from_properties("RecordTtl = 50\n");
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.error().code(), rill::error_code::invalid_argument_exception);
  EXPECT_NE(e1.error().message().find("RecordTtl"), std::string::npos);
  auto e2 = rill::producer_configuration::from_properties("Aggregation = true\n");
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message().find("line 1"), std::string::npos);
  EXPECT_FALSE(rill::producer_configuration::from_properties("MaxConnections = many\n").ok());
  EXPECT_FALSE(rill::producer_configuration::from_properties("AggregationEnabled = yes\n").ok());
  auto made = rill::producer::make(*fixture(1).engine, bad);
  EXPECT_FALSE(made.ok());
}

TEST(Producer, MetricsHaveTheKplNames) {
  fixture f(2);
  rill::producer p(*f.engine, f.config());
  for (int i = 0; i < 200; ++i)
    ASSERT_TRUE(p.add_user_record({.stream_name = "s", .partition_key = std::to_string(i), .data = "m"}, nullptr).ok());
  f.drain(p);
  std::string json = f.engine->metrics_json();
  for (const char* name : {"UserRecordsReceived", "UserRecordsPending", "UserRecordsPut", "UserRecordsDataPut",
                           "KinesisRecordsPut", "KinesisRecordsDataPut", "BufferingTime", "RetriesPerRecord",
                           "UserRecordsPerKinesisRecord", "KinesisRecordsPerPutRecordsRequest",
                           "UserRecordsPerPutRecordsRequest", "Request Time", "KinesisProducerLibrary"}) {
    EXPECT_NE(json.find(std::string("\"") + name + "\""), std::string::npos) << name;
  }
  auto sum = [&](const std::vector<rill::metric_dimension>& dims) {
    auto got = f.engine->metrics()->get("KinesisProducerLibrary", "UserRecordsPut", dims, f.clock->now() - 1h,
                                        f.clock->now() + 1h);
    double s = 0;
    for (const auto& d : got.datapoints) s += d.sum;
    return s;
  };
  EXPECT_EQ(sum({}), 200);
  EXPECT_EQ(sum({{"StreamName", "s"}}), 200);
  EXPECT_EQ(sum({{"StreamName", "s"}, {"ShardId", "shardId-000000000000"}}) +
                sum({{"StreamName", "s"}, {"ShardId", "shardId-000000000001"}}),
            200);
}

// What aggregation is for: with the shard limits on, a minute of a producer
// that has more to send than one shard takes. Outcomes are counted from the
// producer's metrics (no callback: the fire-and-forget path).
std::size_t delivered_in_a_minute(bool aggregation, std::size_t* lost) {
  fixture f(1, /*limits=*/true);
  auto c = f.config();
  c.aggregation_enabled = aggregation;
  c.max_outstanding_records = 5000;  // a few seconds of the shard's capacity: nothing nears RecordTtl
  rill::producer p(*f.engine, c);
  std::size_t added = 0;
  std::string data(100, 'd');
  std::vector<std::string> keys;
  for (int i = 0; i < 64; ++i) keys.push_back("user-" + std::to_string(i) + "-abcdefgh");
  auto start = f.clock->now();
  while (f.clock->now() < start + 60s) {
    while (p.add_user_record({.stream_name = "s", .partition_key = keys[added % 64], .data = data}, nullptr).ok())
      ++added;
    f.clock->advance(10ms);
  }
  p.flush();
  f.drain(p);
  auto put = [&](rill::timestamp from, rill::timestamp to) {
    double sum = 0;
    for (const auto& d : f.engine->metrics()->get("KinesisProducerLibrary", "UserRecordsPut", {}, from, to).datapoints)
      sum += d.sum;
    return static_cast<std::size_t>(sum);
  };
  std::size_t total = put(start, f.clock->now() + 1h);
  *lost = added - total + p.outstanding_records_count();
  return put(start, start + 60s);  // the minute starting at `start` (minute-aligned)
}

TEST(Producer, AggregationDeliversAtLeastEightTimesTheRecordsPerShard) {
  std::size_t lost_with = 0, lost_without = 0;
  std::size_t with = delivered_in_a_minute(true, &lost_with);
  std::size_t without = delivered_in_a_minute(false, &lost_without);
  std::printf("[ 8x       ] per shard per second: %.0f user records with aggregation, %.0f without (%.2fx)\n",
              static_cast<double>(with) / 60, static_cast<double>(without) / 60,
              static_cast<double>(with) / static_cast<double>(without));
  EXPECT_EQ(lost_with, 0u);
  EXPECT_EQ(lost_without, 0u);
  EXPECT_GE(with, 8 * without);
}

}  // namespace
