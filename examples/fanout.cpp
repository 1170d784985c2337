// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Three consumers of one stream, side by side (docs/fanout.md):
//   * "alerts": enhanced fan-out, a callback per SubscribeToShard pipe: pushed on put;
//   * "archiver": the Lambda-style event source mapping (GetRecords polling, batches);
//   * "poller": a classic GetRecords loop (rill::stream_reader) sleeping 200 ms when idle.
// Each notes put → seen latency on the engine's clock (milliseconds) and prints p50/p99.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rill/engine.hpp"
#include "rill/lambda.hpp"
#include "rill/reader.hpp"

namespace {

struct latencies {
  std::mutex mu;
  std::vector<std::int64_t> ms;
  void add(rill::timestamp put, rill::timestamp seen) {
    std::lock_guard lock(mu);
    ms.push_back((seen - put).count());
  }
  void print(const char* name) {
    std::lock_guard lock(mu);
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double p) { return ms.empty() ? 0 : ms[static_cast<std::size_t>(p * (ms.size() - 1))]; };
    std::printf("%-9s %6zu records  p50 %4lld ms  p99 %4lld ms\n", name, ms.size(), static_cast<long long>(at(0.5)),
                static_cast<long long>(at(0.99)));
  }
};

}  // namespace

int main() {
  auto clock = std::make_shared<rill::system_clock>();
  rill::engine kinesis({.clock = clock});
  if (auto r = kinesis.create_stream({.stream_name = "orders", .shard_count = 2}); !r) {
    std::fprintf(stderr, "%s\n", r.error().to_string().c_str());
    return 1;
  }
  const auto stream_arn =
      kinesis.describe_stream_summary({.stream_name = "orders"}).value().stream_description_summary.stream_arn;
  constexpr int kRecords = 2000;

  // 1. Alerts: one fan-out pipe per shard, records pushed to a callback.
  latencies alerts;
  std::atomic<int> alerted{0};
  const auto consumer =
      kinesis.register_stream_consumer({.stream_arn = stream_arn, .consumer_name = "alerts"}).value().consumer;
  std::vector<std::shared_ptr<rill::subscription>> pipes;
  for (const char* shard : {"shardId-000000000000", "shardId-000000000001"}) {
    rill::subscription_options opt;
    opt.handler = [&](rill::result<rill::subscribe_to_shard_event> ev) {
      if (!ev) return;
      const auto now = clock->now();
      for (const auto& r : ev->records) alerts.add(r.approximate_arrival_timestamp, now);
      alerted += static_cast<int>(ev->records.size());
    };
    pipes.push_back(
        kinesis.subscribe_to_shard({.consumer_arn = consumer.consumer_arn, .shard_id = shard, .options = opt}).value());
  }

  // 2. Archiver: Lambda-style batches (up to 100 records or 500 ms).
  latencies archive;
  std::atomic<int> archived{0};
  std::atomic<bool> stop{false};
  std::thread archiver([&] {
    rill::lambda::event_source_mapping esm(
        kinesis, *clock,
        {.stream_name = "orders",
         .batch_size = 100,
         .maximum_batching_window = std::chrono::milliseconds(500),
         // Checkpoints in a KCL lease table under the mapping's UUID (make_file_lease_store(dir): survives restarts).
         .lease_store = rill::kcl::make_memory_lease_store(),
         .mapping_uuid = "archiver"},
        [&](const rill::lambda::kinesis_event& ev) {
          const auto now = clock->now();
          for (const auto& r : ev.records) {
            archive.add(rill::timestamp(std::chrono::milliseconds(
                            static_cast<std::int64_t>(r.kinesis.approximate_arrival_timestamp * 1000 + 0.5))),
                        now);
          }
          archived += static_cast<int>(ev.records.size());
          return rill::lambda::function_response{};
        });
    while (!stop) {
      (void)esm.poll();
      clock->sleep_for(std::chrono::milliseconds(100));
    }
  });

  // 3. Poller: GetRecords, 200 ms between idle calls.
  latencies poll;
  std::atomic<int> polled{0};
  std::thread poller([&] {
    rill::stream_reader reader(kinesis,
                               {.stream_name = "orders", .read_mode = rill::stream_reader_options::mode::tail});
    while (!stop) {
      auto batch = reader.next();
      if (!batch || batch->records.empty()) {
        clock->sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      const auto now = clock->now();
      for (const auto& r : batch->records) poll.add(r.approximate_arrival_timestamp, now);
      polled += static_cast<int>(batch->records.size());
    }
  });

  // The writer: 2000 orders over about two seconds.
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "customer-" + std::to_string(i % 97);
    const std::string data = "order-" + std::to_string(i);
    (void)kinesis.put_record({.stream_name = "orders", .data = data, .partition_key = key});
    if (i % 10 == 9) clock->sleep_for(std::chrono::milliseconds(10));
  }
  while (alerted < kRecords || archived < kRecords || polled < kRecords) {
    clock->sleep_for(std::chrono::milliseconds(50));
  }
  stop = true;
  archiver.join();
  poller.join();
  for (auto& p : pipes) p->cancel();
  alerts.print("fan-out");
  archive.print("lambda");
  poll.print("poller");
  return 0;
}
