// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file shard log: the shard_log contract, reopening, segments rolling by
// size and age, retention deleting whole segments, recovery (torn tails,
// missing and stale indexes, corruption), and the sparse index lookups.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "log_helpers.hpp"
#include "rill/storage.hpp"
#include "seed.hpp"
#include "storage/segment_format.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::append;
using testing::read_all;
using testing::t0;
namespace stdfs = std::filesystem;

const shard_log_key kKey{"clicks", 7, shard_id(3)};

struct fixture {
  testing::temp_dir dir;
  file_storage_options opt;
  std::shared_ptr<storage> store;

  explicit fixture(file_storage_options o = {}) : opt(std::move(o)) {
    opt.directory = dir.path();
    reopen_storage();
  }
  void reopen_storage() {
    store.reset();
    auto s = open_file_storage(opt);
    if (!s) throw std::runtime_error(s.error().to_string());
    store = *s;
  }
  std::unique_ptr<shard_log> create(const shard_log_key& k = kKey) {
    auto l = store->create_log(k);
    if (!l) throw std::runtime_error(l.error().to_string());
    return std::move(*l);
  }
  result<std::unique_ptr<shard_log>> open(const shard_log_key& k = kKey) { return store->open_log(k); }
  std::string shard_dir(const shard_log_key& k = kKey) const {
    char b[16];
    std::snprintf(b, sizeof b, "%010u", k.shard.index());
    return dir.path() + "/streams/" + k.stream_name + "@" + std::to_string(k.stream_uid) + "/" + b;
  }
  std::vector<std::string> files(const std::string& ext) const {
    std::vector<std::string> out;
    for (const auto& e : stdfs::directory_iterator(shard_dir())) {
      if (e.path().extension() == ext) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

std::vector<std::pair<std::string, std::string>> make_batch(int first, int n, std::size_t size = 20) {
  std::vector<std::pair<std::string, std::string>> out;
  for (int i = first; i < first + n; ++i) {
    std::string d = "record-" + std::to_string(i) + "-";
    d.resize(std::max(size, d.size()), static_cast<char>('a' + i % 26));
    out.emplace_back("key-" + std::to_string(i % 7), d);
  }
  return out;
}

TEST(FileLog, AppendsAndReadsBackFromAnyOffset) {
  fixture f;
  auto log = f.create();
  EXPECT_EQ(append(*log, make_batch(0, 100), t0), 0u);
  EXPECT_EQ(append(*log, make_batch(100, 1), t0 + 5ms), 100u);
  EXPECT_EQ(append(*log, {{"", ""}}, t0 + 6ms), 101u);  // empty key and data are stored as such
  EXPECT_EQ(log->end_offset(), 102u);
  auto all = read_all(*log);
  ASSERT_EQ(all.size(), 102u);
  auto expect = make_batch(0, 101);
  for (std::size_t i = 0; i < 101; ++i) {
    EXPECT_EQ(all[i].offset, i);
    EXPECT_EQ(all[i].key, expect[i].first);
    EXPECT_EQ(all[i].data, expect[i].second);
    EXPECT_EQ(all[i].arrival, i < 100 ? t0 : t0 + 5ms);
    EXPECT_FALSE(all[i].encrypted);
  }
  EXPECT_EQ(all[101].key, "");
  for (std::uint64_t from : {0u, 1u, 57u, 99u, 100u, 101u, 102u, 500u}) {
    auto part = read_all(*log, from);
    ASSERT_EQ(part.size(), from >= 102 ? 0u : 102 - from) << from;
    if (!part.empty()) EXPECT_EQ(part.front().offset, from);
  }
}

TEST(FileLog, ReadLimitsStopBeforeTheRecordThatWouldExceed) {
  fixture f;
  auto log = f.create();
  append(*log, make_batch(0, 50, 100), t0);
  log_read_stats s;
  auto r = read_all(*log, 10, 7, 1 << 30, &s);
  EXPECT_EQ(r.size(), 7u);
  EXPECT_EQ(s.next_offset, 17u);
  const std::size_t one = r[0].key.size() + r[0].data.size();
  r = read_all(*log, 0, 1000, one * 3 + 1, &s);
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(s.bytes, one * 3);
  r = read_all(*log, 0, 1000, 1, &s);  // the first record always comes
  EXPECT_EQ(r.size(), 1u);
  EXPECT_FALSE(s.failure.has_value());
}

TEST(FileLog, SurvivesReopenAndKeepsAppendingAtTheSameOffsets) {
  fixture f({.segment_bytes = 8192});
  std::vector<testing::stored> before;
  {
    auto log = f.create();
    for (int i = 0; i < 40; ++i) append(*log, make_batch(i * 10, 10, 50), t0 + std::chrono::milliseconds(i));
    before = read_all(*log);
  }
  f.reopen_storage();
  auto log = f.open();
  ASSERT_TRUE(log.ok()) << log.error();
  EXPECT_EQ((*log)->end_offset(), 400u);
  EXPECT_EQ(read_all(**log), before);
  EXPECT_EQ(append(**log, make_batch(400, 5), t0 + 1s), 400u);
  EXPECT_EQ(read_all(**log, 398).size(), 7u);
  EXPECT_GT(f.files(".seg").size(), 2u);
}

TEST(FileLog, SegmentsRollBySizeAndByAge) {
  fixture f({.segment_bytes = 4096, .segment_age = std::chrono::minutes(10)});
  auto log = f.create();
  for (int i = 0; i < 20; ++i) append(*log, make_batch(i, 1, 1000), t0);
  const auto by_size = f.files(".seg").size();
  EXPECT_GE(by_size, 5u);                          // ~1 KiB batches into 4 KiB segments
  EXPECT_EQ(f.files(".idx").size(), by_size - 1);  // every sealed segment has its index
  append(*log, make_batch(100, 1, 10), t0 + 9min);
  EXPECT_EQ(f.files(".seg").size(), by_size);
  append(*log, make_batch(101, 1, 10), t0 + 20min);  // the active segment's first record is > 10 min old
  EXPECT_EQ(f.files(".seg").size(), by_size + 1);
}

TEST(FileLog, SparseIndexFindsTimesAndArrivals) {
  fixture f({.segment_bytes = 16 << 10, .index_interval_bytes = 256});
  auto log = f.create();
  for (int i = 0; i < 300; ++i) append(*log, make_batch(i * 3, 3, 40), t0 + std::chrono::seconds(i));
  for (int i = 0; i < 300; i += 7) {
    EXPECT_EQ(log->offset_at_or_after(t0 + std::chrono::seconds(i)), static_cast<std::uint64_t>(i * 3)) << i;
    EXPECT_EQ(log->offset_at_or_after(t0 + std::chrono::seconds(i) - 1ms), static_cast<std::uint64_t>(i * 3)) << i;
    EXPECT_EQ(log->offset_at_or_after(t0 + std::chrono::seconds(i) + 1ms), static_cast<std::uint64_t>(i * 3 + 3));
    EXPECT_EQ(log->arrival_time(i * 3 + 2), t0 + std::chrono::seconds(i));
  }
  EXPECT_EQ(log->offset_at_or_after(t0 - 1h), 0u);
  EXPECT_EQ(log->offset_at_or_after(t0 + 1h), 900u);
}

TEST(FileLog, RetentionDeletesWholeSegmentsAndReadersRestartAtTheTrimHorizon) {
  fixture f({.segment_bytes = 4096});
  auto log = f.create();
  for (int i = 0; i < 100; ++i) append(*log, make_batch(i, 1, 500), t0 + std::chrono::minutes(i));
  const auto segs = f.files(".seg").size();
  // Records before minute 50 expire.
  const std::uint64_t start = log->trim_before(t0 + 50min);
  EXPECT_EQ(start, 50u);
  EXPECT_LT(f.files(".seg").size(), segs);
  EXPECT_EQ(f.files(".idx").size(), f.files(".seg").size() - 1);
  // A reader positioned inside a deleted segment gets the oldest stored record, not an error.
  log_read_stats s;
  auto r = read_all(*log, 3, 10, 1 << 30, &s);
  ASSERT_FALSE(s.failure.has_value()) << *s.failure;
  ASSERT_EQ(r.size(), 10u);
  EXPECT_EQ(r.front().offset, 50u);
  // Everything expires: the active segment is sealed and goes too; the offsets go on.
  log->trim_before(t0 + 1000min);
  EXPECT_EQ(log->start_offset(), 100u);
  EXPECT_EQ(f.files(".seg").size(), 1u);
  EXPECT_EQ(append(*log, make_batch(100, 1), t0 + 1001min), 100u);
  log.reset();
  auto again = f.open();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->start_offset(), 100u);
  EXPECT_EQ((*again)->end_offset(), 101u);
}

TEST(FileLog, RemoveLogDeletesTheShardsFilesAndListLogsFindsTheRest) {
  fixture f;
  auto a = f.create({"s", 1, shard_id(0)});
  auto b = f.create({"s", 1, shard_id(1)});
  auto c = f.create({"t", 2, shard_id(0)});
  auto logs = f.store->list_logs();
  EXPECT_EQ(logs.size(), 3u);
  f.store->remove_log({"s", 1, shard_id(0)});
  f.store->remove_log({"t", 2, shard_id(0)});
  logs = f.store->list_logs();
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0].stream_name, "s");
  EXPECT_EQ(logs[0].shard, shard_id(1));
  EXPECT_FALSE(stdfs::exists(f.dir.path() + "/streams/t@2"));
  EXPECT_TRUE(f.store->durable());
}

