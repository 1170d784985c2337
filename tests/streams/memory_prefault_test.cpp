// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Memory storage with segments prefaulted by its helper thread: records written
// through many full-size segments (fresh, prefaulted and recycled) read back
// intact, a storage whose helper is running shuts down cleanly, and the helper
// runs at idle priority (so it never takes a CPU from a writer).
#include <gtest/gtest.h>

#ifdef __linux__
#include <dirent.h>
#include <sched.h>
#endif

#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "rill/storage.hpp"

namespace rill::testing {
namespace {

void write_and_check(memory_storage_options opt) {
  auto storage = make_memory_storage(opt);
  auto log = storage->create_log({"s", 1, shard_id(0)});
  ASSERT_TRUE(log.ok());
  shard_log& l = **log;
  const timestamp t0{std::chrono::milliseconds(1'700'000'000'000)};
  // 8 MiB in records of ~1 KiB: many full-size segments of 256 KiB.
  constexpr int kRecords = 8192;
  std::string data(1000, '\0');
  for (int i = 0; i < kRecords; ++i) {
    for (std::size_t j = 0; j < data.size(); ++j) data[j] = static_cast<char>('a' + (i + static_cast<int>(j)) % 26);
    const std::string key = std::to_string(i);
    const log_entry e{key, data};
    auto r = l.append({&e, 1}, t0 + std::chrono::milliseconds(i));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(*r, static_cast<std::uint64_t>(i));
    // Trim the older half now and then, so segments are recycled too.
    if (i % 2048 == 2047) l.trim_before(t0 + std::chrono::milliseconds(i - 1024));
  }
  int seen = 0;
  l.read(l.start_offset(), kRecords, std::size_t{1} << 40, [&](std::span<const log_record> batch) {
    for (const auto& rec : batch) {
      const auto i = static_cast<int>(rec.offset);
      ASSERT_EQ(rec.partition_key, std::to_string(i));
      ASSERT_EQ(rec.data.size(), 1000u);
      for (std::size_t j = 0; j < rec.data.size(); j += 97) {
        ASSERT_EQ(rec.data[j], static_cast<char>('a' + (i + static_cast<int>(j)) % 26)) << i << " " << j;
      }
      ++seen;
    }
  });
  EXPECT_EQ(static_cast<std::uint64_t>(seen), l.end_offset() - l.start_offset());
  EXPECT_GT(seen, 1000);
}

TEST(MemoryPrefault, RecordsThroughPrefaultedSegmentsReadBackIntact) {
  memory_storage_options opt;
  opt.segment_bytes = 256 << 10;
  opt.pool_bytes = 1 << 20;
  opt.prefault_segments = 3;
  write_and_check(opt);
}

TEST(MemoryPrefault, WithoutTheHelperTheSame) {
  memory_storage_options opt;
  opt.segment_bytes = 256 << 10;
  opt.pool_bytes = 1 << 20;
  opt.prefault_segments = 0;
  write_and_check(opt);
}

#ifdef __linux__
// The threads of this process whose scheduling policy is SCHED_IDLE.
int idle_threads() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (const dirent* e = ::readdir(d)) {
    const int tid = std::atoi(e->d_name);
    if (tid > 0 && ::sched_getscheduler(tid) == SCHED_IDLE) ++n;
  }
  ::closedir(d);
  return n;
}

TEST(MemoryPrefault, TheHelperRunsAtIdlePriority) {
  const int before = idle_threads();
  ASSERT_GE(before, 0) << "/proc/self/task is not readable";
  memory_storage_options opt;
  opt.first_segment_bytes = 64 << 10;
  opt.segment_bytes = 64 << 10;
  opt.prefault_segments = 2;
  auto storage = make_memory_storage(opt);
  auto log = storage->create_log({"s", 1, shard_id(0)});
  ASSERT_TRUE(log.ok());
  const std::string data(1000, 'd');
  const log_entry e{"k", data};
  const timestamp t0{std::chrono::milliseconds(1'700'000'000'000)};
  for (int i = 0; i < 200; ++i) ASSERT_TRUE((*log)->append({&e, 1}, t0).ok());  // three full-size segments
  // The helper started with the first full-size segment and lowers its own
  // priority first thing; give it time to be scheduled (bounded).
  int now = before;
  for (int i = 0; i < 1'000'000 && now == before; ++i) {
    std::this_thread::yield();
    if (i % 100 == 0) now = idle_threads();
  }
  EXPECT_EQ(now, before + 1) << "the storage's prefault helper is not at SCHED_IDLE";
}
#endif

}  // namespace
}  // namespace rill::testing
