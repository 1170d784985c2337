// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Durable streams in rill_bench (the records, batches and goal summary are
// rill_bench's; see docs/performance.md, "Durable streams"):
//
//   BM_FsyncBound                 append 4 KiB + fdatasync, in a loop: the baseline of every_batch
//   BM_PutRecordsDurable/none     put_records (500 × 100 B, 4 shards) on a data directory, no syncs
//   BM_PutRecordsDurable/every_batch   the same, each call returning after its fdatasyncs
//   BM_PutRecordsDurableGroup     every_batch, 50 records per call, 1 shard, from 1 and 8 threads:
//                                 group commit shares an fdatasync between concurrent writers
//   BM_ReopenDurable              engine::open of a folder holding 10 M records (built once,
//                                 kept under RILL_BENCH_DIR/reopen-10m for later runs)
//   BM_GetRecordsDurable          get_records of 10000 records from disk: before each call (untimed)
//                                 the engine is reopened and the shard's pages dropped from the
//                                 page cache (posix_fadvise DONTNEED)
//   BM_GetRecordsDurableWarm      the same with the files in the page cache
//   BM_ColdFileReadBound          baseline of BM_GetRecordsDurable, no engine: the same segment bytes
//                                 one call reads (the next 1/10 of the shard's 100000 records), page
//                                 cache dropped the same way before each call, read with read()
//   BM_ColdFileMapBound           the same bytes through mmap, touching every page
//
// Files go under RILL_BENCH_DIR (default /var/tmp/rill-bench), on the file
// system being measured; everything but reopen-10m is removed at exit.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "rill/engine.hpp"
#include "rill/file_system.hpp"

namespace rill::bench {
namespace {

namespace stdfs = std::filesystem;

const std::string& bench_root() {
  static const std::string root = [] {
    const char* env = std::getenv("RILL_BENCH_DIR");
    std::string r = env && *env ? env : "/var/tmp/rill-bench";
    stdfs::create_directories(r);
    return r;
  }();
  return root;
}

// A folder for this process's benchmarks, removed at exit.
std::string scratch(const std::string& name) {
  static const std::string base = [] {
    std::string b = bench_root() + "/run-" + std::to_string(::getpid());
    stdfs::remove_all(b);
    stdfs::create_directories(b);
    static const std::string keep = b;
    std::atexit([] { stdfs::remove_all(keep); });
    return b;
  }();
  const std::string d = base + "/" + name;
  stdfs::remove_all(d);
  return d;
}

std::unique_ptr<engine> make_durable(const std::string& dir, sync_policy sync, std::int32_t shards,
                                     std::size_t segment_bytes = 64u << 20) {
  engine_options o;
  o.clock = std::make_shared<manual_clock>();
  o.token_key = "storage_bench: iterators outlive a reopen";
  o.data_directory = dir;
  o.sync = sync;
  o.segment_bytes = segment_bytes;
  auto e = engine::open(std::move(o));
  if (!e) throw std::runtime_error("storage_bench: open: " + e.error().to_string());
  if (!(*e)->describe_stream_summary({.stream_name = std::string(kStream)})) {
    auto r = (*e)->create_stream({.stream_name = std::string(kStream), .shard_count = shards});
    if (!r) throw std::runtime_error("storage_bench: create_stream: " + r.error().to_string());
  }
  return std::move(*e);
}

// --- baseline -------------------------------------------------------------------

void BM_FsyncBound(benchmark::State& state) {
  auto fs = posix_file_system();
  const std::string path = scratch("fsync") + ".dat";
  std::unique_ptr<writable_file> f;
  const std::string block(4096, 'f');
  std::uint64_t ops = 0;
  for (auto _ : state) {
    if (!f || f->size() >= (64u << 20)) {
      f.reset();
      (void)fs->remove(path);
      auto o = fs->open_append(path);
      if (!o) {
        state.SkipWithError(o.error().to_string().c_str());
        break;
      }
      f = std::move(*o);
    }
    if (!f->append(block) || !f->sync()) {
      state.SkipWithError("append or fdatasync failed");
      break;
    }
    ++ops;
  }
  f.reset();
  (void)fs->remove(path);
  state.SetItemsProcessed(static_cast<std::int64_t>(ops));
  state.SetBytesProcessed(static_cast<std::int64_t>(ops) * 4096);
  state.SetLabel("4 KiB append + fdatasync, " + bench_root());
}
BENCHMARK(BM_FsyncBound)->UseRealTime();

// --- puts -----------------------------------------------------------------------

void BM_PutRecordsDurable(benchmark::State& state, sync_policy sync) {
  const auto& batches = default_batches();
  static std::unique_ptr<engine> engines[3];
  auto& e = engines[static_cast<int>(sync)];
  if (!e) e = make_durable(scratch(sync == sync_policy::none ? "put-none" : "put-every"), sync, kShards);
  auto& clock = dynamic_cast<manual_clock&>(e->clock());
  std::size_t b = 0;
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    if (!r || r->failed_record_count != 0) {
      state.SkipWithError("put_records failed");
      break;
    }
    if (++b == batches.size()) b = 0;
    clock.advance(std::chrono::milliseconds(1));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kBatch * kRecordBytes));
  state.counters["calls_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.SetLabel(sync == sync_policy::none ? "4 shards, 500 per call, no sync"
                                           : "4 shards, 500 per call, fdatasync before returning");
}
// CPU time, as BM_PutRecords (its baseline) is measured: nothing here waits for the disk.
BENCHMARK_CAPTURE(BM_PutRecordsDurable, none, sync_policy::none);
// Wall time: the call waits for fdatasync.
BENCHMARK_CAPTURE(BM_PutRecordsDurable, every_batch, sync_policy::every_batch)->UseRealTime();

