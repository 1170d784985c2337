// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_streams_scale_bench: how each operation's cost grows with the shards of
// a stream (1 … 10,000) and the streams of an engine (1 … 10,000). Every curve
// should be flat (per-call data-plane work, lookups) or linear in the shards
// the call touches (UpdateShardCount, a full DescribeStream walk, the trim
// sweep), reported per shard touched so that flat means O(shards touched).
//
//   BM_PutRecordShards/N        put_record on a stream of N shards, keys in the lowest 1/256
//                               of the hash space (the same few shards whatever N)
//   BM_PutRecordsShards/N       the same with put_records (500 entries)
//   BM_PutRecordOneShard/N      put_record with explicit hash keys that route to shard 0
//                               whatever N (the same work at every N)
//   BM_PutRecordsOneShard/N     the same with put_records (500 entries)
//   BM_PutRecordSpread/N        put_record with keys spread over all N shards (every put
//                               touches a cold shard: shows the working set, not the engine)
//   BM_GetRecordsShards/N       an empty get_records on a stream of N shards
//   BM_PutRecordStreams/N       put_record on one stream of an engine with N streams
//   BM_PutRecordsStreams/N      put_records (500 entries) on one stream of N
//   BM_GetRecordsStreams/N      an empty get_records on one stream of N
//   BM_CreateStreamStreams/N    create_stream + delete_stream with N streams present
//   BM_UpdateShardCountDouble/N update_shard_count N -> 2N (per new shard)
//   BM_UpdateShardCountHalve/N  update_shard_count N -> N/2 (per closed shard)
//   BM_DescribeStreamPages/N    every page of describe_stream over N shards (per shard)
//   BM_TrimSweep/N              trim_expired over N shards with records (per shard)
//   BM_OnDemandCheckStreams/N   the minute's on-demand check with N streams (one on-demand)
//   BM_PutLatencyBaseline       put_record's worst latency while another thread creates
//                               streams (the machine's own scheduling noise)
//   BM_PutDuringReshard         put_record latency while another thread runs
//                               update_shard_count 5000 <-> 10000 on the same stream
//   BM_UnrelatedDuringReshard/R the wait of a create_stream of a new stream and of a
//                               put_record to another stream while update_shard_count
//                               10000 <-> 5000 runs on a third (R = 1); baselines with
//                               no rescale: R = 0 another thread sleeps, R = 2 another
//                               thread burns a rescale's CPU time (no engine lock)
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "rill/engine.hpp"

namespace rill::bench {
namespace {

using u128 = unsigned __int128;

std::unique_ptr<engine> fresh_engine(std::shared_ptr<manual_clock> clock = nullptr) {
  engine_options opt;
  opt.clock = clock ? clock : std::make_shared<manual_clock>();
  opt.shard_limit = 1'000'000;
  return std::make_unique<engine>(std::move(opt));
}

void create(engine& e, const std::string& name, std::int32_t shards) {
  auto r = e.create_stream({.stream_name = name, .shard_count = shards});
  if (!r) throw std::runtime_error(r.error().to_string());
}

const std::vector<std::int64_t> kCounts = {1, 10, 100, 1000, 10000};

const record_set& hot_records() {
  static const record_set rs(kSeed + 100, 8, 0);
  return rs;
}

void put_record_loop(benchmark::State& state, const record_set& rs) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  put_record_request req{.stream_name = "s"};
  std::size_t i = 0;
  for (auto _ : state) {
    req.data = rs.payload(i);
    req.partition_key = rs.key(i);
    auto r = e->put_record(req);
    benchmark::DoNotOptimize(r);
    if (++i == rs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kRecordBytes));
}

void BM_PutRecordShards(benchmark::State& state) { put_record_loop(state, hot_records()); }
BENCHMARK(BM_PutRecordShards)->ArgsProduct({kCounts});

void BM_PutRecordSpread(benchmark::State& state) { put_record_loop(state, default_records()); }
BENCHMARK(BM_PutRecordSpread)->ArgsProduct({kCounts});

// Explicit hash keys spread over the lowest 1/10,000 of the hash space: on a
// uniform stream of N ≤ 10,000 shards they all route to shard 0, so the work
// of a call is the same whatever N; only the other shards' presence differs.
const std::vector<std::string>& shard0_hash_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    const u128 width = ~u128{0} / 10000;
    std::uint64_t x = kSeed;
    for (std::size_t i = 0; i < kPoolRecords; ++i) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      out.push_back(hash_key(width / 0xffffffffULL * (x >> 32)).to_string());
    }
    return out;
  }();
  return keys;
}

