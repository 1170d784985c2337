// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// CRC32C: known vectors (RFC 3720 appendix B.4), and the hardware path
// cross-checked against the portable one on random inputs of every length and
// alignment.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "seed.hpp"
#include "storage/crc32c.hpp"

namespace rill {
namespace {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c::value("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c::value(""), 0u);
  EXPECT_EQ(crc32c::value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c::value(inc), 0x46DD794Eu);
  std::string dec(32, '\0');
  for (int i = 0; i < 32; ++i) dec[i] = static_cast<char>(31 - i);
  EXPECT_EQ(crc32c::value(dec), 0x113FDB5Cu);
  EXPECT_EQ(crc32c::extend_portable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c::extend_hardware(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32c, HardwareMatchesPortableOnRandomInputs) {
  const auto seed = testing::test_seed(20260101);
  std::mt19937_64 rng(seed);
  std::printf("[ INFO     ] hardware CRC32C: %s\n", crc32c::hardware_available() ? "yes (SSE4.2)" : "no");
  std::string buf(100'000, '\0');
  for (auto& c : buf) c = static_cast<char>(rng());
  for (int i = 0; i < 1000; ++i) {
    const std::size_t at = rng() % 64;
    // Mostly short (batch headers), some past the 3-stream block sizes (3 × 256 and 3 × 8192 bytes).
    const std::size_t n = rng() % (i % 8 == 0 ? buf.size() - at : 5000);
    const std::uint32_t init = (i % 3 == 0) ? 0 : static_cast<std::uint32_t>(rng());
    ASSERT_EQ(crc32c::extend_hardware(init, buf.data() + at, n), crc32c::extend_portable(init, buf.data() + at, n))
        << "at " << at << " n " << n;
  }
}

TEST(Crc32c, ExtendIsIncremental) {
  const std::string s = "the quick brown fox jumps over the lazy dog, twice over";
  for (std::size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(crc32c::extend(crc32c::extend(0, s.data(), cut), s.data() + cut, s.size() - cut), crc32c::value(s));
  }
}

}  // namespace
}  // namespace rill