constexpr std::size_t kGroupBatch = 50;

void BM_PutRecordsDurableGroup(benchmark::State& state) {
  // One engine for every thread count: a one-shard stream, so every writer shares one segment file.
  static std::unique_ptr<engine> e = make_durable(scratch("group"), sync_policy::every_batch, 1);
  static const std::vector<put_records_request> batches = [] {
    std::vector<put_records_request> out;
    const auto& rs = default_records();
    for (std::size_t i = 0; i + kGroupBatch <= rs.size(); i += kGroupBatch) {
      put_records_request r;
      r.stream_name = std::string(kStream);
      for (std::size_t j = i; j < i + kGroupBatch; ++j) r.records.push_back({rs.payload(j), rs.key(j)});
      out.push_back(std::move(r));
    }
    return out;
  }();
  std::size_t b = static_cast<std::size_t>(state.thread_index()) * 37 % batches.size();
  for (auto _ : state) {
    auto r = e->put_records(batches[b]);
    if (!r || r->failed_record_count != 0) {
      state.SkipWithError("put_records failed");
      break;
    }
    if (++b == batches.size()) b = 0;
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kGroupBatch));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kGroupBatch * kRecordBytes));
  state.SetLabel("1 shard, 50 per call, every_batch");
}
BENCHMARK(BM_PutRecordsDurableGroup)->Threads(1)->Threads(8)->UseRealTime();

// --- reopen -----------------------------------------------------------------------

constexpr std::size_t kReopenRecords = 10'000'000;

// Builds (once, and keeps) a folder of 10 M records; returns how long writing them took.
double reopen_fixture(const std::string& dir) {
  const std::string marker = dir + "/BUILD_SECONDS";
  if (std::ifstream in(marker); in) {
    double s = 0;
    if (in >> s && s > 0) return s;
  }
  stdfs::remove_all(dir);
  const auto& batches = default_batches();
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto e = make_durable(dir, sync_policy::none, kShards);
    auto& clock = dynamic_cast<manual_clock&>(e->clock());
    std::size_t b = 0;
    for (std::size_t put = 0; put < kReopenRecords; put += kBatch) {
      auto r = e->put_records(batches[b]);
      if (!r || r->failed_record_count != 0) throw std::runtime_error("storage_bench: reopen fill failed");
      if (++b == batches.size()) b = 0;
      clock.advance(std::chrono::milliseconds(1));
    }
  }  // closing syncs every log: part of writing them
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ofstream(marker) << s;
  return s;
}

void BM_ReopenDurable(benchmark::State& state) {
  const std::string dir = bench_root() + "/reopen-10m";
  static const double write_seconds = reopen_fixture(dir);
  double total = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    {
      engine_options o;
      o.clock = std::make_shared<manual_clock>();
      o.data_directory = dir;
      auto e = engine::open(std::move(o));
      if (!e) {
        state.SkipWithError(e.error().to_string().c_str());
        break;
      }
      benchmark::DoNotOptimize(e->get());
    }
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double per_open = state.iterations() > 0 ? total / static_cast<double>(state.iterations()) : 0;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kReopenRecords));
  state.counters["write_seconds"] = write_seconds;
  state.counters["reopen_fraction_of_write"] = per_open / write_seconds;
  state.SetLabel("10 M records, 4 shards; items = records reopened");
}
BENCHMARK(BM_ReopenDurable)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(5);

