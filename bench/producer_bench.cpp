// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_producer_bench: the KPL codec and the producer against the bound measured
// in the same run (100-B records, 16-B keys, 50 KiB aggregates):
//
//   BM_AggregateBound        MD5 of every key plus the MD5 trailer over the same bytes
//   BM_AggregateEncode       aggregated_record_builder: add + serialize (goal ≥ 0.5 × bound)
//   BM_AggregateEncodeLibprotobuf   the same message through libprotobuf (the alternative)
//   BM_Deaggregate           deaggregate_into, MD5 checked (goal ≥ 0.5 × bound)
//   BM_DeaggregateLibprotobuf       MD5 + libprotobuf ParseFromString
//   BM_ProducerUserRecords   add_user_record into the engine, 4 shards, aggregation on,
//                            one caller thread, manual clock (goal ≥ 0.3 × bound)
//
// Then heap bytes per buffered user record (goal ≤ 200) and the ratios.
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <openssl/md5.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "rill/engine.hpp"
#include "rill/kpl.hpp"
#include "rill/producer.hpp"

#ifdef RILL_BENCH_LIBPROTOBUF
#include "messages.pb.h"
#endif

namespace {

constexpr std::size_t kData = 100;
constexpr std::size_t kKey = 16;
constexpr std::size_t kAggregateBytes = 50 * 1024;

struct records {
  std::vector<std::string> keys;
  std::vector<std::string> data;
  std::size_t per_aggregate = 0;  // how many fill a 50 KiB aggregate
};

const records& pool() {
  static const records r = [] {
    records r;
    std::mt19937_64 rng(0x5eed0002);
    std::uniform_int_distribution<int> printable(33, 126);
    for (int i = 0; i < 65536; ++i) {
      std::string k(kKey, ' '), d(kData, ' ');
      for (auto& c : k) c = static_cast<char>(printable(rng));
      for (auto& c : d) c = static_cast<char>(rng());
      r.keys.push_back(std::move(k));
      r.data.push_back(std::move(d));
    }
    rill::kpl::aggregated_record_builder b;
    while (b.size_if_added(r.keys[b.count()], std::nullopt, r.data[b.count()]) <= kAggregateBytes)
      b.add(r.keys[b.count()], std::nullopt, r.data[b.count()]);
    r.per_aggregate = b.count();
    return r;
  }();
  return r;
}

void md5(std::string_view s, unsigned char* out) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
#pragma GCC diagnostic pop
}

std::string make_aggregate(std::size_t first) {
  const auto& p = pool();
  rill::kpl::aggregated_record_builder b;
  for (std::size_t i = 0; i < p.per_aggregate; ++i) b.add(p.keys[first + i], std::nullopt, p.data[first + i]);
  return b.serialize();
}

void BM_AggregateBound(benchmark::State& state) {
  const auto& p = pool();
  std::string body = make_aggregate(0).substr(4);
  body.resize(body.size() - 16);
  unsigned char digest[16];
  for (auto _ : state) {
    for (std::size_t i = 0; i < p.per_aggregate; ++i) md5(p.keys[i], digest);
    md5(body, digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * p.per_aggregate));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
  state.SetLabel(std::to_string(p.per_aggregate) + " records per aggregate");
}
BENCHMARK(BM_AggregateBound);

void BM_AggregateEncode(benchmark::State& state) {
  const auto& p = pool();
  rill::kpl::aggregated_record_builder b;
  std::string out;
  for (auto _ : state) {
    b.clear();
    for (std::size_t i = 0; i < p.per_aggregate; ++i) b.add(p.keys[i], std::nullopt, p.data[i]);
    b.serialize_to(out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * p.per_aggregate));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_AggregateEncode);

void BM_Deaggregate(benchmark::State& state) {
  const auto& p = pool();
  std::string bytes = make_aggregate(0);
  rill::record r;
  r.data = bytes;
  r.partition_key = "a";
  std::vector<rill::kpl::user_record> out;
  for (auto _ : state) {
    out.clear();
    auto f = rill::kpl::deaggregate_into(r, std::nullopt, out);
    benchmark::DoNotOptimize(f);
    if (out.size() != p.per_aggregate) state.SkipWithError("wrong member count");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * p.per_aggregate));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_Deaggregate);

#ifdef RILL_BENCH_LIBPROTOBUF
void BM_AggregateEncodeLibprotobuf(benchmark::State& state) {
  const auto& p = pool();
  std::string out;
  for (auto _ : state) {
    rill_test::kpl::AggregatedRecord m;
    std::unordered_map<std::string_view, std::uint64_t> idx;
    for (std::size_t i = 0; i < p.per_aggregate; ++i) {
      auto [it, fresh] = idx.try_emplace(p.keys[i], idx.size());
      if (fresh) m.add_partition_key_table(p.keys[i]);
      auto* rec = m.add_records();
      rec->set_partition_key_index(it->second);
      rec->set_data(p.data[i]);
    }
    std::string body = m.SerializeAsString();
    unsigned char digest[16];
    md5(body, digest);
    out.assign("\xF3\x89\x9A\xC2", 4);
    out += body;
    out.append(reinterpret_cast<char*>(digest), 16);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * p.per_aggregate));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_AggregateEncodeLibprotobuf);

