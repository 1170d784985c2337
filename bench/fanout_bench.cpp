// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out and the Lambda-style mapping (docs/fanout.md, docs/performance.md).
//   BM_PushLatency[/spin]: open-loop puts at a fixed rate, put → subscriber
//     latency percentiles beside a condition-variable wake-up measured in the same run.
//   BM_FanOut/N: 1 writer, N callback consumers on 4 shards; delivered records/s per consumer
//     (/0: the writer alone, records put per second).
//   BM_LambdaBatches vs BM_GetRecords: records/s through the mapping (empty
//     function) and through plain GetRecords calls, same data.
// Wall time is read here (std::chrono::steady_clock) only to measure; rill itself
// runs on its injected clock.
#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rill/engine.hpp"
#include "rill/lambda.hpp"

namespace {

using steady = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch()).count();
}

// The machine's 1-minute load average, reported beside wall-clock figures.
double load_1m() {
  double l[1] = {0};
  return ::getloadavg(l, 1) == 1 ? l[0] : -1;
}

// CPU time of the whole process (every thread), to compare work across runs on a shared machine.
std::int64_t process_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

std::string consumer_of(rill::engine& e, const std::string& stream, const std::string& name) {
  auto arn = e.describe_stream_summary({.stream_name = stream}).value().stream_description_summary.stream_arn;
  return e.register_stream_consumer({.stream_arn = arn, .consumer_name = name}).value().consumer.consumer_arn;
}

// A condition-variable wake-up: notifier stamps, waiter measures.
std::vector<std::int64_t> measure_wakeups(int n) {
  std::mutex mu;
  std::condition_variable cv;
  std::int64_t stamp = 0;
  int seq = 0;
  std::vector<std::int64_t> out;
  out.reserve(static_cast<std::size_t>(n));
  std::thread waiter([&] {
    for (int i = 1; i <= n; ++i) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return seq >= i; });
      out.push_back(now_ns() - stamp);
    }
  });
  for (int i = 1; i <= n; ++i) {
    const auto until = now_ns() + 50'000;
    while (now_ns() < until) {
    }
    {
      std::lock_guard lock(mu);
      stamp = now_ns();
      seq = i;
    }
    cv.notify_one();
  }
  waiter.join();
  return out;
}

