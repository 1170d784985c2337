// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file log under injected failures and power cuts, and its sync policies.
#include <gtest/gtest.h>

#include <filesystem>

#include "log_helpers.hpp"
#include "rill/storage.hpp"
#include "storage/fault_file_system.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::append;
using testing::read_all;
using testing::t0;

const shard_log_key kKey{"s", 1, shard_id(0)};

struct faulty {
  testing::temp_dir dir;
  std::shared_ptr<fault_file_system> fs = std::make_shared<fault_file_system>();
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::shared_ptr<storage> store;
  file_storage_options opt;

  explicit faulty(sync_policy p = sync_policy::every_batch, std::size_t segment_bytes = 64 << 10) {
    opt.directory = dir.path();
    opt.file_system = fs;
    opt.clock = clock;
    opt.sync = p;
    opt.sync_interval = 100ms;
    opt.segment_bytes = segment_bytes;
    reopen();
  }
  void reopen() {
    store.reset();
    store = *open_file_storage(opt);
  }
  std::unique_ptr<shard_log> log(bool create = true) {
    auto l = create ? store->create_log(kKey) : store->open_log(kKey);
    if (!l) throw std::runtime_error(l.error().to_string());
    return std::move(*l);
  }
};

std::vector<log_entry> entries(const std::vector<std::string>& data) {
  std::vector<log_entry> e;
  for (const auto& d : data) e.push_back({"pk", d});
  return e;
}

TEST(FileLogFaults, AFailedAppendIsAnErrorAndAppendsNothing) {
  for (bool short_write : {false, true}) {
    faulty f;
    auto log = f.log();
    const std::vector<std::string> a{"one", "two"}, b{"three", "four"}, c{"five"};
    ASSERT_TRUE(log->append(entries(a), t0).ok());
    f.fs->inject({.op = fs_op::append, .err = ENOSPC, .short_write = short_write});
    auto r = log->append(entries(b), t0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), error_code::internal_failure);
    EXPECT_NE(r.error().message().find("No space left on device"), std::string::npos) << r.error();
    EXPECT_EQ(log->end_offset(), 2u);
    EXPECT_EQ(read_all(*log).size(), 2u);      // reads unaffected
    auto again = log->append(entries(c), t0);  // the disk has room again
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(*again, 2u);
    ASSERT_TRUE(log->sync(3).ok());
    log.reset();
    f.reopen();
    auto reopened = f.log(false);
    auto all = read_all(*reopened);
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[2].data, "five");
  }
}

TEST(FileLogFaults, WhenTheTornWriteCannotBeUndoneTheShardRefusesWritesButStillReads) {
  faulty f;
  auto log = f.log();
  ASSERT_TRUE(log->append(entries({"kept"}), t0).ok());
  f.fs->inject({.op = fs_op::append, .err = EIO, .short_write = true});
  f.fs->inject({.op = fs_op::truncate, .err = EIO});
  ASSERT_FALSE(log->append(entries({"lost"}), t0).ok());
  auto later = log->append(entries({"refused"}), t0);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.error().message().find("refuses writes until the engine is reopened"), std::string::npos);
  EXPECT_EQ(read_all(*log).size(), 1u);
  log.reset();
  f.fs->clear();
  f.reopen();
  auto reopened = f.log(false);  // recovery cuts the torn batch
  auto all = read_all(*reopened);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].data, "kept");
  EXPECT_TRUE(reopened->append(entries({"new"}), t0).ok());
}

TEST(FileLogFaults, AFailedSyncIsReportedAndNotCountedAsDurable) {
  faulty f;
  auto log = f.log();
  ASSERT_TRUE(log->append(entries({"a"}), t0).ok());
  f.fs->inject({.op = fs_op::sync, .err = EIO});
  auto r = log->sync(1);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("fdatasync"), std::string::npos);
  EXPECT_TRUE(log->sync(1).ok());  // tried again, not taken as done
}

