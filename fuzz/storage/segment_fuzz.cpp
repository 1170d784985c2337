// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target for the segment reader and the index decoder. Each input is
// used four ways: as a shard's only segment file (opened, recovered and read
// back), as a sealed segment followed by an empty active one, as a segment
// whose batch CRCs were made right (so the checks behind the CRC are reached),
// and as an index file's bytes. Invariants: no crash, no out-of-bounds access (ASan), and a
// log that opens reads back only records with offsets inside it.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "rill/logging.hpp"
#include "rill/storage.hpp"
#include "storage/segment_format.hpp"

namespace {

const std::string& root() {
  static const std::string r = [] {
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    return base + "/rill-segment-fuzz-" + std::to_string(::getpid());
  }();
  return r;
}

void run(std::string_view bytes, bool sealed) {
  const std::string dir = root() + "/streams/f@1/0000000000";
  std::filesystem::remove_all(root());
  std::filesystem::create_directories(dir);
  std::string seg = rill::segfmt::encode_file_header(0);
  seg.append(bytes);
  std::ofstream(dir + "/00000000000000000000.seg", std::ios::binary) << seg;
  if (sealed) {
    std::ofstream(dir + "/00000000000000000005.seg", std::ios::binary) << rill::segfmt::encode_file_header(5);
  }
  auto store = rill::open_file_storage({.directory = root()});
  if (!store) return;
  auto log = (*store)->open_log({"f", 1, rill::shard_id(0)});
  if (!log) return;
  const std::uint64_t end = (*log)->end_offset();
  (void)(*log)->read(0, 1 << 20, std::size_t{1} << 30, [&](std::span<const rill::log_record> batch) {
    for (const auto& r : batch) {
      if (r.offset >= end) std::abort();
    }
  });
  if (end > 0) (void)(*log)->offset_at_or_after(rill::timestamp(rill::duration(1)));
}

// The input with every batch's CRC made right (lengths clamped to what is
// left), so the checks after the CRC see arbitrary fields.
std::string with_valid_crcs(std::string_view in) {
  std::string b(in);
  std::size_t pos = 0;
  while (pos + rill::segfmt::kBatchHeader <= b.size()) {
    char* h = b.data() + pos;
    const std::size_t left = b.size() - pos - rill::segfmt::kBatchHeader;
    std::uint32_t len = rill::segfmt::get_u32(h + 4);
    if (len > left) len = static_cast<std::uint32_t>(left);
    rill::segfmt::put_u32(h + 4, len);
    rill::segfmt::put_u32(h, rill::segfmt::batch_crc(h, h + rill::segfmt::kBatchHeader, len));
    pos += rill::segfmt::kBatchHeader + len;
  }
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool quiet = [] {
    rill::logger()->set_level(spdlog::level::off);  // torn tails are logged; here they are the point
    return true;
  }();
  (void)quiet;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)rill::segfmt::decode_index(bytes);
  run(bytes, false);
  run(bytes, true);
  run(with_valid_crcs(bytes), false);
  return 0;
}