void BM_PutRecordOneShard(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  const record_set& rs = default_records();
  const auto& hk = shard0_hash_keys();
  put_record_request req{.stream_name = "s"};
  std::size_t i = 0;
  for (auto _ : state) {
    req.data = rs.payload(i);
    req.partition_key = rs.key(i);
    req.explicit_hash_key = hk[i];
    auto r = e->put_record(req);
    benchmark::DoNotOptimize(r);
    if (++i == rs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kRecordBytes));
}
BENCHMARK(BM_PutRecordOneShard)->ArgsProduct({kCounts});

void BM_PutRecordsOneShard(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  auto batches = default_records().batches();
  const auto& hk = shard0_hash_keys();
  std::size_t k = 0;
  for (auto& b : batches) {
    b.stream_name = "s";
    for (auto& entry : b.records) entry.explicit_hash_key = hk[k++];
  }
  std::size_t b = 0;
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    benchmark::DoNotOptimize(r);
    if (++b == batches.size()) b = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kRecordBytes));
}
BENCHMARK(BM_PutRecordsOneShard)->ArgsProduct({kCounts});

void BM_PutRecordsShards(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  auto batches = hot_records().batches();
  for (auto& b : batches) b.stream_name = "s";
  std::size_t b = 0;
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    benchmark::DoNotOptimize(r);
    if (++b == batches.size()) b = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kRecordBytes));
}
BENCHMARK(BM_PutRecordsShards)->ArgsProduct({kCounts});

void BM_GetRecordsShards(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  auto it = e->get_shard_iterator(
      {.stream_name = "s", .shard_id = "shardId-000000000000", .shard_iterator_type = shard_iterator_type::latest});
  if (!it) throw std::runtime_error(it.error().to_string());
  get_records_request req{.shard_iterator = it->shard_iterator};
  for (auto _ : state) {
    auto r = e->get_records(req);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetRecordsShards)->ArgsProduct({kCounts});

void BM_PutRecordStreams(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  for (std::int32_t i = 0; i < n; ++i) create(*e, "stream-" + std::to_string(i), 1);
  const std::string target = "stream-" + std::to_string(n / 2);
  const record_set& rs = default_records();
  put_record_request req{.stream_name = target};
  std::size_t i = 0;
  for (auto _ : state) {
    req.data = rs.payload(i);
    req.partition_key = rs.key(i);
    auto r = e->put_record(req);
    benchmark::DoNotOptimize(r);
    if (++i == rs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kRecordBytes));
}
BENCHMARK(BM_PutRecordStreams)->ArgsProduct({kCounts});

void BM_PutRecordsStreams(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  for (std::int32_t i = 0; i < n; ++i) create(*e, "stream-" + std::to_string(i), 1);
  auto batches = default_records().batches();
  for (auto& b : batches) b.stream_name = "stream-" + std::to_string(n / 2);
  std::size_t b = 0;
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    benchmark::DoNotOptimize(r);
    if (++b == batches.size()) b = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kRecordBytes));
}
BENCHMARK(BM_PutRecordsStreams)->ArgsProduct({kCounts});

// An empty get_records on one stream of an engine with N streams.
void BM_GetRecordsStreams(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  for (std::int32_t i = 0; i < n; ++i) create(*e, "stream-" + std::to_string(i), 1);
  auto it = e->get_shard_iterator({.stream_name = "stream-" + std::to_string(n / 2),
                                   .shard_id = "shardId-000000000000",
                                   .shard_iterator_type = shard_iterator_type::latest});
  if (!it) throw std::runtime_error(it.error().to_string());
  get_records_request req{.shard_iterator = it->shard_iterator};
  for (auto _ : state) {
    auto r = e->get_records(req);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GetRecordsStreams)->ArgsProduct({kCounts});

void BM_CreateStreamStreams(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  for (std::int32_t i = 0; i < n; ++i) create(*e, "stream-" + std::to_string(i), 1);
  for (auto _ : state) {
    create(*e, "extra", 1);
    auto r = e->delete_stream({.stream_name = "extra"});
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CreateStreamStreams)->ArgsProduct({kCounts});

void BM_UpdateShardCountDouble(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto e = fresh_engine();
    create(*e, "s", n);
    state.ResumeTiming();
    auto r = e->update_shard_count({.stream_name = "s", .target_shard_count = 2 * n});
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    state.PauseTiming();
    e.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * 2 * n);  // new shards
  state.SetLabel("items = new shards");
}
BENCHMARK(BM_UpdateShardCountDouble)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Arg(5000)->Unit(benchmark::kMicrosecond);

void BM_UpdateShardCountHalve(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    auto e = fresh_engine();
    create(*e, "s", n);
    state.ResumeTiming();
    auto r = e->update_shard_count({.stream_name = "s", .target_shard_count = n / 2});
    if (!r) state.SkipWithError(r.error().to_string().c_str());
    state.PauseTiming();
    e.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);  // closed shards
  state.SetLabel("items = closed shards");
}
BENCHMARK(BM_UpdateShardCountHalve)->Arg(2)->Arg(10)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

