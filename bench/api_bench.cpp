// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_api_bench: what the request-field design costs on the put path
// (docs/performance.md, "Request ownership"). Same run, same engine state:
//
//   BM_PutRecordsViewsPrebuilt   put_records of requests built once (as BM_PutRecords): the baseline
//   BM_PutRecordsViewsPerCall    each call's request built from the application's strings
//                                (borrowed_string fields: 500 × a pointer and a length)
//   BM_PutRecordsOwnedPerCall    the same with requests that own their bytes: every data
//                                and key copied into std::strings, then put
//
// Each keeps the engine in the steady state of BM_PutRecords (24 h retention,
// memory recycled), so the ratios show the request building alone.
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace rill::bench {
namespace {

struct steady {
  std::unique_ptr<engine> e = make_engine(kShards);
  manual_clock& clock = dynamic_cast<manual_clock&>(e->clock());
  std::size_t b = 0;
  steady() {
    const auto& batches = default_batches();
    for (int i = 0; i < 2'200; ++i) (void)put(batches[i % batches.size()]);
  }
  bool put(const put_records_request& req) {
    auto r = e->put_records(req);
    clock.advance(std::chrono::milliseconds(43'200));
    return r && r->failed_record_count == 0;
  }
};

// An owning request entry, as the alternative design would have it.
struct owned_entry {
  std::string data{};
  std::string partition_key{};
  std::optional<std::string> explicit_hash_key{};
};

void finish(benchmark::State& state, const char* label) {
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kRecordBytes));
  state.SetLabel(label);
}

void BM_PutRecordsViewsPrebuilt(benchmark::State& state) {
  static steady s;
  const auto& batches = default_batches();
  for (auto _ : state) {
    if (!s.put(batches[s.b++ % batches.size()])) {
      state.SkipWithError("put_records failed");
      break;
    }
  }
  finish(state, "baseline: requests built once");
}
BENCHMARK(BM_PutRecordsViewsPrebuilt);

void BM_PutRecordsViewsPerCall(benchmark::State& state) {
  static steady s;
  const record_set& rs = default_records();
  put_records_request req{.stream_name = std::string(kStream)};
  std::size_t i = 0;
  for (auto _ : state) {
    req.records.clear();
    for (std::size_t n = 0; n < kBatch; ++n, i = (i + 1) % rs.size()) {
      req.records.push_back({.data = rs.payload(i), .partition_key = rs.key(i)});
    }
    if (!s.put(req)) {
      state.SkipWithError("put_records failed");
      break;
    }
  }
  finish(state, "borrowed_string fields, request built per call");
}
BENCHMARK(BM_PutRecordsViewsPerCall);

void BM_PutRecordsOwnedPerCall(benchmark::State& state) {
  static steady s;
  const record_set& rs = default_records();
  std::vector<owned_entry> owned;
  put_records_request req{.stream_name = std::string(kStream)};
  std::size_t i = 0;
  for (auto _ : state) {
    owned.clear();  // a fresh request: its strings are new allocations
    owned.shrink_to_fit();
    owned.reserve(kBatch);
    for (std::size_t n = 0; n < kBatch; ++n, i = (i + 1) % rs.size()) {
      owned.push_back({.data = std::string(rs.payload(i)), .partition_key = std::string(rs.key(i))});
    }
    req.records.clear();
    for (const owned_entry& o : owned) req.records.push_back({.data = o.data, .partition_key = o.partition_key});
    if (!s.put(req)) {
      state.SkipWithError("put_records failed");
      break;
    }
  }
  finish(state, "owning std::string fields, request built per call");
}
BENCHMARK(BM_PutRecordsOwnedPerCall);

}  // namespace
}  // namespace rill::bench

BENCHMARK_MAIN();
