// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "storage/crc32c.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace rill::crc32c {
namespace {

constexpr std::uint32_t kPoly = 0x82F63B78u;

struct tables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  constexpr tables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i) {
      for (std::size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};
constexpr tables kTables;

// Shifting a CRC past n zero bytes is linear over GF(2): a 32×32 bit matrix,
// applied here through four 256-entry tables (Mark Adler's method). It lets
// three independent streams of the crc32 instruction run at once (its latency
// is 3 cycles, its throughput one per cycle) and be combined afterwards.
std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) {
  std::uint32_t sum = 0;
  for (; vec != 0; vec >>= 1, ++mat) {
    if (vec & 1) sum ^= *mat;
  }
  return sum;
}

void gf2_square(std::uint32_t* square, const std::uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

struct shift_tables {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
  explicit shift_tables(std::size_t len) {
    // Operators as 32 columns (the image of each bit). m1: one zero bit.
    std::uint32_t m1[32], m2[32], m4[32], a[32], next[32], acc[32], tmp[32];
    m1[0] = kPoly;
    for (int n = 1; n < 32; ++n) m1[n] = std::uint32_t{1} << (n - 1);
    gf2_square(m2, m1);
    gf2_square(m4, m2);
    gf2_square(a, m4);  // a: one zero byte
    bool have = false;
    // acc = a^len by squaring: the powers a^(2^i) for the bits i set in len.
    for (std::size_t l = len; l != 0; l >>= 1) {
      if (l & 1) {
        if (have) {
          for (int n = 0; n < 32; ++n) tmp[n] = gf2_times(a, acc[n]);
          std::copy(tmp, tmp + 32, acc);
        } else {
          std::copy(a, a + 32, acc);
          have = true;
        }
      }
      gf2_square(next, a);
      std::copy(next, next + 32, a);
    }
    for (std::uint32_t n = 0; n < 256; ++n) {
      t[0][n] = gf2_times(acc, n);
      t[1][n] = gf2_times(acc, n << 8);
      t[2][n] = gf2_times(acc, n << 16);
      t[3][n] = gf2_times(acc, n << 24);
    }
  }
  [[nodiscard]] std::uint32_t shift(std::uint32_t crc) const {
    return t[0][crc & 0xFF] ^ t[1][(crc >> 8) & 0xFF] ^ t[2][(crc >> 16) & 0xFF] ^ t[3][crc >> 24];
  }
};

constexpr std::size_t kLong = 8192;
constexpr std::size_t kShort = 256;

#if defined(__x86_64__)
// Consumes blocks of 3 × `block` bytes as three interleaved streams.
__attribute__((target("sse4.2"))) void three_streams(std::uint64_t& c, const unsigned char*& p, std::size_t& n,
                                                     std::size_t block, const shift_tables& sh) noexcept {
  while (n >= 3 * block) {
    std::uint64_t c1 = 0, c2 = 0;
    const unsigned char* end = p + block;
    do {
      std::uint64_t v0, v1, v2;
      std::memcpy(&v0, p, 8);
      std::memcpy(&v1, p + block, 8);
      std::memcpy(&v2, p + 2 * block, 8);
      c = __builtin_ia32_crc32di(c, v0);
      c1 = __builtin_ia32_crc32di(c1, v1);
      c2 = __builtin_ia32_crc32di(c2, v2);
      p += 8;
    } while (p < end);
    c = sh.shift(static_cast<std::uint32_t>(c)) ^ static_cast<std::uint32_t>(c1);
    c = sh.shift(static_cast<std::uint32_t>(c)) ^ static_cast<std::uint32_t>(c2);
    p += 2 * block;
    n -= 3 * block;
  }
}

__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const unsigned char* p,
                                                             std::size_t n) noexcept {
  static const shift_tables long_shift(kLong), short_shift(kShort);
  std::uint64_t c = static_cast<std::uint32_t>(~crc);
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0) {
    c = __builtin_ia32_crc32qi(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  three_streams(c, p, n, kLong, long_shift);
  three_streams(c, p, n, kShort, short_shift);
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    c = __builtin_ia32_crc32qi(static_cast<std::uint32_t>(c), *p++);
    --n;
  }
  return ~static_cast<std::uint32_t>(c);
}
#endif

const bool kHardware = [] {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
#else
  return false;
#endif
}();

}  // namespace

std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~crc;
  const auto& t = kTables.t;
  while (n >= 8) {
    std::uint32_t lo = c ^ (static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                            static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][p[4]] ^ t[2][p[5]] ^
        t[1][p[6]] ^ t[0][p[7]];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (kHardware) return extend_sse42(crc, static_cast<const unsigned char*>(data), n);
#endif
  return extend_portable(crc, data, n);
}

bool hardware_available() noexcept { return kHardware; }

std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept {
  return extend_hardware(crc, data, n);
}

}  // namespace rill::crc32c