TEST(FileLogFaults, PowerCutUnderEveryBatchLosesOnlyWhatWasNotAcknowledged) {
  faulty f(sync_policy::every_batch, 4096);
  auto log = f.log();
  std::vector<std::string> acked;
  for (int i = 0; i < 40; ++i) {
    std::string d = "acked-" + std::to_string(i) + std::string(200, 'x');
    auto r = log->append(entries({d}), t0 + std::chrono::milliseconds(i));
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(log->sync(*r + 1).ok());
    acked.push_back(d);
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->append(entries({"unacked"}), t0 + 1s).ok());  // never synced
  ASSERT_TRUE(f.fs->drop_unsynced().ok());
  log.reset();
  f.reopen();
  auto reopened = f.log(false);
  auto all = read_all(*reopened);
  ASSERT_GE(all.size(), acked.size());
  for (std::size_t i = 0; i < acked.size(); ++i) EXPECT_EQ(all[i].data, acked[i]);
  for (std::size_t i = acked.size(); i < all.size(); ++i) EXPECT_EQ(all[i].data, "unacked");
}

TEST(FileLogFaults, IntervalPolicySyncsOnTheClock) {
  faulty f(sync_policy::interval);
  auto log = f.log();
  ASSERT_TRUE(log->append(entries({"early"}), t0).ok());
  ASSERT_TRUE(log->sync(1).ok());  // returns at once: not this policy's sync point
  const auto syncs = f.fs->calls(fs_op::sync);
  f.clock->advance(100ms);  // the interval task syncs
  EXPECT_GT(f.fs->calls(fs_op::sync), syncs);
  ASSERT_TRUE(log->append(entries({"late"}), t0).ok());
  ASSERT_TRUE(f.fs->drop_unsynced().ok());  // power cut before the next interval
  log.reset();
  f.reopen();
  auto all = read_all(*f.log(false));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].data, "early");
}

TEST(FileLogFaults, NonePolicyNeverSyncsOnAppendButAPowerCutStillLeavesAValidPrefix) {
  faulty f(sync_policy::none, 4096);
  auto log = f.log();
  const auto syncs = f.fs->calls(fs_op::sync);
  ASSERT_TRUE(log->append(entries({"a"}), t0).ok());
  ASSERT_TRUE(log->sync(1).ok());
  EXPECT_EQ(f.fs->calls(fs_op::sync), syncs);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->append(entries({std::string(300, 'y')}), t0).ok());
  ASSERT_TRUE(f.fs->drop_unsynced().ok());
  log.reset();
  f.reopen();
  auto reopened = f.log(false);
  // Rolled segments were synced when sealed; the active one lost its tail.
  const auto all = read_all(*reopened);
  EXPECT_LE(all.size(), 51u);
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].offset, i);
}

TEST(FileLogFaults, FailuresWhileRollingKeepTheOldSegmentActive) {
  faulty f(sync_policy::every_batch, 4096);
  auto log = f.log();
  std::uint64_t n = 0;
  while (true) {  // fill the first segment
    ASSERT_TRUE(log->append(entries({std::string(500, 'z')}), t0).ok());
    if (++n == 7) break;
  }
  f.fs->inject({.op = fs_op::sync_dir, .err = EIO});  // creating the next segment fails
  auto r = log->append(entries({std::string(500, 'z')}), t0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(log->end_offset(), n);
  ASSERT_TRUE(log->append(entries({std::string(500, 'z')}), t0).ok());
  EXPECT_EQ(read_all(*log).size(), n + 1);
  log.reset();
  f.reopen();
  EXPECT_EQ(read_all(*f.log(false)).size(), n + 1);
}

TEST(FileLogFaults, OpenFailuresNameTheFile) {
  faulty f;
  {
    auto log = f.log();
    ASSERT_TRUE(log->append(entries({"a"}), t0).ok());
  }
  f.fs->inject({.op = fs_op::open, .err = EACCES, .times = 0, .path_contains = ".seg"});
  auto r = f.store->open_log(kKey);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(".seg"), std::string::npos) << r.error();
  EXPECT_NE(r.error().message().find("Permission denied"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace rill
