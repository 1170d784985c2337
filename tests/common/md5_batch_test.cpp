// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The multi-lane MD5 of src/common/md5_batch against OpenSSL, on every code path
// this CPU runs: keys of every length 0..256 bytes (and some longer ones that
// take many blocks), at unaligned addresses, in batches of random sizes, so
// lanes finish at different times and take new keys mid-batch.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/md5.hpp"
#include "common/md5_batch.hpp"
#include "seed.hpp"

namespace rill::detail {
namespace {

md5_digest openssl_md5(std::string_view bytes) {
  md5_digest d{};
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), d.data(), &n, EVP_md5(), nullptr);
  return d;
}

// The hash key of a digest: its 16 bytes read as a big-endian integer.
hash_key key_of(const md5_digest& d) {
  hash_key::value_type v = 0;
  for (unsigned char c : d) v = (v << 8) | c;
  return hash_key(v);
}

std::string hex(const md5_digest& d) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (unsigned char c : d) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

class Md5Batch : public ::testing::TestWithParam<md5_path> {
 protected:
  void SetUp() override {
    if (!md5_path_supported(GetParam())) {
      GTEST_SKIP() << "this CPU does not run the " << to_string(GetParam()) << " path";
    }
  }
};

// RFC 1321, appendix A.5.
TEST_P(Md5Batch, RfcVectors) {
  const std::vector<std::pair<std::string_view, std::string_view>> vectors = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  std::vector<std::string_view> keys;
  for (const auto& v : vectors) keys.push_back(v.first);
  std::vector<md5_digest> out(keys.size());
  md5_batch(keys, out.data(), GetParam());
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(hex(out[i]), vectors[i].second) << "key \"" << keys[i] << '"';
}

// Every length 0..256 (plus longer keys up to 70 blocks), several keys of each,
// shuffled, at random byte offsets, cut into batches of random sizes.
TEST_P(Md5Batch, MatchesOpenSslOnEveryLength) {
  std::mt19937_64 rng(rill::testing::test_seed(0x6d6435));
  std::vector<std::size_t> lengths;
  for (int rep = 0; rep < 3; ++rep) {
    for (std::size_t len = 0; len <= 256; ++len) lengths.push_back(len);
  }
  for (std::size_t len : {300, 511, 512, 513, 1000, 1024, 4096 + 7}) lengths.push_back(len);
  std::shuffle(lengths.begin(), lengths.end(), rng);
  // All keys in one buffer at random offsets, so loads are unaligned.
  std::string buffer;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t len : lengths) {
    buffer.append(rng() % 7, 'x');
    spans.emplace_back(buffer.size(), len);
    for (std::size_t i = 0; i < len; ++i) buffer.push_back(static_cast<char>(rng()));
  }
  std::vector<std::string_view> keys;
  for (auto [at, len] : spans) keys.push_back(std::string_view(buffer).substr(at, len));

  std::vector<md5_digest> got(keys.size());
  std::vector<hash_key> got_keys(keys.size());
  std::size_t at = 0;
  std::size_t batches = 0;
  while (at < keys.size()) {
    const std::size_t n = std::min<std::size_t>(keys.size() - at, 1 + rng() % 100);
    const std::span<const std::string_view> batch(keys.data() + at, n);
    md5_batch(batch, got.data() + at, GetParam());
    md5_hash_keys(batch, got_keys.data() + at, GetParam());
    at += n;
    ++batches;
  }
  EXPECT_GT(batches, 10U);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(hex(got[i]), hex(openssl_md5(keys[i]))) << "key " << i << " of " << keys[i].size() << " bytes";
    ASSERT_EQ(got_keys[i], key_of(openssl_md5(keys[i]))) << "key " << i << " of " << keys[i].size() << " bytes";
  }
}

