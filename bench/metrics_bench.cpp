// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The cost of one metrics_registry sample (linked into rill_streams_scale_bench):
//   BM_MetricsPutByName/D  put() with a namespace, a name and D dimensions (the
//                          key is built, sorted and looked up per sample), as
//                          the producer records its per-shard metrics
//   BM_MetricsPutSeries/D  the same sample through a metric_series handle
//                          registered once (the baseline of a sample's own work)
// 1,000 other series are present, as in a registry with per-shard metrics.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "rill/clock.hpp"
#include "rill/metrics.hpp"

namespace rill::bench {
namespace {

std::shared_ptr<metrics_registry> filled_registry() {
  auto reg = std::make_shared<metrics_registry>(std::make_shared<manual_clock>());
  for (int i = 0; i < 1000; ++i) {
    const metric_dimension d[] = {{"StreamName", "bench"}, {"ShardId", "shardId-" + std::to_string(100000 + i)}};
    reg->put("KinesisProducerLibrary", "UserRecordsPut", d, 1, "Count");
  }
  return reg;
}

const metric_dimension kDims[] = {{"StreamName", "bench"}, {"ShardId", "shardId-000000000003"}};

void BM_MetricsPutByName(benchmark::State& state) {
  auto reg = filled_registry();
  const std::span<const metric_dimension> dims(kDims, static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) reg->put("KinesisProducerLibrary", "UserRecordsPut", dims, 1, "Count");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPutByName)->Arg(0)->Arg(1)->Arg(2);

void BM_MetricsPutSeries(benchmark::State& state) {
  auto reg = filled_registry();
  const std::span<const metric_dimension> dims(kDims, static_cast<std::size_t>(state.range(0)));
  const metric_series s = reg->series("KinesisProducerLibrary", "UserRecordsPut", dims, "Count");
  for (auto _ : state) s.put(1);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPutSeries)->Arg(0)->Arg(1)->Arg(2);

}  // namespace
}  // namespace rill::bench
