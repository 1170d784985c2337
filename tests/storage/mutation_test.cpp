// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Seeded mutation test of the segment reader (recovery and reads): random byte
// flips, truncations, appended garbage and replaced files in a shard's folder
// never crash, never read out of bounds (run under ASan), and end either in a
// clean recovery whose records are exactly the originals at their offsets, or
// in a clear error naming a file of the folder. The decoders of the format get
// raw random bytes too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "log_helpers.hpp"
#include "rill/encryption.hpp"
#include "rill/storage.hpp"
#include "seed.hpp"
#include "storage/segment_format.hpp"
#include "temp_dir.hpp"

namespace rill {
namespace {

using namespace std::chrono_literals;
using testing::read_all;
using testing::t0;
namespace stdfs = std::filesystem;

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void spit(const std::string& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }

TEST(StorageMutation, DamagedSegmentsAndIndexesRecoverCleanlyOrFailNamingTheFile) {
  const auto seed = testing::test_seed(7);
  std::mt19937_64 rng(seed);
  testing::temp_dir dir;
  auto keys = std::make_shared<test_key_provider>();
  const shard_log_key key{"m", 1, shard_id(0)};
  std::vector<testing::stored> original;
  const std::string pristine = dir.path() + "/pristine", work = dir.path() + "/work";
  {
    auto store =
        *open_file_storage({.directory = pristine, .segment_bytes = 4096, .index_interval_bytes = 512, .keys = keys});
    auto log = *store->create_log(key);
    for (int i = 0; i < 60; ++i) {
      if (i == 30) log->set_encryption("alias/aws/kinesis");
      std::vector<std::string> data;
      for (int j = 0; j <= i % 4; ++j)
        data.push_back("r" + std::to_string(i) + "." + std::to_string(j) + std::string(rng() % 200, 'd'));
      std::vector<log_entry> e;
      for (const auto& d : data) e.push_back({"pk" + std::to_string(i % 3) == "pk0" ? "pk0" : "pk1", d});
      ASSERT_TRUE(log->append(e, t0 + std::chrono::seconds(i)).ok());
    }
    original = read_all(*log);
  }
  const int iterations = 150;
  int opened = 0, refused = 0, read_failures = 0;
  for (int it = 0; it < iterations; ++it) {
    stdfs::remove_all(work);
    stdfs::copy(pristine, work, stdfs::copy_options::recursive);
    const std::string shard = work + "/streams/m@1/0000000000";
    std::vector<std::string> files;
    for (const auto& e : stdfs::directory_iterator(shard)) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
      const std::string& f = files[rng() % files.size()];
      std::string b = slurp(f);
      switch (rng() % 5) {
        case 0:  // flip bytes
        case 1:
          for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !b.empty(); ++k) {
            b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
          }
          break;
        case 2: b.resize(b.empty() ? 0 : rng() % b.size()); break;  // truncate
        case 3:                                                     // garbage at the end
          for (int k = 0, n = static_cast<int>(rng() % 100); k < n; ++k) b.push_back(static_cast<char>(rng()));
          break;
        case 4:  // a file of garbage
          b.assign(rng() % 300, '\0');
          for (auto& c : b) c = static_cast<char>(rng());
          break;
      }
      spit(f, b);
    }
    auto store = open_file_storage({.directory = work, .segment_bytes = 4096, .keys = keys});
    ASSERT_TRUE(store.ok());
    auto log = (*store)->open_log(key);
    if (!log) {
      ++refused;
      EXPECT_NE(log.error().message().find(shard), std::string::npos) << "iteration " << it << ": " << log.error();
      continue;
    }
    ++opened;
    log_read_stats s;
    const auto got = read_all(**log, 0, 1 << 30, std::size_t{1} << 40, &s);
    if (s.failure) ++read_failures;
    for (const auto& r : got) {
      ASSERT_LT(r.offset, original.size()) << "iteration " << it;
      ASSERT_EQ(r, original[r.offset]) << "iteration " << it << ": a record came back altered";
    }
    if (!s.failure) {  // a clean read is a prefix (a torn tail was cut) or a suffix (leading segments gone)
      for (std::size_t i = 1; i < got.size(); ++i) ASSERT_EQ(got[i].offset, got[i - 1].offset + 1);
    }
    // The recovered log takes appends at its end.
    log_entry e{"k", "after"};
    if (auto a = (*log)->append(std::span<const log_entry>(&e, 1), t0 + 1h); a.ok()) {
      EXPECT_EQ(*a, (*log)->end_offset() - 1);
    }
  }
  std::printf("[ INFO     ] %d iterations: %d opened (%d with a read failure), %d refused with an error\n", iterations,
              opened, read_failures, refused);
  EXPECT_GT(opened, 0);
  EXPECT_GT(refused, 0);
}

TEST(StorageMutation, FormatDecodersTakeRandomBytes) {
  const auto seed = testing::test_seed(11);
  std::mt19937_64 rng(seed);
  segfmt::index_file idx{0, 10, 4096, 100, 200, {{0, 16, 100}, {5, 1000, 150}}};
  const std::string good = segfmt::encode_index(idx);
  ASSERT_TRUE(segfmt::decode_index(good).has_value());
  for (int i = 0; i < 8000; ++i) {
    std::string b = i % 2 ? good : std::string(rng() % 128, '\0');
    if (i % 2) {
      b[rng() % b.size()] ^= static_cast<char>(1 + rng() % 255);
    } else {
      for (auto& c : b) c = static_cast<char>(rng());
    }
    (void)segfmt::decode_index(b);  // must not crash or read out of bounds
    std::string hdr(segfmt::kBatchHeader, '\0');
    for (auto& c : hdr) c = static_cast<char>(rng() % 4 == 0 ? rng() : 0);
    segfmt::batch_header h;
    (void)segfmt::decode_batch_header(hdr.data(), h);
    std::string payload(rng() % 64, '\0');
    for (auto& c : payload) c = static_cast<char>(rng() % 3 == 0 ? rng() : 1);
    std::size_t visited = 0;
    const bool ok = segfmt::decode_plain(payload, 1 + static_cast<std::uint32_t>(rng() % 4),
                                         [&](std::string_view k, std::string_view d) {
                                           ASSERT_GE(k.data(), payload.data());
                                           ASSERT_LE(d.data() + d.size(), payload.data() + payload.size());
                                           ++visited;
                                         });
    if (!ok) EXPECT_EQ(visited, 0u);
    segfmt::sealed_view sv;
    if (segfmt::parse_sealed(payload, sv)) {
      EXPECT_LE(sv.cipher.data() + sv.cipher.size(), payload.data() + payload.size());
    }
  }
}

}  // namespace
}  // namespace rill