// One batch of equal-length keys per length: every lane holds the same block
// count, so no lane is refilled mid-block (the common case of a put).
TEST_P(Md5Batch, FullBatchesOfOneLength) {
  std::mt19937_64 rng(rill::testing::test_seed(0x6d6436));
  for (std::size_t len = 0; len <= 256; len += 1) {
    std::vector<std::string> owned(33);
    for (auto& s : owned) {
      s.resize(len);
      for (auto& c : s) c = static_cast<char>(rng());
    }
    std::vector<std::string_view> keys(owned.begin(), owned.end());
    std::vector<md5_digest> got(keys.size());
    md5_batch(keys, got.data(), GetParam());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      ASSERT_EQ(hex(got[i]), hex(openssl_md5(keys[i]))) << "length " << len << ", key " << i;
    }
  }
}

TEST_P(Md5Batch, EmptyBatchWritesNothing) {
  md5_digest sentinel{};
  sentinel.fill(0xAB);
  md5_digest out = sentinel;
  md5_batch(std::span<const std::string_view>(), &out, GetParam());
  EXPECT_EQ(out, sentinel);
}

INSTANTIATE_TEST_SUITE_P(Paths, Md5Batch, ::testing::Values(md5_path::scalar, md5_path::avx2, md5_path::avx512),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// The chunked front end the put path uses: more keys than one stack chunk.
TEST(Md5BatchOf, HashKeysOfMatchesOneAtATime) {
  std::mt19937_64 rng(rill::testing::test_seed(0x6d6437));
  std::vector<std::string> owned(500);
  for (auto& s : owned) {
    s.resize(1 + rng() % 256);
    for (auto& c : s) c = static_cast<char>('!' + rng() % 94);
  }
  std::vector<hash_key> got(owned.size());
  md5_hash_keys_of(
      owned.size(), [&](std::size_t i) { return std::string_view(owned[i]); }, got.data());
  for (std::size_t i = 0; i < owned.size(); ++i) ASSERT_EQ(got[i], key_of(openssl_md5(owned[i]))) << i;
}

// One key at a time (put_record, hash_key::of_partition_key): the single-block
// code for keys up to 55 bytes, the lane manager's scalar path beyond.
TEST(Md5One, MatchesOpenSslOnEveryLength) {
  std::mt19937_64 rng(rill::testing::test_seed(0x6d6438));
  for (std::size_t len = 0; len <= 300; ++len) {
    std::string key(len, '\0');
    for (auto& c : key) c = static_cast<char>(rng());
    const hash_key want = key_of(openssl_md5(key));
    ASSERT_EQ(md5_hash_key_one(key), want) << "length " << len;
    ASSERT_EQ(md5_hash_key(key), want) << "length " << len;
    ASSERT_EQ(hash_key::of_partition_key(key), want) << "length " << len;
  }
}

TEST(Md5BatchOf, UsePathCapsTheDefaultPath) {
  md5_use_path(md5_path::scalar);
  EXPECT_EQ(md5_current_path(), md5_path::scalar);
  const std::vector<std::string_view> keys(40, "a partition key");
  std::vector<hash_key> got(keys.size());
  md5_hash_keys(keys, got.data());
  for (const auto& h : got) EXPECT_EQ(h, key_of(openssl_md5("a partition key")));
  md5_use_path(std::nullopt);
  EXPECT_EQ(md5_current_path(), md5_best_path());
}

TEST(Md5BatchOf, BestPathIsSupported) {
  EXPECT_TRUE(md5_path_supported(md5_best_path()));
  EXPECT_TRUE(md5_path_supported(md5_path::scalar));
#if defined(__x86_64__)
  EXPECT_EQ(md5_path_supported(md5_path::avx2),
            __builtin_cpu_supports("avx2") != 0 || md5_path_supported(md5_path::avx512));
  EXPECT_EQ(md5_path_supported(md5_path::avx512),
            __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"));
#endif
  std::printf("[ INFO     ] best MD5 path on this CPU: %s\n", std::string(to_string(md5_best_path())).c_str());
}

}  // namespace
}  // namespace rill::detail