void corrupt_byte(const std::string& path, std::uint64_t at) {
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  io.read(&c, 1);
  c = static_cast<char>(c ^ 0x5A);
  io.seekp(static_cast<std::streamoff>(at));
  io.write(&c, 1);
}

TEST(FileLogRecovery, TornTailIsCutAndEverythingBeforeItKept) {
  for (int cut : {1, 5, 31, 32, 40}) {
    fixture f;
    std::vector<testing::stored> before;
    std::uint64_t size_before_last = 0;
    {
      auto log = f.create();
      for (int i = 0; i < 10; ++i) append(*log, make_batch(i * 2, 2, 30), t0);
      before = read_all(*log);
      size_before_last = stdfs::file_size(f.files(".seg").back());
      append(*log, make_batch(20, 2, 30), t0);
    }
    const std::string seg = f.files(".seg").back();
    stdfs::resize_file(seg, size_before_last + cut);  // the last batch, torn
    f.reopen_storage();
    auto log = f.open();
    ASSERT_TRUE(log.ok()) << log.error();
    EXPECT_EQ((*log)->end_offset(), 20u) << "cut " << cut;
    EXPECT_EQ(read_all(**log), before);
    EXPECT_EQ(stdfs::file_size(seg), size_before_last);
    EXPECT_EQ(append(**log, make_batch(20, 1), t0), 20u);
  }
}

