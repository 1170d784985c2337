// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/types.hpp"

#include <array>
#include <charconv>
#include <cstring>

#include "common/decimal.hpp"
#include "common/md5.hpp"

namespace rill {
namespace {

using u128 = unsigned __int128;

// A 192-bit unsigned integer, least significant limb first. Only what the
// sequence-number layout needs: shifts in of fields, decimal in and out.
struct u192 {
  std::array<std::uint64_t, 3> limb{};

  // this = (this << bits) | field, where field < 2^bits and bits ≤ 64.
  void push(unsigned bits, std::uint64_t field) {
    if (bits == 64) {
      limb[2] = limb[1];
      limb[1] = limb[0];
      limb[0] = field;
      return;
    }
    limb[2] = (limb[2] << bits) | (limb[1] >> (64 - bits));
    limb[1] = (limb[1] << bits) | (limb[0] >> (64 - bits));
    limb[0] = (limb[0] << bits) | field;
  }
  // Removes and returns the low `bits` bits (bits ≤ 64).
  std::uint64_t pop(unsigned bits) {
    if (bits == 64) {
      std::uint64_t f = limb[0];
      limb[0] = limb[1];
      limb[1] = limb[2];
      limb[2] = 0;
      return f;
    }
    std::uint64_t f = limb[0] & ((std::uint64_t{1} << bits) - 1);
    limb[0] = (limb[0] >> bits) | (limb[1] << (64 - bits));
    limb[1] = (limb[1] >> bits) | (limb[2] << (64 - bits));
    limb[2] >>= bits;
    return f;
  }
  // this = this * 10 + digit; false on overflow past 192 bits.
  bool mul10_add(unsigned digit) {
    u128 carry = digit;
    for (auto& l : limb) {
      u128 v = static_cast<u128>(l) * 10 + carry;
      l = static_cast<std::uint64_t>(v);
      carry = v >> 64;
    }
    return carry == 0;
  }
  // this /= 10^19; returns the remainder (a limb of the decimal text).
  std::uint64_t divmod_ten19() {
    std::uint64_t rem = 0;
    const int top = limb[2] != 0 ? 2 : (limb[1] != 0 ? 1 : 0);  // leading zero limbs stay zero
    for (int i = top; i >= 0; --i) {
      auto& l = limb[static_cast<std::size_t>(i)];
      l = detail::div_ten19(rem, l, rem);
    }
    return rem;
  }
  [[nodiscard]] bool is_zero() const { return (limb[0] | limb[1] | limb[2]) == 0; }
};

// Decimal text of a u192 (destroys v).
std::string to_decimal(u192 v) {
  if (v.is_zero()) return "0";
  std::array<std::uint64_t, 4> chunks{};
  std::size_t n = 0;
  while (!v.is_zero()) chunks[n++] = v.divmod_ten19();
  // At most 20 + 3 × 19 digits; the lower limbs zero-padded to 19 (no
  // snprintf: sequence numbers are printed per fan-out event and per result).
  char buf[80];
  char* p = std::to_chars(buf, buf + 20, chunks[n - 1]).ptr;
  for (std::size_t i = n - 1; i-- > 0;) p = detail::write19(chunks[i], p);
  return std::string(buf, p);
}

// `0|([1-9]\d{0,max_digits-1})`.
bool is_canonical_decimal(std::string_view s, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

constexpr std::uint64_t kVersion = 2;

}  // namespace

// --- hash_key -----------------------------------------------------------------

std::optional<hash_key> hash_key::parse(std::string_view decimal) noexcept {
  if (!is_canonical_decimal(decimal, 39)) return std::nullopt;
  u128 v = 0;
  constexpr u128 kMax = ~u128{0};
  for (char c : decimal) {
    auto d = static_cast<unsigned>(c - '0');
    if (v > (kMax - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return hash_key(v);
}

hash_key hash_key::of_partition_key(std::string_view partition_key) noexcept {
  return detail::md5_hash_key(partition_key);
}

std::string hash_key::to_string() const {
  u192 v;
  v.limb[0] = static_cast<std::uint64_t>(value_);
  v.limb[1] = static_cast<std::uint64_t>(value_ >> 64);
  return to_decimal(v);
}

std::ostream& operator<<(std::ostream& out, hash_key k) { return out << k.to_string(); }

// --- shard_id -----------------------------------------------------------------

std::optional<shard_id> shard_id::parse(std::string_view text) noexcept {
  auto dash = text.find('-');
  std::string_view digits = dash == std::string_view::npos ? text : text.substr(dash + 1);
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 2'147'483'647ULL) return std::nullopt;
  }
  return shard_id(static_cast<std::uint32_t>(v));
}

std::string shard_id::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shardId-%012u", index_);
  return buf;
}

std::ostream& operator<<(std::ostream& out, shard_id id) { return out << id.to_string(); }

// --- sequence_number ----------------------------------------------------------

std::string sequence_number::to_string() const {
  u192 v;
  v.push(4, kVersion);
  v.push(36, create_s_);
  v.push(4, shard_ & 0xF);
  v.push(64, index_);
  v.push(8, 0);
  v.push(36, time_s_);
  v.push(32, shard_);
  v.push(4, kVersion);
  return to_decimal(v);
}

std::optional<sequence_number> sequence_number::parse(std::string_view decimal) noexcept {
  if (!is_canonical_decimal(decimal, 129)) return std::nullopt;
  u192 v;
  for (char c : decimal) {
    if (!v.mul10_add(static_cast<unsigned>(c - '0'))) return std::nullopt;
  }
  // The layout is 188 bits: the top limb holds bits 128..187.
  if ((v.limb[2] >> 60) != 0) return std::nullopt;
  if (v.pop(4) != kVersion) return std::nullopt;
  auto shard = static_cast<std::uint32_t>(v.pop(32));
  std::uint64_t time_s = v.pop(36);
  if (v.pop(8) != 0) return std::nullopt;
  std::uint64_t index = v.pop(64);
  std::uint64_t low_nibble = v.pop(4);
  std::uint64_t create_s = v.pop(36);
  std::uint64_t version = v.pop(4);
  if (!v.is_zero() || version != kVersion) return std::nullopt;
  if (index > max_index || create_s > max_create_seconds) return std::nullopt;
  if (low_nibble != (shard & 0xF) || shard > 2'147'483'647U) return std::nullopt;
  return sequence_number(create_s, shard, index, time_s);
}

std::ostream& operator<<(std::ostream& out, const sequence_number& s) { return out << s.to_string(); }

// --- enums --------------------------------------------------------------------

std::string_view to_string(stream_status v) noexcept {
  switch (v) {
    case stream_status::creating: return "CREATING";
    case stream_status::deleting: return "DELETING";
    case stream_status::active: return "ACTIVE";
    case stream_status::updating: return "UPDATING";
  }
  return "UNKNOWN";
}

std::string_view to_string(stream_mode v) noexcept { return v == stream_mode::on_demand ? "ON_DEMAND" : "PROVISIONED"; }

std::string_view to_string(shard_iterator_type v) noexcept {
  switch (v) {
    case shard_iterator_type::at_sequence_number: return "AT_SEQUENCE_NUMBER";
    case shard_iterator_type::after_sequence_number: return "AFTER_SEQUENCE_NUMBER";
    case shard_iterator_type::trim_horizon: return "TRIM_HORIZON";
    case shard_iterator_type::latest: return "LATEST";
    case shard_iterator_type::at_timestamp: return "AT_TIMESTAMP";
  }
  return "UNKNOWN";
}

std::string_view to_string(shard_filter_type v) noexcept {
  switch (v) {
    case shard_filter_type::after_shard_id: return "AFTER_SHARD_ID";
    case shard_filter_type::at_trim_horizon: return "AT_TRIM_HORIZON";
    case shard_filter_type::from_trim_horizon: return "FROM_TRIM_HORIZON";
    case shard_filter_type::at_latest: return "AT_LATEST";
    case shard_filter_type::at_timestamp: return "AT_TIMESTAMP";
    case shard_filter_type::from_timestamp: return "FROM_TIMESTAMP";
  }
  return "UNKNOWN";
}

std::string_view to_string(encryption_type v) noexcept { return v == encryption_type::kms ? "KMS" : "NONE"; }
std::string_view to_string(scaling_type) noexcept { return "UNIFORM_SCALING"; }

std::ostream& operator<<(std::ostream& out, stream_status v) { return out << to_string(v); }
std::ostream& operator<<(std::ostream& out, stream_mode v) { return out << to_string(v); }
std::ostream& operator<<(std::ostream& out, shard_iterator_type v) { return out << to_string(v); }

}  // namespace rill