// --- reads --------------------------------------------------------------------------

struct read_fixture {
  std::string dir;
  std::unique_ptr<engine> e;
  std::string trim_horizon;
  explicit read_fixture(const std::string& name) : dir(scratch(name)) {
    e = make_durable(dir, sync_policy::none, 1, 16u << 20);
    const auto& batches = default_batches();
    for (std::size_t put = 0, b = 0; put < kGetFill; put += kBatch, b = (b + 1) % batches.size()) {
      auto r = e->put_records(batches[b]);
      if (!r || r->failed_record_count != 0) throw std::runtime_error("storage_bench: read fill failed");
    }
    auto it = e->get_shard_iterator({.stream_name = std::string(kStream), .shard_id = "shardId-000000000000"});
    if (!it) throw std::runtime_error("storage_bench: iterator");
    trim_horizon = it->shard_iterator;
    ::sync();
  }
  // Drops the shard's pages from the page cache (they are clean: written back
  // by sync()). The engine maps its segments, and pages a process has mapped
  // stay cached, so the engine is closed and reopened first (its iterators
  // stay valid: same token key and clock).
  void drop_cache() {
    e.reset();
    e = make_durable(dir, sync_policy::none, 1, 16u << 20);
    for (const auto& f : stdfs::recursive_directory_iterator(dir + "/streams")) {
      if (!f.is_regular_file()) continue;
      const int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      ::fdatasync(fd);
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
};

void run_reads(benchmark::State& state, read_fixture& f, bool cold) {
  get_records_request req{.shard_iterator = f.trim_horizon, .limit = kGetLimit};
  std::int64_t records = 0;
  std::size_t position = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      f.drop_cache();
      state.ResumeTiming();
    }
    auto r = f.e->get_records(req);
    if (!r || r->records.empty()) {
      const std::string why =
          r ? "get_records returned no records (behind " + std::to_string(r->millis_behind_latest) + " ms)"
            : r.error().to_string();
      state.SkipWithError(why.c_str());
      break;
    }
    records += static_cast<std::int64_t>(r->records.size());
    position += r->records.size();
    if (position < kGetFill && r->next_shard_iterator) {
      req.shard_iterator = std::move(*r->next_shard_iterator);
    } else {  // the end of the shard: around again
      req.shard_iterator = f.trim_horizon;
      position = 0;
    }
  }
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * static_cast<std::int64_t>(kPayloadBytes));
}

read_fixture& cold_fixture() {
  static read_fixture f("get-cold");
  return f;
}

void BM_GetRecordsDurable(benchmark::State& state) {
  auto& f = cold_fixture();
  run_reads(state, f, true);
  state.SetLabel(
      "10000 per call from disk; engine reopened and page cache dropped (fadvise DONTNEED) before each call");
}
BENCHMARK(BM_GetRecordsDurable)->Iterations(60);

void BM_GetRecordsDurableWarm(benchmark::State& state) {
  static read_fixture f("get-warm");
  run_reads(state, f, false);
  state.SetLabel("10000 per call from the segment files, in the page cache");
}
BENCHMARK(BM_GetRecordsDurableWarm);

// --- baseline of cold reads: the kernel filling the page cache, no engine --------------

constexpr std::size_t kSegmentHeader = 16;  // docs/storage-format.md: magic + base

struct segment_file {
  std::string path;
  std::size_t size = 0;
};