void BM_DeaggregateLibprotobuf(benchmark::State& state) {
  const auto& p = pool();
  std::string bytes = make_aggregate(0);
  for (auto _ : state) {
    std::string_view body(bytes.data() + 4, bytes.size() - 20);
    unsigned char digest[16];
    md5(body, digest);
    rill_test::kpl::AggregatedRecord m;
    bool ok = std::memcmp(digest, bytes.data() + bytes.size() - 16, 16) == 0 &&
              m.ParseFromArray(body.data(), static_cast<int>(body.size()));
    if (!ok || static_cast<std::size_t>(m.records_size()) != p.per_aggregate) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * p.per_aggregate));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_DeaggregateLibprotobuf);
#endif

void BM_ProducerUserRecords(benchmark::State& state) {
  const auto& p = pool();
  auto clock = std::make_shared<rill::manual_clock>();
  rill::engine e({.clock = clock});
  if (!e.create_stream({.stream_name = "bench", .shard_count = 4}).ok()) state.SkipWithError("create_stream");
  rill::producer_configuration c;
  c.clock = clock;
  c.metrics = e.metrics();
  // The engine's limits are off and the manual clock moves 5 ms per 4096 records
  // (far more bytes per simulated second than a shard takes): pace nothing.
  c.rate_limit = 1'000'000;
  c.back_pressure = rill::back_pressure_mode::fail;
  rill::producer prod(e, c);
  std::size_t i = 0;
  for (auto _ : state) {
    auto r = prod.add_user_record(
        {.stream_name = "bench", .partition_key = p.keys[i & 65535], .data = p.data[i & 65535]}, nullptr);
    if (!r.ok()) state.SkipWithError("add_user_record failed");
    if ((++i & 4095) == 0) clock->advance(std::chrono::milliseconds(5));
  }
  prod.flush();
  while (prod.outstanding_records_count() > 0) clock->advance(std::chrono::milliseconds(10));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (kData + kKey)));
}
BENCHMARK(BM_ProducerUserRecords)->MinTime(1.0);

std::size_t heap_in_use() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

// Heap bytes per user record held in the producer's buffers (nothing is sent:
// RecordMaxBufferedTime is an hour and the clock does not move).
double bytes_per_buffered_record(int variant) {
  const auto& p = pool();
  auto clock = std::make_shared<rill::manual_clock>();
  rill::engine e({.clock = clock});
  (void)e.create_stream({.stream_name = "bench", .shard_count = 4});
  rill::producer_configuration c;
  c.clock = clock;
  c.record_max_buffered_time = 3600'000;
  c.record_ttl = 7200'000;
  c.aggregation_max_size = 10485760;
  rill::producer prod(e, c);
  (void)prod.add_user_record({.stream_name = "bench", .partition_key = "warm", .data = "up"}, nullptr);
  constexpr std::size_t n = 100'000;
  std::vector<std::future<rill::user_record_result>> futures;
  if (variant == 2) futures.reserve(n);
  std::size_t before = heap_in_use();
  for (std::size_t i = 0; i < n; ++i) {
    rill::user_record_request req{
        .stream_name = "bench", .partition_key = p.keys[i & 65535], .data = p.data[i & 65535]};
    if (variant == 0) {
      (void)prod.add_user_record(req, nullptr);
    } else if (variant == 1) {
      (void)prod.add_user_record(req, [](const rill::user_record_result&) {});
    } else {
      futures.push_back(std::move(*prod.add_user_record(req)));
    }
  }
  std::size_t after = heap_in_use();
  prod.shutdown();
  return static_cast<double>(after - before) / n;
}

class ratio_reporter final : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates_[r.benchmark_name()] = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto bound = rates_.find("BM_AggregateBound");
    if (bound == rates_.end()) return;
    std::printf("\nRatios to BM_AggregateBound (%.3g user records/s), items/s in this run\n", bound->second);
    const std::pair<const char*, double> goals[] = {{"BM_AggregateEncode", 0.5},
                                                    {"BM_AggregateEncodeLibprotobuf", 0},
                                                    {"BM_Deaggregate", 0.5},
                                                    {"BM_DeaggregateLibprotobuf", 0},
                                                    {"BM_ProducerUserRecords/min_time:1.000", 0.3}};
    for (const auto& [name, goal] : goals) {
      auto it = rates_.find(name);
      if (it == rates_.end()) continue;
      double r = it->second / bound->second;
      if (goal > 0) {
        std::printf("  %-40s %6.2f   goal >= %.1f   %s\n", name, r, goal, r >= goal ? "pass" : "FAIL");
      } else {
        std::printf("  %-40s %6.2f   (for comparison)\n", name, r);
      }
    }
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  double none = bytes_per_buffered_record(0);
  double cb = bytes_per_buffered_record(1);
  double fut = bytes_per_buffered_record(2);
  std::printf("\nHeap bytes per buffered user record (100-B data, 16-B key), goal <= 200:\n");
  std::printf("  no callback (outcome in metrics only)   %6.1f   %s\n", none, none <= 200 ? "pass" : "FAIL");
  std::printf("  with a callback                          %6.1f\n", cb);
  std::printf("  with a future                            %6.1f\n", fut);
  benchmark::Shutdown();
  return 0;
}