TEST(FileLogRecovery, GarbageAfterTheLastBatchIsCut) {
  fixture f;
  {
    auto log = f.create();
    append(*log, make_batch(0, 5), t0);
  }
  {
    std::ofstream out(f.files(".seg").back(), std::ios::app | std::ios::binary);
    out << std::string(100, '\x7f');
  }
  f.reopen_storage();
  auto log = f.open();
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(read_all(**log).size(), 5u);
}

TEST(FileLogRecovery, MissingOrStaleIndexIsRebuilt) {
  fixture f({.segment_bytes = 4096, .index_interval_bytes = 512});
  std::vector<testing::stored> before;
  {
    auto log = f.create();
    for (int i = 0; i < 60; ++i) append(*log, make_batch(i, 1, 300), t0 + std::chrono::seconds(i));
    before = read_all(*log);
  }
  auto idx = f.files(".idx");
  ASSERT_GE(idx.size(), 3u);
  stdfs::remove(idx[0]);     // missing
  corrupt_byte(idx[1], 20);  // fails its CRC
  {                          // stale: a valid index of a different size of segment
    std::ofstream(idx[2], std::ios::trunc | std::ios::binary) << "RILLIDX1";
  }
  f.reopen_storage();
  auto log = f.open();
  ASSERT_TRUE(log.ok()) << log.error();
  EXPECT_EQ(read_all(**log), before);
  EXPECT_EQ(f.files(".idx").size(), idx.size());  // written again
  for (int i = 0; i < 60; i += 5) {
    EXPECT_EQ((*log)->offset_at_or_after(t0 + std::chrono::seconds(i)), static_cast<std::uint64_t>(i));
  }
}

TEST(FileLogRecovery, CorruptionInsideASealedSegmentIsAnOpenErrorNamingTheFile) {
  fixture f({.segment_bytes = 4096});
  {
    auto log = f.create();
    for (int i = 0; i < 30; ++i) append(*log, make_batch(i, 1, 300), t0);
  }
  const auto segs = f.files(".seg");
  for (const auto& i : f.files(".idx")) stdfs::remove(i);  // force a scan
  corrupt_byte(segs[1], 100);
  f.reopen_storage();
  auto log = f.open();
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.error().code(), error_code::internal_failure);
  EXPECT_NE(log.error().message().find(segs[1]), std::string::npos) << log.error();
}