// The shard's segment files of BM_GetRecordsDurable's folder, in offset order
// (their names are the zero-padded base offsets).
std::vector<segment_file> cold_segments(const std::string& dir) {
  std::vector<segment_file> out;
  for (const auto& f : stdfs::recursive_directory_iterator(dir + "/streams")) {
    if (f.is_regular_file() && f.path().extension() == ".seg") {
      out.push_back({f.path().string(), static_cast<std::size_t>(f.file_size())});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return out;
}

// What drop_cache() does, without an engine: every file of the folder written
// back and dropped from the page cache.
void drop_cache_engineless(const std::string& dir) {
  for (const auto& f : stdfs::recursive_directory_iterator(dir + "/streams")) {
    if (!f.is_regular_file()) continue;
    const int fd = ::open(f.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

// One call's share of the segments: the records' bytes (everything after the
// 16-byte file headers) cut into kGetFill / kGetLimit equal slices, taken in
// turn, as the calls of BM_GetRecordsDurable walk the shard. A slice may span
// two files; `visit(path, offset, length)` is called for each piece.
template <typename Visit>
void for_slice(const std::vector<segment_file>& segs, std::size_t slice, Visit&& visit) {
  std::size_t total = 0;
  for (const auto& s : segs) total += s.size > kSegmentHeader ? s.size - kSegmentHeader : 0;
  const std::size_t slices = kGetFill / static_cast<std::size_t>(kGetLimit);
  std::size_t begin = total * slice / slices;
  std::size_t end = total * (slice + 1) / slices;
  for (const auto& s : segs) {
    const std::size_t n = s.size > kSegmentHeader ? s.size - kSegmentHeader : 0;
    if (begin < n && end > 0) {
      const std::size_t from = begin, to = std::min(end, n);
      if (!visit(s.path, kSegmentHeader + from, to - from)) return;
    }
    begin = begin > n ? begin - n : 0;
    end = end > n ? end - n : 0;
    if (end == 0) break;
  }
}

void run_cold_file(benchmark::State& state, bool mapped) {
  auto& f = cold_fixture();
  // The engine maps its segments, and mapped pages are not dropped: close it
  // (BM_GetRecordsDurable reopens it before each of its calls anyway).
  f.e.reset();
  const auto segs = cold_segments(f.dir);
  if (segs.empty()) {
    state.SkipWithError("no segment files");
    return;
  }
  const std::size_t slices = kGetFill / static_cast<std::size_t>(kGetLimit);
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<char> buffer(256u << 10);  // reused by every read()
  std::size_t slice = 0;
  std::int64_t bytes = 0;
  std::uint64_t sum = 0;
  bool failed = false;
  auto read_piece = [&](const std::string& path, std::size_t offset, std::size_t length) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return !(failed = true);
    if (!mapped) {
      if (::lseek(fd, static_cast<off_t>(offset), SEEK_SET) < 0) failed = true;
      for (std::size_t left = length; !failed && left > 0;) {
        const ssize_t n = ::read(fd, buffer.data(), std::min(left, buffer.size()));
        if (n <= 0) {
          failed = true;
          break;
        }
        sum += static_cast<unsigned char>(buffer[static_cast<std::size_t>(n) - 1]);
        left -= static_cast<std::size_t>(n);
      }
    } else {
      const std::size_t start = offset / page * page;  // mmap offsets are page-aligned
      const std::size_t len = offset + length - start;
      void* m = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
      if (m == MAP_FAILED) {
        failed = true;
      } else {
        const auto* p = static_cast<const volatile unsigned char*>(m);
        for (std::size_t i = offset - start; i < len; i += page) sum += p[i];
        ::munmap(m, len);
      }
    }
    ::close(fd);
    if (!failed) bytes += static_cast<std::int64_t>(length);
    return !failed;
  };
  for (auto _ : state) {
    state.PauseTiming();
    drop_cache_engineless(f.dir);
    state.ResumeTiming();
    for_slice(segs, slice, read_piece);
    if (failed) {
      state.SkipWithError(mapped ? "mmap of a segment failed" : "read of a segment failed");
      break;
    }
    slice = (slice + 1) % slices;
  }
  benchmark::DoNotOptimize(sum);
  // Items: the records in those bytes (each slice holds kGetLimit of them).
  state.SetItemsProcessed(state.iterations() * kGetLimit);
  state.SetBytesProcessed(bytes);
  state.counters["bytes_per_call"] = benchmark::Counter(static_cast<double>(bytes), benchmark::Counter::kAvgIterations);
}

void BM_ColdFileReadBound(benchmark::State& state) {
  run_cold_file(state, false);
  state.SetLabel("BM_GetRecordsDurable's bytes per call, page cache dropped, read() into a 256 KiB buffer");
}
// CPU time, as BM_GetRecordsDurable (the ratio's numerator) is measured; the Time column is wall.
BENCHMARK(BM_ColdFileReadBound)->Iterations(60);

void BM_ColdFileMapBound(benchmark::State& state) {
  run_cold_file(state, true);
  state.SetLabel("BM_GetRecordsDurable's bytes per call, page cache dropped, mmap + one load per page");
}
BENCHMARK(BM_ColdFileMapBound)->Iterations(60);

}  // namespace
}  // namespace rill::bench
