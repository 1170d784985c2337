// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A producer that retries with exponential backoff against a throttled stream.
//
// The stream has 2 shards with Kinesis's real write limit (1000 records/s per
// shard, off by default in rill, turned on here). The producer offers 3000
// records/s for a minute, 50% more than the stream takes, in PutRecords
// batches; throttled entries come back with ProvisionedThroughputExceeded and
// are resent after a backoff that doubles on every consecutive throttled
// batch (100 ms, 200 ms, … up to 5 s, with jitter) and resets on success.
//
// The producer waits only through the engine's clock (clock.sleep_for). Here
// that is a manual clock, on which sleeping moves time (its default sleep
// policy), so the minute of simulated traffic runs in a fraction of a second
// and prints the same figures every run; with a system_clock the same code
// sleeps for real.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "rill/engine.hpp"

using namespace std::chrono_literals;

int main() {
  auto clock = std::make_shared<rill::manual_clock>();
  rill::engine_options options{.clock = clock};
  options.throughput.enabled = true;  // 1 MiB/s and 1000 records/s per shard, as on AWS
  rill::engine kinesis(options);
  if (auto r = kinesis.create_stream({.stream_name = "orders", .shard_count = 2}); !r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }

  constexpr int kSeconds = 60;
  constexpr int kOfferedPerSecond = 3000;
  constexpr rill::duration kBaseBackoff = 100ms;
  constexpr rill::duration kMaxBackoff = 5s;
  std::mt19937 rng(7);  // jitter; fixed seed so every run prints the same

  // The producer's queue: records waiting to be sent (new and retried).
  struct pending {
    std::string key;
    std::string data;
    int attempts = 0;
  };
  std::deque<pending> queue;
  long long produced = 0, acknowledged = 0, retries = 0, throttled_batches = 0;
  int consecutive_throttles = 0;
  std::vector<long long> acked_per_second;

  const rill::timestamp start = clock->now();
  const rill::timestamp stop_producing = start + std::chrono::seconds(kSeconds);
  rill::timestamp next_arrival = start;
  while (true) {
    const rill::timestamp now = clock->now();
    // New records arrive at the offered rate, in 10 ms ticks.
    while (next_arrival <= now && next_arrival < stop_producing) {
      for (int i = 0; i < kOfferedPerSecond / 100; ++i) {
        const std::string id = std::to_string(produced++);
        queue.push_back({"customer-" + std::to_string(produced % 5000), "order " + id, 0});
      }
      next_arrival += 10ms;
    }
    if (queue.empty() && now >= stop_producing) break;
    if (queue.empty()) {
      clock->sleep_for(next_arrival - now);
      continue;
    }

    // Send up to 500 records in one PutRecords.
    const std::size_t n = std::min<std::size_t>(queue.size(), 500);
    rill::put_records_request req{.stream_name = "orders"};
    for (std::size_t i = 0; i < n; ++i) req.records.push_back({.data = queue[i].data, .partition_key = queue[i].key});
    auto result = kinesis.put_records(req);
    if (!result) {  // a whole-request failure: nothing was stored; back off and resend all
      std::fprintf(stderr, "PutRecords failed: %s\n", result.error().to_string().c_str());
      return 1;
    }
    std::vector<pending> again;
    for (std::size_t i = 0; i < n; ++i) {
      if (result->records[i].ok()) {
        ++acknowledged;
        const auto second = static_cast<std::size_t>((now - start) / 1s);
        if (acked_per_second.size() <= second) acked_per_second.resize(second + 1, 0);
        ++acked_per_second[second];
      } else {
        ++queue[i].attempts;
        again.push_back(std::move(queue[i]));
      }
    }
    queue.erase(queue.begin(), queue.begin() + static_cast<std::ptrdiff_t>(n));
    // Failed entries go back to the front, in their order: per-key order holds.
    queue.insert(queue.begin(), std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
    retries += static_cast<long long>(again.size());

    if (result->failed_record_count > 0) {
      ++throttled_batches;
      // Exponential backoff with full jitter: wait U(0, min(max, base * 2^k)).
      const auto cap = std::min<rill::duration>(kMaxBackoff, kBaseBackoff * (1 << std::min(consecutive_throttles, 10)));
      ++consecutive_throttles;
      const auto wait = rill::duration(std::uniform_int_distribution<long long>(1, cap.count())(rng));
      clock->sleep_for(wait);
    } else {
      consecutive_throttles = 0;
      clock->sleep_for(10ms);  // the next tick
    }
  }

  const double elapsed = std::chrono::duration<double>(clock->now() - start).count();
  std::printf("offered   %lld records over %d s (%d records/s) to 2 shards of 1000 records/s\n", produced, kSeconds,
              kOfferedPerSecond);
  std::printf("stored    %lld records in %.1f s of simulated time: %.0f records/s\n", acknowledged, elapsed,
              static_cast<double>(acknowledged) / elapsed);
  std::printf("retries   %lld entries resent; %lld batches throttled\n", retries, throttled_batches);
  std::printf("per second (stored):");
  for (std::size_t s = 0; s < acked_per_second.size(); ++s) {
    if (s % 10 == 0) std::printf("\n  %3zus:", s);
    std::printf(" %5lld", acked_per_second[s]);
  }
  std::printf("\n");

  // Check: every record stored exactly once.
  long long stored = 0;
  for (const char* shard : {"shardId-000000000000", "shardId-000000000001"}) {
    auto it = kinesis.get_shard_iterator({.stream_name = "orders", .shard_id = shard});
    std::optional<std::string> iterator = it->shard_iterator;
    while (iterator) {
      clock->sleep_for(200ms);  // reads are limited too: 5 calls/s per shard
      auto got = kinesis.get_records({.shard_iterator = *iterator});
      if (!got) {
        if (got.error().code() == rill::error_code::provisioned_throughput_exceeded_exception) continue;
        std::fprintf(stderr, "GetRecords failed: %s\n", got.error().to_string().c_str());
        return 1;
      }
      stored += static_cast<long long>(got->records.size());
      if (got->records.empty()) break;
      iterator = got->next_shard_iterator;
    }
  }
  std::printf("read back %lld records: %s\n", stored, stored == produced ? "all there, none twice" : "MISMATCH");
  return stored == produced && acknowledged == produced ? 0 : 1;
}