TEST(FileLogRecovery, CorruptionFoundByAReaderIsAFailureNotGarbage) {
  fixture f({.segment_bytes = 4096});
  auto log = f.create();
  for (int i = 0; i < 30; ++i) append(*log, make_batch(i, 1, 300), t0);
  const auto segs = f.files(".seg");
  corrupt_byte(segs[1], 100);  // the index still points at it: the reader must check
  log_read_stats s;
  auto r = read_all(*log, 0, 1000, 1 << 30, &s);
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_NE(s.failure->message().find("checksum"), std::string::npos) << *s.failure;
  auto expect = make_batch(0, 30, 300);
  for (const auto& rec : r) EXPECT_EQ(rec.data, expect[rec.offset].second);
  EXPECT_LT(r.size(), 30u);
}

// A batch's CRC is checked once per open: by the scan at open (the active
// segment) or by the first read of it. Bytes checked are not checked again
// while the log stays open (the documented choice: segments are immutable
// once written; docs/storage.md, "Checksums"); bytes appended later are
// checked when first read, and a reopen checks everything again.
TEST(FileLogChecksums, CheckedOncePerOpenAppendedBatchesAtTheirFirstRead) {
  fixture f({.segment_bytes = 4096});
  auto log = f.create();
  for (int i = 0; i < 30; ++i) append(*log, make_batch(i, 1, 300), t0);
  log_read_stats s;
  ASSERT_EQ(read_all(*log, 0, 1000, 1 << 30, &s).size(), 30u);
  ASSERT_FALSE(s.failure.has_value()) << *s.failure;
  const auto segs = f.files(".seg");
  ASSERT_GE(segs.size(), 3u);
  corrupt_byte(segs[1], 100);  // inside a batch the read above checked
  s = {};
  EXPECT_EQ(read_all(*log, 0, 1000, 1 << 30, &s).size(), 30u);
  EXPECT_FALSE(s.failure.has_value()) << "a checked batch was checked again: " << *s.failure;
  // Appended after the read: checked at its first read.
  append(*log, make_batch(30, 1, 300), t0);
  const std::string last = f.files(".seg").back();
  corrupt_byte(last, stdfs::file_size(last) - 50);
  s = {};
  auto r = read_all(*log, 30, 1000, 1 << 30, &s);
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_NE(s.failure->message().find("checksum"), std::string::npos) << *s.failure;
  EXPECT_TRUE(r.empty());
  // A reopen forgets what was checked: the damage in the sealed segment is found again.
  log.reset();
  f.reopen_storage();
  auto again = f.open();
  ASSERT_TRUE(again.ok()) << again.error();  // the damaged tail of the active segment is cut
  s = {};
  r = read_all(**again, 0, 1000, 1 << 30, &s);
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_NE(s.failure->message().find(segs[1]), std::string::npos) << *s.failure;
  EXPECT_LT(r.size(), 30u);
}

TEST(FileLogRecovery, AMissingSegmentInTheMiddleIsAnOpenError) {
  fixture f({.segment_bytes = 4096});
  {
    auto log = f.create();
    for (int i = 0; i < 60; ++i) append(*log, make_batch(i, 1, 300), t0);
  }
  const auto segs = f.files(".seg");
  ASSERT_GE(segs.size(), 4u);
  stdfs::remove(segs[1]);
  f.reopen_storage();
  auto log = f.open();
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message().find("missing"), std::string::npos) << log.error();
  stdfs::remove(segs[0]);  // now the first is gone too (as retention would): fine, but the last…
  stdfs::remove(segs.back());
  log = f.open();
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.error().message().find("missing"), std::string::npos) << log.error();
}

TEST(FileLogRecovery, AnEmptyLastSegmentFromAnUnfinishedRollIsRepaired) {
  fixture f({.segment_bytes = 4096});
  {
    auto log = f.create();
    for (int i = 0; i < 13; ++i) append(*log, make_batch(i, 1, 300), t0);
  }
  const auto segs = f.files(".seg");
  ASSERT_EQ(segs.size(), 2u);
  const std::uint64_t base = std::stoull(stdfs::path(segs[1]).stem().string());
  stdfs::resize_file(segs[1], 3);
  stdfs::remove(f.files(".idx")[0]);  // an unfinished roll has not written the index yet
  f.reopen_storage();
  auto log = f.open();
  ASSERT_TRUE(log.ok()) << log.error();
  EXPECT_EQ((*log)->end_offset(), base);
  // The empty active segment must not hide the records before it from a search by time.
  EXPECT_EQ((*log)->offset_at_or_after(t0 - 1h), 0u);
  EXPECT_EQ((*log)->offset_at_or_after(t0), 0u);
  EXPECT_EQ((*log)->offset_at_or_after(t0 + 1ms), base);
  EXPECT_EQ(append(**log, make_batch(13, 1), t0), base);
  EXPECT_EQ(read_all(**log).size(), base + 1);
}

}  // namespace
}  // namespace rill