void BM_PushLatency(benchmark::State& state, bool spin) {
  constexpr int kPuts = 4000;
  constexpr std::int64_t kIntervalNs = 50'000;  // 20k puts/s, well below saturation
  std::vector<std::int64_t> lat;
  std::vector<std::int64_t> wake;
  for (auto _ : state) {
    rill::engine e;
    (void)e.create_stream({.stream_name = "s", .shard_count = 1});
    const auto c = consumer_of(e, "s", "c");
    auto sub = e.subscribe_to_shard({.consumer_arn = c, .shard_id = "shardId-000000000000", .options = {.spin = spin}})
                   .value();
    std::atomic<int> received{0};
    std::vector<std::int64_t> local;
    local.reserve(kPuts);
    std::thread reader([&] {
      while (received.load() < kPuts) {
        auto r = sub->pull(std::chrono::seconds(1));
        if (!r || !r->has_value()) continue;
        const auto t = now_ns();
        for (const auto& rec : (*r)->records) {
          std::int64_t sent = 0;
          std::memcpy(&sent, rec.data.data(), sizeof sent);
          local.push_back(t - sent);
        }
        received.fetch_add(static_cast<int>((*r)->records.size()));
      }
    });
    std::string data(16, 'x');
    auto next = now_ns();
    for (int i = 0; i < kPuts; ++i) {
      next += kIntervalNs;
      while (now_ns() < next) {
      }
      const auto t = now_ns();
      std::memcpy(data.data(), &t, sizeof t);
      (void)e.put_record({.stream_name = "s", .data = data, .partition_key = "k"});
    }
    reader.join();
    lat.insert(lat.end(), local.begin(), local.end());
    auto w = measure_wakeups(2000);
    wake.insert(wake.end(), w.begin(), w.end());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(lat.size()));
  state.counters["p50_ns"] = percentile(lat, 0.50);
  state.counters["p99_ns"] = percentile(lat, 0.99);
  state.counters["p999_ns"] = percentile(lat, 0.999);
  state.counters["wake_p50_ns"] = percentile(wake, 0.50);
  state.counters["load_1m"] = load_1m();
}
BENCHMARK_CAPTURE(BM_PushLatency, cv, false)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PushLatency, spin, true)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_FanOut(benchmark::State& state) {
  const int consumers = static_cast<int>(state.range(0));
  constexpr int kRecords = 200'000;
  constexpr int kShards = 4;
  double per_consumer = 0;
  double cpu_ns = 0;
  std::atomic<std::int64_t> events{0};
  double writer_share = 0;
  for (auto _ : state) {
    rill::engine e;
    (void)e.create_stream({.stream_name = "s", .shard_count = kShards});
    std::vector<std::unique_ptr<std::atomic<std::int64_t>>> counts;
    std::vector<std::shared_ptr<rill::subscription>> subs;
    for (int c = 0; c < consumers; ++c) {
      counts.push_back(std::make_unique<std::atomic<std::int64_t>>(0));
      const auto arn = consumer_of(e, "s", "c" + std::to_string(c));
      for (int sh = 0; sh < kShards; ++sh) {
        auto* count = counts.back().get();
        rill::subscription_options opt;
        opt.handler = [count, &events](rill::result<rill::subscribe_to_shard_event> ev) {
          if (ev && !ev->records.empty()) {
            count->fetch_add(static_cast<std::int64_t>(ev->records.size()), std::memory_order_relaxed);
            events.fetch_add(1, std::memory_order_relaxed);
          }
        };
        subs.push_back(e.subscribe_to_shard({.consumer_arn = arn,
                                             .shard_id = rill::shard_id(static_cast<std::uint32_t>(sh)).to_string(),
                                             .options = opt})
                           .value());
      }
    }
    std::vector<std::string> keys;
    for (int i = 0; i < 500; ++i) keys.push_back("key-" + std::to_string(i));
    const std::string data(100, 'd');
    const auto start = steady::now();
    const auto cpu_start = process_cpu_ns();
    for (int b = 0; b < kRecords / 500; ++b) {
      rill::put_records_request req{.stream_name = "s"};
      for (const auto& k : keys) req.records.push_back({.data = data, .partition_key = k});
      (void)e.put_records(req);
    }
    const auto written = steady::now();
    for (auto& c : counts) {
      while (c->load() < kRecords) std::this_thread::yield();
    }
    const double secs = std::chrono::duration<double>(steady::now() - start).count();
    writer_share = std::chrono::duration<double>(written - start).count() / secs;
    cpu_ns = static_cast<double>(process_cpu_ns() - cpu_start);
    per_consumer = kRecords / secs;
    for (auto& s : subs) s->cancel();
  }
  // How many records an event carried on average (events with records only).
  state.counters["records_per_event"] = static_cast<double>(kRecords) * consumers *
                                        static_cast<double>(state.iterations()) /
                                        static_cast<double>(std::max<std::int64_t>(1, events.load()));
  state.SetItemsProcessed(static_cast<std::int64_t>(kRecords) * consumers * state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(kRecords) * 107 * consumers * state.iterations());
  state.counters["records_per_s_per_consumer"] = per_consumer;
  // All threads' CPU (writer and every pipe) per record put, and per record delivered.
  state.counters["cpu_ns_per_put"] = cpu_ns / kRecords;
  state.counters["cpu_ns_per_delivery"] = cpu_ns / (static_cast<double>(kRecords) * std::max(1, consumers));
  // The writer's part of the wall time (the rest: deliveries after the last put).
  state.counters["writer_share"] = writer_share;
  state.counters["load_1m"] = load_1m();
}
// /0: the writer alone (no subscriber), the put cost the others are compared with:
// CPU per delivered record = (cpu_ns_per_put at N - cpu_ns_per_put at 0) / N.
BENCHMARK(BM_FanOut)->Arg(0)->Arg(1)->Arg(5)->Arg(20)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

constexpr int kLambdaRecords = 100'000;

void fill(rill::engine& e) {
  (void)e.create_stream({.stream_name = "s", .shard_count = 4});
  std::vector<std::string> keys;
  for (int i = 0; i < 500; ++i) keys.push_back("key-" + std::to_string(i));
  const std::string data(100, 'd');
  for (int b = 0; b < kLambdaRecords / 500; ++b) {
    rill::put_records_request req{.stream_name = "s"};
    for (const auto& k : keys) req.records.push_back({.data = data, .partition_key = k});
    (void)e.put_records(req);
  }
}

void BM_GetRecords(benchmark::State& state) {
  auto clock = std::make_shared<rill::manual_clock>();
  rill::engine e({.clock = clock});
  fill(e);
  std::int64_t n = 0;
  for (auto _ : state) {
    for (int sh = 0; sh < 4; ++sh) {
      auto it = e.get_shard_iterator(
                     {.stream_name = "s", .shard_id = rill::shard_id(static_cast<std::uint32_t>(sh)).to_string()})
                    .value()
                    .shard_iterator;
      for (;;) {
        auto r = e.get_records({.shard_iterator = it, .limit = 1000}).value();
        n += static_cast<std::int64_t>(r.records.size());
        benchmark::DoNotOptimize(r.records.data());
        if (r.records.empty()) break;
        it = *r.next_shard_iterator;
      }
    }
  }
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * 107);
}
BENCHMARK(BM_GetRecords)->Unit(benchmark::kMillisecond);

void BM_LambdaBatches(benchmark::State& state) {
  auto clock = std::make_shared<rill::manual_clock>();
  rill::engine e({.clock = clock});
  fill(e);
  std::int64_t n = 0;
  for (auto _ : state) {
    rill::lambda::event_source_mapping esm(e, *clock, {.stream_name = "s", .batch_size = 1000},
                                           [&](const rill::lambda::kinesis_event& ev) {
                                             n += static_cast<std::int64_t>(ev.records.size());
                                             return rill::lambda::function_response{};
                                           });
    (void)esm.run_until_caught_up();
  }
  state.SetItemsProcessed(n);
  state.SetBytesProcessed(n * 107);
}
BENCHMARK(BM_LambdaBatches)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
