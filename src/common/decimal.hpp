// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Decimal text of large integers without snprintf or a 128-bit division
// routine: the pieces behind sequence_number::to_string (src/common/types.cpp)
// and the wire server's sequence-number writer (src/server/codec.cpp). Both
// split a number into base-10^19 limbs with div_ten19 and print each limb with
// write19.
#pragma once

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace rill::detail {

constexpr std::uint64_t ten19 = 10'000'000'000'000'000'000ULL;  // ≥ 2^63: a normalised divisor

// (hi·2^64 + lo) / 10^19 with hi < 10^19, the remainder in `rem`: division by
// an invariant normalised divisor with its precomputed reciprocal (Möller and
// Granlund, "Improved division by invariant integers", 2011, algorithm 4) — two
// multiplications instead of a 128-bit division (__udivti3, or divq's 40+ cycles).
inline std::uint64_t div_ten19(std::uint64_t hi, std::uint64_t lo, std::uint64_t& rem) noexcept {
  using u128 = unsigned __int128;
  constexpr auto inverse = static_cast<std::uint64_t>(~u128{0} / ten19 - (u128{1} << 64));
  u128 q = static_cast<u128>(inverse) * hi;
  q += (static_cast<u128>(hi) << 64) | lo;
  std::uint64_t q1 = static_cast<std::uint64_t>(q >> 64) + 1;
  const auto q0 = static_cast<std::uint64_t>(q);
  std::uint64_t r = lo - q1 * ten19;
  if (r > q0) {
    --q1;
    r += ten19;
  }
  if (r >= ten19) {
    ++q1;
    r -= ten19;
  }
  rem = r;
  return q1;
}

// "00".."99".
constexpr std::array<char, 200> make_digit_pairs() {
  std::array<char, 200> t{};
  for (int i = 0; i < 100; ++i) {
    t[static_cast<std::size_t>(2 * i)] = static_cast<char>('0' + i / 10);
    t[static_cast<std::size_t>(2 * i + 1)] = static_cast<char>('0' + i % 10);
  }
  return t;
}
inline constexpr auto digit_pairs = make_digit_pairs();

// v < 10^4 as exactly four digits.
inline char* write4(std::uint32_t v, char* out) noexcept {
  std::memcpy(out, &digit_pairs[2 * (v / 100)], 2);
  std::memcpy(out + 2, &digit_pairs[2 * (v % 100)], 2);
  return out + 4;
}

// v < 10^8 as exactly eight digits, all at once in the lanes of one 64-bit
// word: two 4-digit halves (32-bit lanes) split by 100 (multiply by 10486,
// shift by 20: exact below 10^4), then four 2-digit lanes split by 10
// (multiply by 103, shift by 10: exact below 179); lanes never carry into
// each other because every product stays inside its lane.
inline char* write8(std::uint32_t v, char* out) noexcept {
  if constexpr (std::endian::native != std::endian::little) return write4(v % 10000, write4(v / 10000, out));
  std::uint64_t x = (v / 10000) | (static_cast<std::uint64_t>(v % 10000) << 32);
  const std::uint64_t hundreds = ((x * 10486) >> 20) & 0x0000'007F'0000'007FULL;
  x = hundreds | ((x - hundreds * 100) << 16);
  const std::uint64_t tens = ((x * 103) >> 10) & 0x000F'000F'000F'000FULL;
  x = tens | ((x - tens * 10) << 8);
  x |= 0x3030'3030'3030'3030ULL;
  std::memcpy(out, &x, 8);
  return out + 8;
}

// v < 10^19 as exactly nineteen digits.
inline char* write19(std::uint64_t v, char* out) noexcept {
  const auto top = static_cast<std::uint32_t>(v / 10'000'000'000'000'000ULL);  // < 1000
  const std::uint64_t rest = v % 10'000'000'000'000'000ULL;
  *out++ = static_cast<char>('0' + top / 100);
  std::memcpy(out, &digit_pairs[2 * (top % 100)], 2);
  out += 2;
  out = write8(static_cast<std::uint32_t>(rest / 100'000'000), out);
  return write8(static_cast<std::uint32_t>(rest % 100'000'000), out);
}

}  // namespace rill::detail
