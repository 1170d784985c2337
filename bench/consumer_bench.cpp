// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_consumer_bench: the KCL-style consumer (rill/kcl.hpp).
//
//   BM_GetRecords     baseline: the bare GetRecords loop over one shard of 100,000
//                     records (100 B payload, 16 B key), 10,000 per call
//   BM_KclThroughput  the same records through one KCL worker: one shard, a
//                     processor that checkpoints every batch, in-memory lease store,
//                     on a manual clock (each pass: a fresh worker and lease table,
//                     from TRIM_HORIZON to the last record)
//   BM_KclFanOutThroughput  the same through enhanced fan-out retrieval
//                     (SubscribeToShard events instead of GetRecords)
//   BM_KclRebalance/N N leases (shards), 10 workers started together, graceful
//                     handoff, steals unbounded per run: wall time until every
//                     worker holds N/10; `manual_s` = clock time it took
//
// Goals: BM_KclThroughput >= 0.5 x BM_GetRecords (items/s); BM_KclRebalance wall
// time linear in N (items/s = leases/s roughly constant across N).
#include <benchmark/benchmark.h>

#include <random>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include "rill/engine.hpp"
#include "rill/kcl.hpp"
#include "rill/logging.hpp"

namespace rill::kcl::bench {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kRecords = 100'000;
constexpr std::int32_t kLimit = 10'000;
constexpr std::size_t kPayload = 100, kKey = 16;

struct stream_fixture {
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<engine> e;
  std::vector<std::string> keys, payloads;
  stream_fixture() {
    e = std::make_unique<engine>(engine_options{.clock = clock});
    if (!e->create_stream({.stream_name = "bench", .shard_count = 1})) throw std::runtime_error("create_stream");
    std::mt19937_64 rng(0x5eed0001);
    for (std::size_t i = 0; i < 500; ++i) {
      std::string k(kKey, ' '), p(kPayload, ' ');
      for (auto& c : k) c = static_cast<char>('!' + rng() % 94);
      for (auto& c : p) c = static_cast<char>(rng());
      keys.push_back(std::move(k));
      payloads.push_back(std::move(p));
    }
    fill();
  }
  void fill() {
    for (std::size_t put = 0; put < kRecords; put += 500) {
      put_records_request req{.stream_name = "bench"};
      for (std::size_t i = 0; i < 500; ++i) req.records.push_back({.data = payloads[i], .partition_key = keys[i]});
      auto r = e->put_records(req);
      if (!r || r->failed_record_count) throw std::runtime_error("put_records");
    }
  }
};

stream_fixture& fixture() {
  static stream_fixture f;
  return f;
}

void BM_GetRecords(benchmark::State& state) {
  auto& f = fixture();
  auto th = f.e->get_shard_iterator({.stream_name = "bench", .shard_id = "shardId-000000000000"});
  std::size_t records = 0;
  for (auto _ : state) {
    std::optional<std::string> it = th->shard_iterator;
    std::size_t n = 0;
    while (n < kRecords) {
      auto r = f.e->get_records({.shard_iterator = *it, .limit = kLimit});
      if (!r || r->records.empty()) {
        state.SkipWithError("get_records");
        return;
      }
      n += r->records.size();
      benchmark::DoNotOptimize(r->records.back().data.data());
      it = r->next_shard_iterator;
    }
    records += n;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.SetBytesProcessed(static_cast<std::int64_t>(records * (kPayload + kKey)));
  state.SetLabel("100000 records, 10000 per call, 1 shard");
}
BENCHMARK(BM_GetRecords)->Unit(benchmark::kMillisecond);

struct counting_processor final : shard_record_processor {
  std::size_t* processed;
  explicit counting_processor(std::size_t* p) : processed(p) {}
  void initialize(const initialization_input&) override {}
  void process_records(const process_records_input& in) override {
    std::size_t bytes = 0;
    for (const auto& r : in.records) bytes += r.data.size();
    benchmark::DoNotOptimize(bytes);
    *processed += in.records.size();
    if (!in.checkpointer->checkpoint()) throw std::runtime_error("checkpoint failed");
  }
  void lease_lost(const lease_lost_input&) override {}
  void shard_ended(const shard_ended_input& in) override { (void)in.checkpointer->checkpoint(); }
  void shutdown_requested(const shutdown_requested_input& in) override { (void)in.checkpointer->checkpoint(); }
};

// One worker for the whole run (its buffers warm, as in a long-running consumer).
// Between passes, untimed: the engine's clock jumps 25 hours (the read records
// expire and are released) and 100,000 new records arrive; the worker runs on a
// clock of its own, so only its reads and processing are timed (plus refreshing
// the iterator that the jump expired).
void kcl_throughput(benchmark::State& state, bool fan_out) {
  stream_fixture f;
  auto worker_clock = std::make_shared<manual_clock>();
  std::size_t processed = 0;
  config c;
  c.stream_name = "bench";
  c.worker_identifier = "w";
  c.kinesis = f.e.get();
  c.lease_store = make_memory_lease_store();
  c.clock = worker_clock;
  c.shard_record_processor_factory = [&] { return std::make_unique<counting_processor>(&processed); };
  c.idle_time_between_reads_in_millis = 1ms;
  c.task_backoff_time_millis = 1ms;
  c.max_records = kLimit;
  if (fan_out) c.retrieval = make_fan_out_retrieval_factory({.idle_poll_interval = 1ms});
  auto s = std::move(*scheduler::create(std::move(c)));
  s->start();
  std::size_t goal = 0;
  for (auto _ : state) {
    goal += kRecords;
    while (processed < goal) worker_clock->advance(1ms);
    state.PauseTiming();
    f.clock->advance(25h);
    f.e->trim_expired();
    f.fill();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(goal));
  state.SetBytesProcessed(static_cast<std::int64_t>(goal * (kPayload + kKey)));
  state.SetLabel(fan_out ? "fan-out (SubscribeToShard), 1 worker, 1 shard, checkpoint per event"
                         : "polling, 1 worker, 1 shard, checkpoint per batch, memory lease store");
}
void BM_KclThroughput(benchmark::State& state) { kcl_throughput(state, false); }
BENCHMARK(BM_KclThroughput)->Unit(benchmark::kMillisecond);
// The same with enhanced fan-out retrieval: events of at most 1 MiB, records
// copied into each event (owned_record), then viewed by the batch.
void BM_KclFanOutThroughput(benchmark::State& state) { kcl_throughput(state, true); }
BENCHMARK(BM_KclFanOutThroughput)->Unit(benchmark::kMillisecond);

struct idle_processor final : shard_record_processor {
  void initialize(const initialization_input&) override {}
  void process_records(const process_records_input&) override {}
  void lease_lost(const lease_lost_input&) override {}
  void shard_ended(const shard_ended_input& in) override { (void)in.checkpointer->checkpoint(); }
  void shutdown_requested(const shutdown_requested_input& in) override { (void)in.checkpointer->checkpoint(); }
};

// Counts the lease-table operations of a run (to show the work per lease is bounded).
class counting_store final : public lease_store {
 public:
  explicit counting_store(std::shared_ptr<lease_store> inner) : inner_(std::move(inner)) {}
  std::int64_t ops = 0, scanned = 0;
  result<write_status> create_lease_if_not_exists(const lease& l) override {
    ++ops;
    return inner_->create_lease_if_not_exists(l);
  }
  result<std::optional<lease>> get_lease(std::string_view k) override {
    ++ops;
    return inner_->get_lease(k);
  }
  result<std::vector<lease>> list_leases() override {
    auto r = inner_->list_leases();
    if (r) scanned += static_cast<std::int64_t>(r->size());
    return r;
  }
  result<void> scan_leases(std::vector<lease>& out) override {
    auto r = inner_->scan_leases(out);
    scanned += static_cast<std::int64_t>(out.size());
    return r;
  }
  result<write_status> renew_lease(lease& l) override {
    ++ops;
    return inner_->renew_lease(l);
  }
  result<write_status> take_lease(lease& l, std::string_view o) override {
    ++ops;
    return inner_->take_lease(l, o);
  }
  result<write_status> initiate_handoff(lease& l, std::string_view n) override {
    ++ops;
    return inner_->initiate_handoff(l, n);
  }
  result<write_status> evict_lease(lease& l, std::string_view w) override {
    ++ops;
    return inner_->evict_lease(l, w);
  }
  result<write_status> update_lease(lease& l, std::string_view w) override {
    ++ops;
    return inner_->update_lease(l, w);
  }
  result<void> delete_lease(std::string_view k) override {
    ++ops;
    return inner_->delete_lease(k);
  }

 private:
  std::shared_ptr<lease_store> inner_;
};

void BM_KclRebalance(benchmark::State& state) {
  const auto leases = static_cast<std::int32_t>(state.range(0));
  constexpr int kWorkers = 10;
  double manual_seconds = 0, ops_per_lease = 0, scanned_per_lease = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto clock = std::make_shared<manual_clock>();
    auto e = std::make_unique<engine>(engine_options{.clock = clock});
    if (!e->create_stream({.stream_name = "bench", .shard_count = leases})) {
      state.SkipWithError("create_stream");
      return;
    }
    auto store = std::make_shared<counting_store>(make_memory_lease_store());
    state.ResumeTiming();
    std::vector<std::unique_ptr<scheduler>> workers;
    for (int w = 0; w < kWorkers; ++w) {
      config c;
      c.stream_name = "bench";
      c.worker_identifier = "w" + std::to_string(w);
      c.kinesis = e.get();
      c.lease_store = store;
      c.clock = clock;
      c.shard_record_processor_factory = [] { return std::make_unique<idle_processor>(); };
      c.idle_time_between_reads_in_millis = 1h;  // this measures the leases, not the reads
      c.max_leases_to_steal_at_one_time = leases;
      workers.push_back(std::move(*scheduler::create(std::move(c))));
    }
    const auto start = clock->now();
    for (auto& w : workers) w->start();
    const std::size_t target = static_cast<std::size_t>(leases / kWorkers);
    for (;;) {
      clock->advance(1s);
      state.PauseTiming();  // the check is the benchmark's, not the workers'
      bool balanced = true;
      for (auto& w : workers) {
        auto shards = w->shards();
        if (shards.size() < target || shards.size() > target + 1) balanced = false;
        for (const auto& s : shards) balanced = balanced && s.state == "PROCESSING";
        if (!balanced) break;
      }
      if (clock->now() - start > 2h) {
        state.SkipWithError("not balanced after 2 hours");
        return;
      }
      state.ResumeTiming();
      if (balanced) break;
    }
    manual_seconds = std::chrono::duration<double>(clock->now() - start).count();
    ops_per_lease = static_cast<double>(store->ops) / leases;
    scanned_per_lease = static_cast<double>(store->scanned) / leases;
    state.PauseTiming();
    workers.clear();
    e.reset();
    state.ResumeTiming();
  }
  state.counters["manual_s"] = manual_seconds;
  state.counters["ops_per_lease"] = ops_per_lease;
  state.counters["scanned_per_lease"] = scanned_per_lease;
  state.SetItemsProcessed(state.iterations() * leases);
  state.SetLabel("10 workers, leases/s; manual_s = clock time to balance");
}
BENCHMARK(BM_KclRebalance)
    ->Arg(1)
    ->Arg(10)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(3000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace rill::kcl::bench

int main(int argc, char** argv) {
  rill::logger()->set_level(spdlog::level::off);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
