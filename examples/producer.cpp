// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A million events through rill::producer into the in-process engine (64
// shards, system clock), once with KPL aggregation and once without: user
// records per second, Kinesis records per user record, PutRecords calls and
// retries; then every shard is read back and deaggregated to check that each
// event arrived exactly once. The producer paces every shard at RateLimit (150 %)
// of the Kinesis shard limits (1000 records/s, 1 MiB/s), as the KPL does, so
// without aggregation it cannot exceed 1500 records/s per shard: that is what
// aggregation is for.
//
//   build/dev/examples/rill_producer_example [events]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "rill/kpl.hpp"
#include "rill/producer.hpp"

namespace {

struct run_figures {
  double seconds = 0;
  std::uint64_t ok = 0, failed = 0, retries = 0;
  double put_records_calls = 0, kinesis_records = 0;
  bool exactly_once = false;
};

run_figures run(bool aggregation, std::uint64_t events) {
  auto clock = std::make_shared<rill::system_clock>();
  rill::engine kinesis({.clock = clock});
  if (auto r = kinesis.create_stream({.stream_name = "events", .shard_count = 64}); !r) {
    std::fprintf(stderr, "create_stream: %s\n", r.error().to_string().c_str());
    std::exit(1);
  }
  rill::producer_configuration config;
  config.clock = clock;
  config.metrics = kinesis.metrics();
  config.aggregation_enabled = aggregation;
  config.max_outstanding_records = 200'000;  // back-pressure: add_user_record blocks beyond this
  run_figures f;
  std::atomic<std::uint64_t> ok{0}, failed{0}, retries{0};
  auto start = clock->now();
  {
    rill::producer producer(kinesis, config);
    std::string data;
    for (std::uint64_t i = 0; i < events; ++i) {
      data = "event-" + std::to_string(i);
      data.resize(100, '.');
      std::string key = "user-" + std::to_string(i % 10'000);
      auto r = producer.add_user_record({.stream_name = "events", .partition_key = key, .data = data},
                                        [&](const rill::user_record_result& res) {
                                          (res.successful ? ok : failed).fetch_add(1);
                                          retries.fetch_add(res.attempts.size() - 1);
                                        });
      if (!r) {
        std::fprintf(stderr, "add_user_record: %s\n", r.error().to_string().c_str());
        std::exit(1);
      }
    }
    producer.flush_sync();
  }
  f.seconds = static_cast<double>((clock->now() - start).count()) / 1000.0;
  f.ok = ok;
  f.failed = failed;
  f.retries = retries;
  auto calls = kinesis.metrics()->get("KinesisProducerLibrary", "KinesisRecordsPerPutRecordsRequest", {},
                                      start - std::chrono::hours(1), clock->now() + std::chrono::hours(1));
  for (const auto& d : calls.datapoints) {
    f.put_records_calls += static_cast<double>(d.sample_count);
    f.kinesis_records += d.sum;
  }

  // Read every shard back and deaggregate, as a KCL consumer would.
  std::vector<std::uint8_t> seen(events, 0);
  bool duplicate_or_foreign = false;
  auto shards = kinesis.list_shards({.stream_name = "events"});
  for (const auto& sh : shards->shards) {
    auto it = kinesis.get_shard_iterator({.stream_name = "events",
                                          .shard_id = sh.shard_id.to_string(),
                                          .shard_iterator_type = rill::shard_iterator_type::trim_horizon});
    std::string iterator = it->shard_iterator;
    for (;;) {
      auto got = kinesis.get_records({.shard_iterator = iterator});
      if (!got || (got->records.empty() && got->millis_behind_latest == 0)) break;
      for (const auto& record : got->records) {
        for (const auto& u : rill::kpl::deaggregate(record, sh.hash_key_range).records) {
          std::string_view d = u.data.substr(6);
          std::uint64_t id = std::strtoull(std::string(d.substr(0, d.find('.'))).c_str(), nullptr, 10);
          if (id >= events || seen[id]++) duplicate_or_foreign = true;
        }
      }
      if (!got->next_shard_iterator) break;
      iterator = *got->next_shard_iterator;
    }
  }
  f.exactly_once = !duplicate_or_foreign;
  for (auto s : seen) f.exactly_once = f.exactly_once && s == 1;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  bool all_ok = true;
  for (bool aggregation : {true, false}) {
    auto f = run(aggregation, events);
    std::printf(
        "aggregation %-3s  %9.0f user records/s  %.4f Kinesis records per user record  %.0f PutRecords calls  "
        "%llu retries  %llu failed  every event once: %s\n",
        aggregation ? "on" : "off", static_cast<double>(f.ok) / std::max(f.seconds, 0.001),
        f.kinesis_records / static_cast<double>(std::max<std::uint64_t>(f.ok, 1)), f.put_records_calls,
        static_cast<unsigned long long>(f.retries), static_cast<unsigned long long>(f.failed),
        f.exactly_once ? "yes" : "NO");
    all_ok = all_ok && f.exactly_once && f.failed == 0;
  }
  return all_ok ? 0 : 1;
}
