// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Opaque tokens (shard iterators, pagination tokens): a binary payload followed
// by a 16-byte HMAC-SHA256 tag under the engine's key, in URL-safe base64
// without padding. A token whose tag does not verify (forged, altered, or made
// by another engine) is refused; the engine never trusts a token's content
// without the tag.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rill::detail {

/// Seals and opens tokens. Thread safety: const methods may run concurrently;
/// the codec holds no mutable state.
class token_codec {
 public:
  /// An empty key means 32 random bytes.
  explicit token_codec(std::string key);

  [[nodiscard]] std::string seal(std::string_view payload) const;
  /// The payload if `token` is well formed and its tag verifies.
  [[nodiscard]] std::optional<std::string> open(std::string_view token) const;

 private:
  /// HMAC-SHA256(key, payload) (RFC 2104), from the keyed midstates below.
  void tag(std::string_view payload, unsigned char out[32]) const;
  /// SHA-256 chaining values after the one block key ^ ipad (inner) or
  /// key ^ opad (outer): every tag starts from them, so it hashes only the
  /// payload and the inner digest, and the key itself is not kept.
  std::uint32_t inner_[8] = {};
  std::uint32_t outer_[8] = {};
};

/// Little-endian field writer/reader for token payloads.
class payload_writer {
 public:
  payload_writer& u8(std::uint8_t v) { return raw(&v, 1); }
  payload_writer& u32(std::uint32_t v) { return le(v, 4); }
  payload_writer& u64(std::uint64_t v) { return le(v, 8); }
  payload_writer& i64(std::int64_t v) { return le(static_cast<std::uint64_t>(v), 8); }
  payload_writer& str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.append(s);
    return *this;
  }
  std::string take() { return std::move(out_); }

 private:
  payload_writer& raw(const void* p, std::size_t n) {
    out_.append(static_cast<const char*>(p), n);
    return *this;
  }
  payload_writer& le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return *this;
  }
  std::string out_;
};

class payload_reader {
 public:
  explicit payload_reader(std::string_view in) : in_(in) {}
  bool u8(std::uint8_t& v) {
    std::uint64_t x = 0;
    if (!le(x, 1)) return false;
    v = static_cast<std::uint8_t>(x);
    return true;
  }
  bool u32(std::uint32_t& v) {
    std::uint64_t x = 0;
    if (!le(x, 4)) return false;
    v = static_cast<std::uint32_t>(x);
    return true;
  }
  bool u64(std::uint64_t& v) { return le(v, 8); }
  bool i64(std::int64_t& v) {
    std::uint64_t x = 0;
    if (!le(x, 8)) return false;
    v = static_cast<std::int64_t>(x);
    return true;
  }
  bool str(std::string& s) {
    std::uint32_t n = 0;
    if (!u32(n) || n > in_.size()) return false;
    s.assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  [[nodiscard]] bool done() const { return in_.empty(); }

 private:
  bool le(std::uint64_t& v, int n) {
    if (in_.size() < static_cast<std::size_t>(n)) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(static_cast<std::size_t>(n));
    return true;
  }
  std::string_view in_;
};

}  // namespace rill::detail
