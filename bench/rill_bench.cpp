// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_bench: the data plane against what the hardware can do. Two baselines
// come first and are measured in the same run, so results read as fractions:
//
//   BM_Md5Bound           MD5 of the partition keys alone (the floor of any put)
//   BM_CopyBound          copying the payloads alone (the floor of any read)
//   BM_PutRecords         put_records, 500 entries per call, 4 shards, steady state
//   BM_PutRecordsNoMetrics   the same with metrics off (recording's cost)
//   BM_PutRecordsColdMemory  the same on a fresh, growing engine (first day)
//   BM_PutRecord          put_record, one record per call, 4 shards
//   BM_GetRecords         get_records, 10000 records per call from one shard
//   BM_PutRecordsThreads  put_records from 1 and 2 threads, each to its own 4 of 8 shards
//
// After the table, a summary prints each ratio next to its goal. See
// docs/performance.md for the goals, the figures and where the time goes.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <time.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "goal_reporter.hpp"

namespace rill::bench {
namespace {

void set_processed(benchmark::State& state, std::int64_t items, std::int64_t bytes_per_item) {
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items * bytes_per_item);
}

// --- baselines ------------------------------------------------------------------

// One key per iteration: the cost per record of hashing partition keys, which
// every put pays before it can route.
void BM_Md5Bound(benchmark::State& state) {
  const record_set& rs = default_records();
  unsigned char digest[16];
  std::size_t i = 0;
  for (auto _ : state) {
    md5(rs.key(i), digest);
    benchmark::DoNotOptimize(digest);
    if (++i == rs.size()) i = 0;
  }
  set_processed(state, state.iterations(), kKeyBytes);
  state.SetLabel("MD5() of a 16 B key");
}
BENCHMARK(BM_Md5Bound);

// kGetLimit payloads per iteration, each memcpy'd into the next slot of a
// preallocated contiguous buffer: the copy a read cannot avoid.
void BM_CopyBound(benchmark::State& state) {
  const record_set& rs = default_records();
  std::vector<char> out(kGetLimit * kPayloadBytes);
  std::size_t size = kPayloadBytes;
  benchmark::DoNotOptimize(size);  // a run-time length, as a reader has
  std::size_t i = 0;
  for (auto _ : state) {
    char* at = out.data();
    for (std::int32_t n = 0; n < kGetLimit; ++n) {
      std::memcpy(at, rs.payload(i).data(), size);
      at += size;
      if (++i == rs.size()) i = 0;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_processed(state, state.iterations() * kGetLimit, kPayloadBytes);
  state.SetLabel("memcpy of 100 B payloads, 10000 per iteration");
}
BENCHMARK(BM_CopyBound);

// --- puts -------------------------------------------------------------------------

// A stream in its steady state, as a service runs for days: records expire
// (24 h retention) as fast as they arrive, so the log writes into memory it
// has used before. Each call is followed by 43.2 s of clock time; 2,000 calls
// make a day, so about a million records are live (126 MB, far beyond the
// caches) and trimming recycles a segment every 16 calls. The engine, its
// clock and that state persist across runs; the first run brings it there
// (untimed).
struct steady_fixture {
  static constexpr rill::duration kStep = std::chrono::milliseconds(43'200);
  std::unique_ptr<engine> e;
  manual_clock& clock;
  std::size_t b = 0;

  explicit steady_fixture(bool metrics)
      : e(make_engine(kShards, metrics)), clock(dynamic_cast<manual_clock&>(e->clock())) {
    const auto& batches = default_batches();
    for (int i = 0; i < 2'200; ++i) put(batches);  // a day and a bit: the window is full and trimming
  }
  bool put(const std::vector<put_records_request>& batches) {
    auto r = e->put_records(batches[b]);
    if (++b == batches.size()) b = 0;
    clock.advance(kStep);
    return r && r->failed_record_count == 0;
  }
};

void run_steady(benchmark::State& state, steady_fixture& steady, const char* label) {
  const auto& batches = default_batches();
  for (auto _ : state) {
    if (!steady.put(batches)) {
      state.SkipWithError("put_records failed");
      break;
    }
  }
  set_processed(state, state.iterations() * static_cast<std::int64_t>(kBatch), kRecordBytes);
  state.SetLabel(label);
}

void BM_PutRecords(benchmark::State& state) {
  // Untimed, once per process: heap bytes retained per stored record, on a fresh engine.
  static const double bytes_per_record = measure_bytes_per_record(kMemoryProbeRecords);
  static steady_fixture steady(true);
  run_steady(state, steady, "4 shards, 500 per call, steady state (24 h retention, recycling)");
  state.counters["bytes_per_record"] = bytes_per_record;
}
BENCHMARK(BM_PutRecords);

// BM_PutRecords with metrics recording off: what recording costs.
void BM_PutRecordsNoMetrics(benchmark::State& state) {
  static steady_fixture steady(false);
  run_steady(state, steady, "as BM_PutRecords, metrics off");
}
BENCHMARK(BM_PutRecordsNoMetrics);

// The first day of a stream: each run starts from a fresh engine that grows by
// every record put (nothing expires), so the timed loop includes taking fresh
// memory from the kernel, a page fault for every 4 KiB (about 32 records).
void BM_PutRecordsColdMemory(benchmark::State& state) {
  const auto& batches = default_batches();
  auto e = make_engine(kShards);
  std::size_t b = 0;
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    if (!r || r->failed_record_count != 0) {
      state.SkipWithError(r ? "put_records: some records failed" : r.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
    if (++b == batches.size()) b = 0;
  }
  set_processed(state, state.iterations() * static_cast<std::int64_t>(kBatch), kRecordBytes);
  state.SetLabel("4 shards, 500 per call, fresh memory");
}
BENCHMARK(BM_PutRecordsColdMemory);

void BM_PutRecord(benchmark::State& state) {
  const record_set& rs = default_records();
  auto e = make_engine(kShards);
  put_record_request req{.stream_name = std::string(kStream)};
  std::size_t i = 0;
  for (auto _ : state) {
    req.data = rs.payload(i);
    req.partition_key = rs.key(i);
    auto r = e->put_record(req);
    if (!r) {
      state.SkipWithError(r.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(r);
    if (++i == rs.size()) i = 0;
  }
  set_processed(state, state.iterations(), kRecordBytes);
  state.SetLabel("4 shards, 1 per call");
}
BENCHMARK(BM_PutRecord);

// Thread t of BM_PutRecordsThreads puts keys whose MD5 starts with bit t, so on
// 8 uniform shards its records land in shards 4t..4t+3 only: the threads share
// the stream, never a shard.
struct thread_records {
  std::array<record_set, 2> sets{record_set(kSeed + 10, 1, 0), record_set(kSeed + 11, 1, 1)};
  std::array<std::vector<put_records_request>, 2> batches{sets[0].batches(), sets[1].batches()};

  thread_records() {
    // Check the routing assumption once on a scratch engine.
    auto e = make_engine(kThreadShards);
    for (std::uint32_t t = 0; t < 2; ++t) {
      auto r = e->put_records(batches[t][0]);
      if (!r) throw std::runtime_error("rill_bench: " + r.error().to_string());
      for (const auto& rec : r->records) {
        if (rec.shard_id.index() / 4 != t) throw std::runtime_error("rill_bench: a thread's key left its shards");
      }
    }
  }
};

const thread_records& per_thread_records() {
  static const thread_records records;
  return records;
}

std::unique_ptr<engine> g_threads_engine;  // set up and torn down by thread 0, outside the timed loop

void BM_PutRecordsThreads(benchmark::State& state) {
  const auto& batches = per_thread_records().batches[static_cast<std::size_t>(state.thread_index())];
  if (state.thread_index() == 0) g_threads_engine = make_engine(kThreadShards);
  // Each thread's own CPU time (the benchmark's code may read clocks; the
  // library does not): CPU per record shows contention even when the cores
  // are busy with other work and wall-clock scaling cannot.
  auto thread_cpu_ns = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  };
  double cpu_ns = 0;
  // No thread enters the loop before all have reached it, so g_threads_engine is set by then.
  bool failed = false;
  std::size_t b = 0;
  for (auto _ : state) {
    const double c0 = thread_cpu_ns();
    auto r = g_threads_engine->put_records(batches[b]);
    cpu_ns += thread_cpu_ns() - c0;
    if (!failed && (!r || r->failed_record_count != 0)) {
      // Keep iterating: leaving the loop early would strand the other thread at the final barrier.
      failed = true;
      state.SkipWithError(r ? "put_records: some records failed" : r.error().to_string().c_str());
    }
    benchmark::DoNotOptimize(r);
    if (++b == batches.size()) b = 0;
  }
  // Items are summed over threads and divided by real time: items/s is the total rate.
  set_processed(state, state.iterations() * static_cast<std::int64_t>(kBatch), kRecordBytes);
  // Per thread, averaged over the threads: CPU nanoseconds per record put.
  state.counters["cpu_ns_per_record"] =
      benchmark::Counter(cpu_ns / static_cast<double>(state.iterations() * static_cast<std::int64_t>(kBatch)),
                         benchmark::Counter::kAvgThreads);
  state.SetLabel("8 shards, 500 per call, 4 shards per thread");
  if (state.thread_index() == 0) g_threads_engine.reset();
}
BENCHMARK(BM_PutRecordsThreads)->Threads(1)->Threads(2)->UseRealTime();

// --- reads ------------------------------------------------------------------------

// Shard 0 of a 4-shard stream holding exactly kGetFill records, and a
// TRIM_HORIZON iterator for it. Built once; reads do not change it.
struct read_fixture {
  std::unique_ptr<engine> e = make_engine(kShards);
  std::string trim_horizon;

  read_fixture() {
    const record_set rs(kSeed + 20, 2, 0);  // keys that route to shard 0 of 4
    const auto batches = rs.batches();
    for (std::size_t put = 0, b = 0; put < kGetFill; put += kBatch, b = (b + 1) % batches.size()) {
      auto r = e->put_records(batches[b]);
      if (!r || r->failed_record_count != 0) throw std::runtime_error("rill_bench: pre-fill put_records failed");
      for (const auto& rec : r->records) {
        if (rec.shard_id.index() != 0) throw std::runtime_error("rill_bench: a pre-fill key left shard 0");
      }
    }
    auto it = e->get_shard_iterator({.stream_name = std::string(kStream),
                                     .shard_id = "shardId-000000000000",
                                     .shard_iterator_type = shard_iterator_type::trim_horizon});
    if (!it) throw std::runtime_error("rill_bench: " + it.error().to_string());
    trim_horizon = it->shard_iterator;
  }
};

// A consumer's loop: read kGetLimit records, follow NextShardIterator, and
// start again at TRIM_HORIZON after the last of the kGetFill records.
void BM_GetRecords(benchmark::State& state) {
  static const read_fixture f;
  constexpr std::size_t kReadsPerPass = kGetFill / kGetLimit;
  get_records_request req{.shard_iterator = f.trim_horizon, .limit = kGetLimit};
  std::size_t reads = 0;
  for (auto _ : state) {
    auto r = f.e->get_records(req);
    if (!r || r->records.size() != static_cast<std::size_t>(kGetLimit) || !r->next_shard_iterator) {
      state.SkipWithError(r ? "get_records: short read" : r.error().to_string().c_str());
      break;
    }
    if (++reads % kReadsPerPass == 0) {
      req.shard_iterator = f.trim_horizon;
    } else {
      req.shard_iterator = std::move(*r->next_shard_iterator);
    }
    benchmark::DoNotOptimize(r);
  }
  set_processed(state, state.iterations() * kGetLimit, kRecordBytes);
  state.SetLabel("10000 per call from 1 shard of 4 holding 100000");
}
BENCHMARK(BM_GetRecords);

void add_context() {
  benchmark::AddCustomContext("rill.build_type", RILL_BENCH_BUILD_TYPE);
  benchmark::AddCustomContext("rill.payload_bytes", std::to_string(kPayloadBytes));
  benchmark::AddCustomContext("rill.key_bytes", std::to_string(kKeyBytes) + " (random printable ASCII, seed " +
                                                    std::to_string(kSeed) + ", " + std::to_string(kPoolRecords) +
                                                    " records reused cyclically)");
  benchmark::AddCustomContext("rill.shards", std::to_string(kShards) + " (BM_PutRecordsThreads: " +
                                                 std::to_string(kThreadShards) + ", 4 per thread)");
  benchmark::AddCustomContext("rill.put_records_batch", std::to_string(kBatch));
  benchmark::AddCustomContext("rill.get_records_limit",
                              std::to_string(kGetLimit) + " (shard pre-filled with " + std::to_string(kGetFill) + ")");
  benchmark::AddCustomContext("rill.storage", "memory, 1 MiB segments");
  benchmark::AddCustomContext("rill.clock", "manual_clock, never advanced (no retention trimming)");
  benchmark::AddCustomContext("rill.bytes_per_record", "mallinfo2 uordblks+hblkhd growth over " +
                                                           std::to_string(kMemoryProbeRecords) + " records / records");
}

// The goal summary goes with the console format only; JSON and CSV stay machine-readable.
bool console_output(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) return std::strcmp(argv[i] + 19, "console") == 0;
  }
  return true;
}

benchmark::ConsoleReporter::OutputOptions console_options(int argc, char** argv) {
  bool color = isatty(STDOUT_FILENO) != 0;
  bool tabular = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--benchmark_color=false" || a == "--benchmark_color=no" || a == "--benchmark_color=0") color = false;
    if (a == "--benchmark_color=true" || a == "--benchmark_color=yes" || a == "--benchmark_color=1") color = true;
    if (a == "--benchmark_counters_tabular=true") tabular = true;
  }
  int o = benchmark::ConsoleReporter::OO_None;
  if (color) o |= benchmark::ConsoleReporter::OO_Color;
  if (tabular) o |= benchmark::ConsoleReporter::OO_Tabular;
  return static_cast<benchmark::ConsoleReporter::OutputOptions>(o);
}

}  // namespace
}  // namespace rill::bench

int main(int argc, char** argv) {
  const bool console = rill::bench::console_output(argc, argv);
  const auto options = rill::bench::console_options(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  rill::bench::add_context();
  if (console) {
    rill::bench::goal_reporter reporter(options);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