void BM_DescribeStreamPages(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto e = fresh_engine();
  create(*e, "s", n);
  for (auto _ : state) {
    std::optional<std::string> after;
    for (;;) {
      auto r = e->describe_stream({.stream_name = "s", .exclusive_start_shard_id = after});
      if (!r) {
        state.SkipWithError(r.error().to_string().c_str());
        break;
      }
      const auto& d = r->stream_description;
      if (!d.has_more_shards || d.shards.empty()) break;
      after = d.shards.back().shard_id.to_string();
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel("items = shards described");
}
BENCHMARK(BM_DescribeStreamPages)->ArgsProduct({kCounts})->Unit(benchmark::kMicrosecond);

void BM_TrimSweep(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto clock = std::make_shared<manual_clock>();
  auto e = fresh_engine(clock);
  create(*e, "s", n);
  const u128 width = ~u128{0} / static_cast<u128>(n);
  const std::string data(100, 'x');
  for (std::int32_t i = 0; i < n; ++i) {
    const std::string key = hash_key(width * static_cast<u128>(i)).to_string();
    auto r = e->put_record({.stream_name = "s", .data = data, .partition_key = "k", .explicit_hash_key = key});
    if (!r) throw std::runtime_error(r.error().to_string());
  }
  for (auto _ : state) e->trim_expired();
  state.SetItemsProcessed(state.iterations() * n);
  state.SetLabel("items = shards swept");
}
BENCHMARK(BM_TrimSweep)->ArgsProduct({kCounts})->Unit(benchmark::kMicrosecond);

void BM_OnDemandCheckStreams(benchmark::State& state) {
  const auto n = static_cast<std::int32_t>(state.range(0));
  auto clock = std::make_shared<manual_clock>();
  engine_options opt;
  opt.clock = clock;
  opt.shard_limit = 1'000'000;
  opt.on_demand.enabled = true;
  opt.trim_interval = std::chrono::hours(24 * 365);
  auto e = std::make_unique<engine>(std::move(opt));
  for (std::int32_t i = 1; i < n; ++i) create(*e, "stream-" + std::to_string(i), 1);
  auto r = e->create_stream({.stream_name = "od", .stream_mode_details = stream_mode_details{stream_mode::on_demand}});
  if (!r) throw std::runtime_error(r.error().to_string());
  const auto interval = e->options().on_demand.evaluation_interval;
  for (auto _ : state) clock->advance(interval);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("items = evaluations");
}
BENCHMARK(BM_OnDemandCheckStreams)->ArgsProduct({kCounts})->Unit(benchmark::kMicrosecond);

// A writer's worst put_record latency while another thread rescales the same
// stream between 5,000 and 10,000 shards (and creates an unrelated stream
// between rescales): the reshard must not hold up the writer for its length.
void put_latency(benchmark::State& state, bool reshard) {
  auto e = fresh_engine();
  create(*e, "s", 5000);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> reshards{0};
  std::atomic<std::int64_t> reshard_ns{0};
  std::thread scaler([&] {
    std::int32_t target = 10000;
    int i = 0;
    while (!stop.load()) {
      if (!reshard) {  // the baseline: the same thread load without the reshard
        create(*e, "other-" + std::to_string(i++), 1);
        auto s = e->describe_stream_summary({.stream_name = "s"});
        benchmark::DoNotOptimize(s);
        continue;
      }
      const auto t0 = std::chrono::steady_clock::now();
      auto r = e->update_shard_count({.stream_name = "s", .target_shard_count = target});
      reshard_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
      if (r) {
        target = target == 10000 ? 5000 : 10000;
        ++reshards;
      }
      create(*e, "other-" + std::to_string(i++), 1);
    }
  });
  const record_set& rs = default_records();
  put_record_request req{.stream_name = "s"};
  std::size_t i = 0;
  double worst_us = 0;
  for (auto _ : state) {
    req.data = rs.payload(i);
    req.partition_key = rs.key(i);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = e->put_record(req);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(r);
    worst_us = std::max(worst_us, std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (++i == rs.size()) i = 0;
  }
  stop = true;
  scaler.join();
  state.counters["worst_put_us"] = worst_us;
  state.counters["reshards"] = static_cast<double>(reshards.load());
  state.counters["mean_reshard_us"] =
      reshards.load() > 0 ? static_cast<double>(reshard_ns.load()) / 1000.0 / static_cast<double>(reshards.load()) : 0;
  state.SetItemsProcessed(state.iterations());
}
void BM_PutLatencyBaseline(benchmark::State& state) { put_latency(state, false); }
BENCHMARK(BM_PutLatencyBaseline)->UseRealTime()->MinTime(1.0);

void BM_PutDuringReshard(benchmark::State& state) { put_latency(state, true); }
BENCHMARK(BM_PutDuringReshard)->UseRealTime()->MinTime(1.0);

// The waits of calls on other streams while one stream is rescaled between
// 10,000 and 5,000 shards: a create_stream of a new stream and a put_record to
// another stream, issued back to back by one thread for as long as the rescale
// runs. Only calls that start while a rescale is in flight are counted (R = 1);
// R = 0 runs the same loop for the same time with no rescale (the baseline).
// Wall time: a wait on a lock is what this measures.
void BM_UnrelatedDuringReshard(benchmark::State& state) {
  const auto mode = state.range(0);
  const bool reshard = mode == 1;
  auto e = fresh_engine();
  create(*e, "big", 10000);
  create(*e, "p", 1);
  const record_set& rs = default_records();
  std::vector<double> create_us;
  std::vector<double> put_us;
  std::vector<double> reshard_ms;
  std::vector<double> reshard_cpu_ms;
  std::int32_t target = 5000;
  int made = 0;
  std::size_t rec = 0;
  using clk = std::chrono::steady_clock;
  for (auto _ : state) {
    std::atomic<bool> running{true};
    std::thread scaler([&] {
      const auto t0 = clk::now();
      timespec c0{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      if (reshard) {
        auto r = e->update_shard_count({.stream_name = "big", .target_shard_count = target});
        if (!r) std::fprintf(stderr, "update_shard_count: %s\n", r.error().to_string().c_str());
      } else if (mode == 2) {
        // As much CPU as a rescale takes (about 30 ms), with no engine lock.
        timespec now{};
        volatile std::uint64_t x = 1;
        do {
          for (int k = 0; k < 10000; ++k) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
          clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        } while ((now.tv_sec - c0.tv_sec) * 1000000000L + (now.tv_nsec - c0.tv_nsec) < 30'000'000L);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));  // about one rescale's length
      }
      reshard_ms.push_back(std::chrono::duration<double, std::milli>(clk::now() - t0).count());
      timespec c1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      reshard_cpu_ms.push_back(static_cast<double>(c1.tv_sec - c0.tv_sec) * 1e3 +
                               static_cast<double>(c1.tv_nsec - c0.tv_nsec) / 1e6);
      running = false;
    });
    while (running.load()) {
      const std::string name = "o-" + std::to_string(made++);
      auto t0 = clk::now();
      auto c = e->create_stream({.stream_name = name, .shard_count = 1});
      auto t1 = clk::now();
      if (!c) state.SkipWithError(c.error().to_string().c_str());
      create_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      put_record_request req{.stream_name = "p", .data = rs.payload(rec), .partition_key = rs.key(rec)};
      if (++rec == rs.size()) rec = 0;
      t0 = clk::now();
      auto p = e->put_record(req);
      t1 = clk::now();
      benchmark::DoNotOptimize(p);
      put_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
    scaler.join();
    target = target == 5000 ? 10000 : 5000;
  }
  auto pct = [](std::vector<double> v, double q) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
  };
  state.counters["create_max_us"] = pct(create_us, 1.0);
  state.counters["create_p99_us"] = pct(create_us, 0.99);
  state.counters["create_p50_us"] = pct(create_us, 0.5);
  state.counters["put_max_us"] = pct(put_us, 1.0);
  state.counters["put_p99_us"] = pct(put_us, 0.99);
  state.counters["put_p50_us"] = pct(put_us, 0.5);
  state.counters["calls"] = static_cast<double>(create_us.size());
  state.counters["reshard_ms"] = pct(reshard_ms, 0.5);
  state.counters["reshard_cpu_ms"] = pct(reshard_cpu_ms, 0.5);
  state.SetLabel(reshard     ? "during update_shard_count 10000 <-> 5000"
                 : mode == 2 ? "baseline: another thread busy for 30 ms of CPU, no rescale"
                             : "baseline: no rescale");
}
BENCHMARK(BM_UnrelatedDuringReshard)
    ->Arg(0)
    ->Arg(2)
    ->Arg(1)
    ->Iterations(6)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace rill::bench

BENCHMARK_MAIN();
