// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// rill_delivery_bench: delivery streams against what the libraries and the disk
// can do, measured in the same run so results read as ratios. Every benchmark
// moves the same 5 MiB of 1-KiB JSON records (5120 records) per iteration:
//
//   BM_GzipBound          zlib alone compressing the 5 MiB (gzip wrapper, level 6)
//   BM_IgzipBound/L       ISA-L's igzip alone on the same bytes (levels 1 and 3): is it faster?
//   BM_WriteBound         a bare durable write of the same 5 MiB to the same directory
//                         (open, write, fdatasync, close); files stay until the end, as
//                         the delivered objects do
//   BM_DeliveryGzip       put_record_batch x 11 into a GZIP stream (SizeInMBs 5): one object
//   BM_DeliveryIgzip      the same with gzip_igzip (level 1): compare with BM_IgzipBound/1
//   BM_DeliveryNone       the same, UNCOMPRESSED: one object, written atomically
//   BM_DeliveryPartitioned/N   dynamic partitioning by a jq key with N distinct values,
//                         objects to a callback sink; the clock advances one interval
//                         per iteration so that every partition delivers
//
// Goals (docs/performance.md): DeliveryGzip >= 0.8 x GzipBound, DeliveryNone >=
// 0.5 x WriteBound, Partitioned/500 >= 0.5 x Partitioned/1.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "rill/clock.hpp"
#include "rill/firehose.hpp"

namespace {

constexpr std::size_t kRecordBytes = 1024;
constexpr std::size_t kRecords = 5120;  // 5 MiB
constexpr std::size_t kBatch = 500;

// 1-KiB JSON click events; `pages` distinct page values.
std::vector<std::string> make_records(int pages) {
  std::mt19937_64 rng(0x5eed0002);
  static const char* words[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < kRecords; ++i) {
    std::string r = R"({"page":"/p/)" + std::to_string(static_cast<int>(i) % pages) + R"(","user":)" +
                    std::to_string(rng() % 1'000'000) + R"(,"ts":)" + std::to_string(1'704'067'200'000 + i) +
                    R"(,"agent":")";
    while (r.size() < kRecordBytes - 3) {
      r += words[rng() % 8];
      r += ' ';
    }
    r.resize(kRecordBytes - 3);
    r += "\"}\n";
    out.push_back(std::move(r));
  }
  return out;
}

std::string joined(const std::vector<std::string>& records) {
  std::string all;
  for (const auto& r : records) all += r;
  return all;
}

std::filesystem::path bench_dir() {
  auto p = std::filesystem::temp_directory_path() / ("rill-delivery-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(p);
  return p;
}

void finish(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kRecords));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRecords * kRecordBytes));
}

void BM_GzipBound(benchmark::State& state) {
  const auto data = joined(make_records(50));
  std::string out(compressBound(static_cast<uLong>(data.size())) + 64, '\0');
  for (auto _ : state) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) state.SkipWithError("deflate");
    benchmark::DoNotOptimize(z.total_out);
    state.counters["ratio"] = static_cast<double>(z.total_out) / static_cast<double>(data.size());
    deflateEnd(&z);
  }
  finish(state);
}
BENCHMARK(BM_GzipBound)->Unit(benchmark::kMillisecond);

void BM_IgzipBound(benchmark::State& state) {
  const auto data = joined(make_records(50));
  std::string out(data.size() + 1024, '\0');
  std::vector<std::uint8_t> level_buf(state.range(0) == 1 ? ISAL_DEF_LVL1_DEFAULT : ISAL_DEF_LVL3_DEFAULT);
  for (auto _ : state) {
    isal_zstream z;
    isal_deflate_init(&z);
    z.gzip_flag = IGZIP_GZIP;
    z.level = static_cast<std::uint32_t>(state.range(0));
    z.level_buf = level_buf.data();
    z.level_buf_size = static_cast<std::uint32_t>(level_buf.size());
    z.end_of_stream = 1;
    z.flush = NO_FLUSH;
    z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<std::uint32_t>(data.size());
    z.next_out = reinterpret_cast<std::uint8_t*>(out.data());
    z.avail_out = static_cast<std::uint32_t>(out.size());
    if (isal_deflate(&z) != COMP_OK || z.internal_state.state != ZSTATE_END) state.SkipWithError("isal_deflate");
    benchmark::DoNotOptimize(z.total_out);
    state.counters["ratio"] = static_cast<double>(z.total_out) / static_cast<double>(data.size());
  }
  finish(state);
}
BENCHMARK(BM_IgzipBound)->Arg(1)->Arg(3)->Unit(benchmark::kMillisecond);

