// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
// The memory log's pins (src/storage/pinnable_log.hpp): fan-out subscribers copy
// an event's bytes after releasing the shard's lock, so trimming must keep the
// segments a pinned reader still copies from. Under ASan a dropped segment read
// through a kept view is a heap-use-after-free report; everywhere the bytes and
// the memory figures are checked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rill/storage.hpp"
#include "storage/pinnable_log.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;

TEST(PinnedMemoryLog, TrimKeepsPinnedSegmentsUntilUnpinned) {
  auto storage = make_memory_storage({.first_segment_bytes = 1024, .segment_bytes = 1024});
  auto created = storage->create_log({.stream_name = "s", .stream_uid = 1, .shard = shard_id(0)});
  ASSERT_TRUE(created.ok());
  std::unique_ptr<shard_log> log = std::move(*created);
  const auto* pins = dynamic_cast<const detail::pinnable_log*>(log.get());
  ASSERT_NE(pins, nullptr);
  // 200 records of ~64 bytes in several 1 KiB segments: the first 100 at t = 1 s, the rest at t = 2 s.
  std::vector<std::string> datas;
  for (int i = 0; i < 200; ++i) datas.push_back(std::string(60, static_cast<char>('a' + i % 26)) + std::to_string(i));
  for (int i = 0; i < 200; ++i) {
    const log_entry e{.partition_key = "k", .data = datas[static_cast<std::size_t>(i)]};
    ASSERT_TRUE(log->append(std::span<const log_entry>(&e, 1), timestamp(i < 100 ? 1000ms : 2000ms)).ok());
  }
  // A reader takes views of the first 100 and pins (as produce() does under the shard's lock)...
  std::vector<std::string_view> views;
  (void)log->read(0, 100, 1 << 20, [&](std::span<const log_record> batch) {
    for (const auto& r : batch) views.push_back(r.data);
  });
  ASSERT_EQ(views.size(), 100U);
  pins->pin();
  const std::size_t before = log->memory_bytes();
  // ...retention expires them meanwhile: the offsets move, the bytes stay.
  EXPECT_EQ(log->trim_before(timestamp(2000ms)), 100U);
  EXPECT_EQ(log->start_offset(), 100U);
  EXPECT_EQ(log->memory_bytes(), before);
  for (std::size_t i = 0; i < views.size(); ++i) ASSERT_EQ(views[i], datas[i]) << i;
  pins->unpin();
  // Unpinned, the next trim drops the expired segments.
  EXPECT_EQ(log->trim_before(timestamp(2000ms)), 100U);
  EXPECT_LT(log->memory_bytes(), before);
  storage->remove_log({.stream_name = "s", .stream_uid = 1, .shard = shard_id(0)});
}

}  // namespace
}  // namespace rill
