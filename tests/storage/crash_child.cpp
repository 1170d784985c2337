// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The process the crash-loop test kills. It opens a file storage under
// every_batch and has several threads append batches to a few shards for as
// long as it lives. Each thread reports a batch on stdout only after the
// batch's sync point returned (the batch is acknowledged):
//
//   <shard> <first offset> <count> <iteration> <thread> <counter>\n
//
// A record's data is derived from (iteration, thread, counter, index in batch),
// so the parent can check every byte after reopening.
//
// With a fifth argument `engine`, the same through a durable rill::engine
// (every_batch): threads call put_records on one stream and report each
// stored entry after the call returned:
//
//   E <iteration> <thread> <counter> <j> <shard index> <sequence number>\n
//
// With `reshard`, the engine has a 2-s update_stream_delay, and a child that
// finds the stream ACTIVE first asks for UpdateShardCount (between <shards>
// and 2 × <shards>) and reports it once accepted: "U <target>\n".
//
// Usage: rill_storage_crash_child <dir> <iteration> <threads> <shards> [engine|reshard]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crash_records.hpp"
#include "rill/engine.hpp"
#include "rill/storage.hpp"

namespace {

int run_engine(const std::string& dir, int iteration, int threads, int shards, bool reshard) {
  rill::engine_options o;
  o.data_directory = dir;
  o.sync = rill::sync_policy::every_batch;
  o.segment_bytes = 64 << 10;
  if (reshard) o.update_stream_delay = std::chrono::seconds(2);
  auto e = rill::engine::open(o);
  if (!e) {
    std::fprintf(stderr, "open: %s\n", e.error().to_string().c_str());
    return 3;
  }
  auto& k = **e;
  if (!k.describe_stream_summary({.stream_name = "crash"})) {
    if (auto r = k.create_stream({.stream_name = "crash", .shard_count = shards}); !r) {
      std::fprintf(stderr, "create: %s\n", r.error().to_string().c_str());
      return 4;
    }
  }
  if (reshard) {  // an ACTIVE stream gets an UpdateShardCount (2 <-> 4) that takes 2 s: "U <target>" once accepted
    auto sum = k.describe_stream_summary({.stream_name = "crash"});
    if (sum && sum->stream_description_summary.stream_status == rill::stream_status::active) {
      const int target = sum->stream_description_summary.open_shard_count == shards ? 2 * shards : shards;
      if (auto r = k.update_shard_count({.stream_name = "crash", .target_shard_count = target}); r) {
        const std::string line = "U " + std::to_string(target) + "\n";
        if (::write(1, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(7);
      }
    }
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t counter = 0;; ++counter) {
        const int n = 1 + static_cast<int>((counter * 7 + static_cast<std::uint64_t>(t)) % 20);
        std::vector<std::string> keys, data;
        for (int j = 0; j < n; ++j) {
          keys.push_back(rill::testing::crash_key_of(iteration, t, counter, j));
          data.push_back(rill::testing::crash_data(iteration, t, counter, j));
        }
        std::vector<rill::put_records_request_entry> entries;
        for (int j = 0; j < n; ++j) {
          entries.push_back({data[static_cast<std::size_t>(j)], keys[static_cast<std::size_t>(j)]});
        }
        auto r = k.put_records({.stream_name = "crash", .records = entries});
        if (!r) {
          std::fprintf(stderr, "put_records: %s\n", r.error().to_string().c_str());
          std::_Exit(5);
        }
        std::string lines;
        for (int j = 0; j < n; ++j) {
          const auto& e = r->records[static_cast<std::size_t>(j)];
          if (e.error_code) continue;
          char line[256];
          std::snprintf(line, sizeof line, "E %d %d %llu %d %u %s\n", iteration, t,
                        static_cast<unsigned long long>(counter), j, e.shard_id.index(),
                        e.sequence_number.to_string().c_str());
          lines += line;
        }
        if (::write(1, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) std::_Exit(7);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string dir = argv[1];
  const int iteration = std::atoi(argv[2]);
  const int threads = std::atoi(argv[3]);
  const int shards = std::atoi(argv[4]);
  if (argc > 5 && std::string(argv[5]) == "engine") return run_engine(dir, iteration, threads, shards, false);
  if (argc > 5 && std::string(argv[5]) == "reshard") return run_engine(dir, iteration, threads, shards, true);
  auto store =
      rill::open_file_storage({.directory = dir, .sync = rill::sync_policy::every_batch, .segment_bytes = 64 << 10});
  if (!store) {
    std::fprintf(stderr, "open: %s\n", store.error().to_string().c_str());
    return 3;
  }
  struct shard {
    std::mutex mu;  // the engine's shard lock
    std::unique_ptr<rill::shard_log> log;
    std::uint64_t appends = 0;  // guarded by mu
  };
  std::vector<shard> logs(static_cast<std::size_t>(shards));
  for (int s = 0; s < shards; ++s) {
    auto l = (*store)->open_log(rill::testing::crash_key(s));
    if (!l) {
      std::fprintf(stderr, "open_log: %s\n", l.error().to_string().c_str());
      return 4;
    }
    logs[static_cast<std::size_t>(s)].log = std::move(*l);
  }
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (std::uint64_t counter = 0;; ++counter) {
        const int s = static_cast<int>((counter + static_cast<std::uint64_t>(t)) % static_cast<std::uint64_t>(shards));
        const int n = 1 + static_cast<int>((counter * 7 + static_cast<std::uint64_t>(t)) % 20);
        std::vector<std::string> keys, data;
        for (int j = 0; j < n; ++j) {
          keys.push_back(rill::testing::crash_key_of(iteration, t, counter, j));
          data.push_back(rill::testing::crash_data(iteration, t, counter, j));
        }
        std::vector<rill::log_entry> e;
        for (int j = 0; j < n; ++j) e.push_back({keys[static_cast<std::size_t>(j)], data[static_cast<std::size_t>(j)]});
        auto& sh = logs[static_cast<std::size_t>(s)];
        std::uint64_t first = 0;
        {
          std::lock_guard lock(sh.mu);
          auto r = sh.log->append(e, rill::testing::crash_time(iteration, sh.appends++));
          if (!r) {
            std::fprintf(stderr, "append: %s\n", r.error().to_string().c_str());
            std::_Exit(5);
          }
          first = *r;
        }
        if (auto r = sh.log->sync(first + static_cast<std::uint64_t>(n)); !r) {
          std::fprintf(stderr, "sync: %s\n", r.error().to_string().c_str());
          std::_Exit(6);
        }
        char line[128];
        const int len =
            std::snprintf(line, sizeof line, "%d %llu %d %d %d %llu\n", s, static_cast<unsigned long long>(first), n,
                          iteration, t, static_cast<unsigned long long>(counter));
        if (::write(1, line, static_cast<std::size_t>(len)) != len) std::_Exit(7);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
