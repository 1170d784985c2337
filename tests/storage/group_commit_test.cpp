// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Group commit under concurrency (run under TSan in CI): writers of one shard
// append under the shard lock and meet at the sync point without it. Every
// batch whose sync point returned must survive a power cut, and concurrent
// writers must be able to share fdatasyncs (fewer syncs than batches).
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include "log_helpers.hpp"
#include "rill/engine.hpp"
#include "storage/fault_file_system.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

TEST(GroupCommit, AcknowledgedBatchesSurviveAPowerCut) {
  testing::temp_dir dir;
  auto fs = std::make_shared<fault_file_system>();
  file_storage_options o{
      .directory = dir.path(), .file_system = fs, .sync = sync_policy::every_batch, .segment_bytes = 16 << 10};
  auto store = *open_file_storage(o);
  auto log = *store->create_log({"g", 1, shard_id(0)});
  std::mutex shard_mu;  // the engine's shard lock
  constexpr int kThreads = 8, kBatches = 60;
  std::mutex acked_mu;
  std::set<std::string> acked;
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const std::string data = "t" + std::to_string(t) + "-b" + std::to_string(b) + std::string(100, 'g');
        log_entry e{"k", data};
        std::uint64_t end = 0;
        {
          std::lock_guard lock(shard_mu);
          auto r = log->append(std::span<const log_entry>(&e, 1), testing::t0);
          ASSERT_TRUE(r.ok());
          end = *r + 1;
        }
        ASSERT_TRUE(log->sync(end).ok());
        std::lock_guard lock(acked_mu);
        acked.insert(data);
      }
    });
  }
  for (auto& w : writers) w.join();
  const auto syncs = fs->calls(fs_op::sync);
  std::printf("[ INFO     ] %d batches, %llu fdatasyncs\n", kThreads * kBatches,
              static_cast<unsigned long long>(syncs));
  ASSERT_TRUE(fs->drop_unsynced().ok());
  log.reset();
  store = *open_file_storage(o);
  auto reopened = *store->open_log({"g", 1, shard_id(0)});
  std::set<std::string> found;
  for (const auto& r : testing::read_all(*reopened)) found.insert(r.data);
  for (const auto& a : acked) EXPECT_TRUE(found.contains(a)) << a << " was acknowledged and lost";
}

TEST(GroupCommit, EngineWritersShareTheSyncPoint) {
  testing::temp_dir dir;
  engine_options o;
  o.clock = std::make_shared<manual_clock>();
  o.data_directory = dir.path();
  o.sync = sync_policy::every_batch;
  auto e = engine::open(o);
  ASSERT_TRUE(e.ok()) << e.error();
  ASSERT_TRUE((*e)->create_stream({.stream_name = "g", .shard_count = 2}).ok());
  std::vector<std::thread> writers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int b = 0; b < 40; ++b) {
        const std::string key = "k" + std::to_string(t * 100 + b);
        const std::string key2 = key + "x";
        const std::string data = "data-" + key;
        std::vector<put_records_request_entry> entries{{data, key}, {data, key2}};
        auto r = (*e)->put_records({.stream_name = "g", .records = entries});
        if (r && r->failed_record_count == 0) ok += 2;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(ok.load(), 4 * 40 * 2);
  e->reset();
  auto again = engine::open(o);
  ASSERT_TRUE(again.ok()) << again.error();
  int total = 0;
  for (const char* shard : {"shardId-000000000000", "shardId-000000000001"}) {
    auto it = (*again)->get_shard_iterator({.stream_name = "g", .shard_id = shard});
    ASSERT_TRUE(it.ok());
    auto r = (*again)->get_records({.shard_iterator = it->shard_iterator});
    ASSERT_TRUE(r.ok());
    total += static_cast<int>(r->records.size());
  }
  EXPECT_EQ(total, 4 * 40 * 2);
}

}  // namespace
}  // namespace rill
