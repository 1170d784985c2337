// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "storage/segment_format.hpp"

#include "storage/aead.hpp"
#include "storage/crc32c.hpp"

namespace rill::segfmt {

std::string encode_file_header(std::uint64_t base_offset) {
  std::string h(kFileHeader, '\0');
  std::memcpy(h.data(), kSegmentMagic, 8);
  put_u64(h.data() + 8, base_offset);
  return h;
}

bool check_file_header(const char* p, std::uint64_t base_offset) {
  return std::memcmp(p, kSegmentMagic, 8) == 0 && get_u64(p + 8) == base_offset;
}

std::uint32_t batch_crc(const char* header, const char* payload, std::size_t payload_len) {
  std::uint32_t c = crc32c::extend(0, header + 4, kBatchHeader - 4);
  return crc32c::extend(c, payload, payload_len);
}

void seal_batch_header(char* p, const batch_header& h) {
  put_u32(p + 4, h.payload_len);
  put_u64(p + 8, h.first_offset);
  put_u64(p + 16, static_cast<std::uint64_t>(h.arrival_ms));
  put_u32(p + 24, h.count);
  p[28] = static_cast<char>(h.kind);
  p[29] = p[30] = p[31] = 0;
  put_u32(p, batch_crc(p, p + kBatchHeader, h.payload_len));
}

bool decode_batch_header(const char* p, batch_header& h) {
  h.crc = get_u32(p);
  h.payload_len = get_u32(p + 4);
  h.first_offset = get_u64(p + 8);
  h.arrival_ms = static_cast<std::int64_t>(get_u64(p + 16));
  h.count = get_u32(p + 24);
  const auto kind = static_cast<unsigned char>(p[28]);
  if (kind > 1 || p[29] != 0 || p[30] != 0 || p[31] != 0) return false;
  h.kind = static_cast<batch_kind>(kind);
  if (h.count == 0 || h.payload_len > kMaxPayload) return false;
  if (h.kind == batch_kind::plain && static_cast<std::uint64_t>(h.count) * kRecordHeader > h.payload_len) return false;
  if (h.first_offset > (std::uint64_t{1} << 62)) return false;
  return true;
}

std::size_t plain_size(std::span<const log_entry> entries) {
  std::size_t n = 0;
  for (const auto& e : entries) n += kRecordHeader + e.partition_key.size() + e.data.size();
  return n;
}

void encode_plain(std::span<const log_entry> entries, std::string& out) {
  std::size_t at = out.size();
  out.resize(at + plain_size(entries));
  char* p = out.data() + at;
  for (const auto& e : entries) {
    put_u16(p, static_cast<std::uint16_t>(e.partition_key.size()));
    put_u32(p + 2, static_cast<std::uint32_t>(e.data.size()));
    p += kRecordHeader;
    if (!e.partition_key.empty()) std::memcpy(p, e.partition_key.data(), e.partition_key.size());
    p += e.partition_key.size();
    if (!e.data.empty()) std::memcpy(p, e.data.data(), e.data.size());
    p += e.data.size();
  }
}

namespace {
template <class F>
bool walk_plain(std::string_view payload, std::uint32_t count, F&& each) {
  const char* p = payload.data();
  std::size_t left = payload.size();
  for (std::uint32_t i = 0; i < count; ++i) {
    if (left < kRecordHeader) return false;
    const std::size_t k = get_u16(p);
    const std::size_t d = get_u32(p + 2);
    p += kRecordHeader;
    left -= kRecordHeader;
    if (k > left || d > left - k) return false;
    each(std::string_view(p, k), std::string_view(p + k, d));
    p += k + d;
    left -= k + d;
  }
  return left == 0;
}
}  // namespace

bool decode_plain(std::string_view payload, std::uint32_t count,
                  const std::function<void(std::string_view, std::string_view)>& each) {
  // Check first, so a bad payload visits nothing.
  if (!check_plain(payload, count)) return false;
  return walk_plain(payload, count, each);
}

bool check_plain(std::string_view payload, std::uint32_t count) {
  return walk_plain(payload, count, [](std::string_view, std::string_view) {});
}

bool parse_sealed(std::string_view payload, sealed_view& out) {
  if (payload.size() < 2) return false;
  const std::size_t k = get_u16(payload.data());
  if (k == 0 || payload.size() < 2 + k + aead::kNonceBytes + aead::kTagBytes) return false;
  out.key_id = payload.substr(2, k);
  out.nonce = reinterpret_cast<const unsigned char*>(payload.data() + 2 + k);
  const std::size_t cipher_at = 2 + k + aead::kNonceBytes;
  out.cipher = payload.substr(cipher_at, payload.size() - cipher_at - aead::kTagBytes);
  out.tag = reinterpret_cast<const unsigned char*>(payload.data() + payload.size() - aead::kTagBytes);
  return true;
}

std::string batch_aad(std::string_view stream_shard, const char* header) {
  std::string aad(stream_shard);
  aad.append(header + 8, kBatchHeader - 8);
  return aad;
}

std::string encode_index(const index_file& f) {
  std::string out(8 + 8 * 5 + 4 + f.entries.size() * 24 + 4, '\0');
  char* p = out.data();
  std::memcpy(p, kIndexMagic, 8);
  put_u64(p + 8, f.base_offset);
  put_u64(p + 16, f.end_offset);
  put_u64(p + 24, f.segment_size);
  put_u64(p + 32, static_cast<std::uint64_t>(f.first_arrival_ms));
  put_u64(p + 40, static_cast<std::uint64_t>(f.last_arrival_ms));
  put_u32(p + 48, static_cast<std::uint32_t>(f.entries.size()));
  p += 52;
  for (const auto& e : f.entries) {
    put_u64(p, e.offset);
    put_u64(p + 8, e.pos);
    put_u64(p + 16, static_cast<std::uint64_t>(e.arrival_ms));
    p += 24;
  }
  put_u32(p, crc32c::extend(0, out.data(), out.size() - 4));
  return out;
}

std::optional<index_file> decode_index(std::string_view b) {
  if (b.size() < 56 || std::memcmp(b.data(), kIndexMagic, 8) != 0) return std::nullopt;
  if (get_u32(b.data() + b.size() - 4) != crc32c::extend(0, b.data(), b.size() - 4)) return std::nullopt;
  index_file f;
  const char* p = b.data();
  f.base_offset = get_u64(p + 8);
  f.end_offset = get_u64(p + 16);
  f.segment_size = get_u64(p + 24);
  f.first_arrival_ms = static_cast<std::int64_t>(get_u64(p + 32));
  f.last_arrival_ms = static_cast<std::int64_t>(get_u64(p + 40));
  const std::uint32_t n = get_u32(p + 48);
  if (b.size() != 56 + static_cast<std::size_t>(n) * 24) return std::nullopt;
  if (f.end_offset < f.base_offset || f.segment_size < kFileHeader) return std::nullopt;
  if (f.end_offset > f.base_offset && (n == 0 || f.last_arrival_ms < f.first_arrival_ms)) return std::nullopt;
  p += 52;
  f.entries.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i, p += 24) {
    index_entry e{get_u64(p), get_u64(p + 8), static_cast<std::int64_t>(get_u64(p + 16))};
    const index_entry* prev = f.entries.empty() ? nullptr : &f.entries.back();
    if (e.offset < f.base_offset || e.offset >= f.end_offset) return std::nullopt;
    if (e.pos < kFileHeader || e.pos + kBatchHeader > f.segment_size) return std::nullopt;
    if (e.arrival_ms < f.first_arrival_ms || e.arrival_ms > f.last_arrival_ms) return std::nullopt;
    if (prev && (e.offset <= prev->offset || e.pos <= prev->pos || e.arrival_ms < prev->arrival_ms))
      return std::nullopt;
    if (!prev && (e.offset != f.base_offset || e.pos != kFileHeader)) return std::nullopt;
    f.entries.push_back(e);
  }
  return f;
}

}  // namespace rill::segfmt
