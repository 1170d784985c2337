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
// Usage: rill_storage_crash_child <dir> <iteration> <threads> <shards> [engine]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "crash_records.hpp"
#include "rill/storage.hpp"

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  const std::string dir = argv[1];
  const int iteration = std::atoi(argv[2]);
  const int threads = std::atoi(argv[3]);
  const int shards = std::atoi(argv[4]);
  auto store = rill::open_file_storage(
      {.directory = dir, .sync = rill::sync_policy::every_batch, .segment_bytes = 64 << 10});
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
        const int len = std::snprintf(line, sizeof line, "%d %llu %d %d %d %llu\n", s,
                                      static_cast<unsigned long long>(first), n, iteration, t,
                                      static_cast<unsigned long long>(counter));
        if (::write(1, line, static_cast<std::size_t>(len)) != len) std::_Exit(7);
      }
    });
  }
  for (auto& w : workers) w.join();
  return 0;
}
