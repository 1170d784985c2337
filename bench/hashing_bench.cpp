// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Hashing and tokens (registered into rill_bench, beside its baselines):
//
//   BM_Md5Batch/<path>    MD5 of kBatch 16-byte keys per iteration, side by side in
//                         SIMD lanes (src/common/md5_batch), one benchmark per path
//                         this CPU runs; compare with BM_Md5Bound (OpenSSL, one key
//                         at a time)
//   BM_GetRecordsEmpty    get_records on an empty shard, following
//                         NextShardIterator: the fixed cost of a call (verify the
//                         iterator's tag, seal the next one)
//
// RILL_BENCH_MD5_PATH=scalar|avx2|avx512 makes the engine hash with that path
// (default: the best this CPU runs), to show BM_PutRecords per path.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "common/md5_batch.hpp"

namespace rill::bench {
namespace {

// Applies RILL_BENCH_MD5_PATH before any benchmark runs.
const bool g_md5_path_applied = [] {
  std::optional<detail::md5_path> path;
  if (const char* env = std::getenv("RILL_BENCH_MD5_PATH"); env != nullptr) {
    for (auto p : {detail::md5_path::scalar, detail::md5_path::avx2, detail::md5_path::avx512}) {
      if (detail::to_string(p) == env) path = p;
    }
  }
  detail::md5_use_path(path);
  benchmark::AddCustomContext("rill.md5_path", std::string(detail::to_string(detail::md5_current_path())) +
                                                   " (engine's put_records; RILL_BENCH_MD5_PATH to change)");
  return true;
}();

void BM_Md5Batch(benchmark::State& state, detail::md5_path path) {
  if (!detail::md5_path_supported(path)) {
    state.SkipWithError("this CPU does not run this path");
    return;
  }
  const record_set& rs = default_records();
  std::vector<std::string_view> keys(rs.size());
  for (std::size_t i = 0; i < rs.size(); ++i) keys[i] = rs.key(i);
  std::vector<detail::md5_digest> out(kBatch);
  std::size_t at = 0;
  for (auto _ : state) {
    detail::md5_batch(std::span<const std::string_view>(keys.data() + at, kBatch), out.data(), path);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    at += kBatch;
    if (at == keys.size()) at = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kKeyBytes));
  state.SetLabel(std::string(detail::to_string(path)) + ", 500 keys of 16 B per iteration");
}
BENCHMARK_CAPTURE(BM_Md5Batch, scalar, detail::md5_path::scalar);
BENCHMARK_CAPTURE(BM_Md5Batch, avx2, detail::md5_path::avx2);
BENCHMARK_CAPTURE(BM_Md5Batch, avx512, detail::md5_path::avx512);

// One key per iteration with the portable single-block code: what put_record
// (one key per call) could use instead of OpenSSL's MD5() (BM_Md5Bound).
void BM_Md5One(benchmark::State& state) {
  const record_set& rs = default_records();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(detail::md5_hash_key_one(rs.key(i)));
    if (++i == rs.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kKeyBytes));
  state.SetLabel("portable single-block MD5 of a 16 B key");
}
BENCHMARK(BM_Md5One);

// A consumer polling a shard that has nothing new: each call opens the
// iterator (HMAC verify), finds no record, and seals the next iterator (HMAC).
void BM_GetRecordsEmpty(benchmark::State& state) {
  auto e = make_engine(kShards);
  auto it = e->get_shard_iterator({.stream_name = std::string(kStream),
                                   .shard_id = "shardId-000000000000",
                                   .shard_iterator_type = shard_iterator_type::latest});
  if (!it) {
    state.SkipWithError(it.error().to_string().c_str());
    return;
  }
  get_records_request req{.shard_iterator = it->shard_iterator};
  for (auto _ : state) {
    auto r = e->get_records(req);
    if (!r || !r->records.empty() || !r->next_shard_iterator) {
      state.SkipWithError(r ? "get_records: not an empty open shard" : r.error().to_string().c_str());
      break;
    }
    req.shard_iterator = std::move(*r->next_shard_iterator);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("empty shard, following NextShardIterator; goal <= 1 us per call");
}
BENCHMARK(BM_GetRecordsEmpty);

}  // namespace
}  // namespace rill::bench