void BM_WriteBound(benchmark::State& state) {
  const auto data = joined(make_records(50));
  const auto dir = bench_dir();
  std::size_t n = 0;
  for (auto _ : state) {
    const auto path = dir / ("bound-" + std::to_string(n++));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) || ::fdatasync(fd) != 0)
      state.SkipWithError("write");
    ::close(fd);
  }
  std::filesystem::remove_all(dir);
  finish(state);
}
BENCHMARK(BM_WriteBound)->Unit(benchmark::kMillisecond);

// Puts the 5 MiB as batches; with SizeInMBs 5 the last batch's records cross the
// threshold and the object is written inside that call.
void deliver(benchmark::State& state, const char* compression, bool igzip = false) {
  const auto records = make_records(50);
  const auto dir = bench_dir();
  auto clock = std::make_shared<rill::manual_clock>();
  rill::local_firehose f(
      {.clock = clock, .s3_directory = dir, .random_seed = 1, .gzip_level = igzip ? 1 : 6, .gzip_igzip = igzip});
  rill::delivery::extended_s3_destination_configuration c;
  c.role_arn = "arn:aws:iam::000000000000:role/r";
  c.bucket_arn = "arn:aws:s3:::bench";
  c.compression_format = compression;
  c.buffering_hints = rill::delivery::buffering_hints{5, 900};
  if (!f.create_delivery_stream({.delivery_stream_name = "b", .extended_s3_destination_configuration = c}).ok())
    state.SkipWithError("create");
  std::vector<rill::delivery::put_record_batch_request> batches;
  for (std::size_t i = 0; i < kRecords; i += kBatch) {
    rill::delivery::put_record_batch_request b{.delivery_stream_name = "b"};
    for (std::size_t j = i; j < std::min(kRecords, i + kBatch); ++j) b.records.push_back({records[j]});
    batches.push_back(std::move(b));
  }
  for (auto _ : state) {
    for (const auto& b : batches)
      if (!f.put_record_batch(b).ok()) state.SkipWithError("put");
  }
  state.counters["objects"] = static_cast<double>(f.statistics("b")->delivered_objects);
  (void)f.shutdown();
  std::filesystem::remove_all(dir);
  finish(state);
}

void BM_DeliveryGzip(benchmark::State& state) { deliver(state, "GZIP"); }
BENCHMARK(BM_DeliveryGzip)->Unit(benchmark::kMillisecond);

void BM_DeliveryIgzip(benchmark::State& state) { deliver(state, "GZIP", true); }
BENCHMARK(BM_DeliveryIgzip)->Unit(benchmark::kMillisecond);

void BM_DeliveryNone(benchmark::State& state) { deliver(state, "UNCOMPRESSED"); }
BENCHMARK(BM_DeliveryNone)->Unit(benchmark::kMillisecond);

void BM_DeliveryPartitioned(benchmark::State& state) {
  const auto records = make_records(static_cast<int>(state.range(0)));
  auto clock = std::make_shared<rill::manual_clock>();
  std::int64_t objects = 0;
  rill::local_firehose f({.clock = clock,
                          .sink = [&objects](const rill::delivery::delivered_object& o) -> rill::result<void> {
                            benchmark::DoNotOptimize(o.body.data());
                            ++objects;
                            return {};
                          },
                          .random_seed = 1});
  rill::delivery::extended_s3_destination_configuration c;
  c.role_arn = "arn:aws:iam::000000000000:role/r";
  c.bucket_arn = "arn:aws:s3:::bench";
  c.buffering_hints = rill::delivery::buffering_hints{64, 60};
  c.dynamic_partitioning_configuration = rill::delivery::dynamic_partitioning_configuration{.enabled = true};
  c.prefix = "page=!{partitionKeyFromQuery:page}/";
  c.error_output_prefix = "errors/!{firehose:error-output-type}/";
  c.processing_configuration = rill::delivery::processing_configuration{
      .enabled = true,
      .processors = {{.type = "MetadataExtraction",
                      .parameters = {{"MetadataExtractionQuery", "{page:.page}"}, {"JsonParsingEngine", "JQ-1.6"}}}}};
  if (!f.create_delivery_stream({.delivery_stream_name = "b", .extended_s3_destination_configuration = c}).ok())
    state.SkipWithError("create");
  std::vector<rill::delivery::put_record_batch_request> batches;
  for (std::size_t i = 0; i < kRecords; i += kBatch) {
    rill::delivery::put_record_batch_request b{.delivery_stream_name = "b"};
    for (std::size_t j = i; j < std::min(kRecords, i + kBatch); ++j) b.records.push_back({records[j]});
    batches.push_back(std::move(b));
  }
  for (auto _ : state) {
    for (const auto& b : batches)
      if (!f.put_record_batch(b).ok()) state.SkipWithError("put");
    clock->advance(std::chrono::seconds(60));  // every partition delivers
  }
  state.counters["objects_per_iter"] = static_cast<double>(objects) / static_cast<double>(state.iterations());
  finish(state);
}
BENCHMARK(BM_DeliveryPartitioned)->Arg(1)->Arg(500)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
