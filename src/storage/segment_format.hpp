// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The bytes of segment and index files (docs/storage-format.md describes them
// byte by byte). Everything here treats its input as untrusted: decoders check
// every length against the bytes they were given and return false rather than
// read outside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rill/storage.hpp"

namespace rill::segfmt {

inline constexpr char kSegmentMagic[8] = {'R', 'I', 'L', 'L', 'S', 'E', 'G', '1'};
inline constexpr char kIndexMagic[8] = {'R', 'I', 'L', 'L', 'I', 'D', 'X', '1'};
inline constexpr std::size_t kFileHeader = 16;   // magic, base offset
inline constexpr std::size_t kBatchHeader = 32;  // crc, length, first offset, arrival, count, kind, reserved
inline constexpr std::size_t kRecordHeader = 6;  // u16 key length, u32 data length
inline constexpr std::uint32_t kMaxPayload = 256u << 20;

enum class batch_kind : std::uint8_t { plain = 0, aes_256_gcm = 1 };

struct batch_header {
  std::uint32_t crc = 0;
  std::uint32_t payload_len = 0;
  std::uint64_t first_offset = 0;
  std::int64_t arrival_ms = 0;
  std::uint32_t count = 0;
  batch_kind kind = batch_kind::plain;
};

inline void put_u16(char* p, std::uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
inline void put_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline void put_u64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint16_t get_u16(const char* p) {
  return static_cast<std::uint16_t>(static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[1]) << 8);
}
inline std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

/// The 16-byte segment file header.
std::string encode_file_header(std::uint64_t base_offset);
/// False unless `p` (16 bytes) is a segment header for `base_offset`.
bool check_file_header(const char* p, std::uint64_t base_offset);

/// Writes the 32-byte header of a batch whose payload follows it at
/// `p + kBatchHeader` (payload_len bytes), computing the CRC over both.
void seal_batch_header(char* p, const batch_header& h);
/// Decodes a header; false if its fixed fields are impossible (unknown kind,
/// nonzero reserved bytes, zero records, payload over the maximum, more
/// records than the payload could hold).
bool decode_batch_header(const char* p, batch_header& h);
/// The CRC32C a batch should carry: over header bytes 4..31 and the payload.
std::uint32_t batch_crc(const char* header, const char* payload, std::size_t payload_len);

/// Appends the plain payload of `entries`.
void encode_plain(std::span<const log_entry> entries, std::string& out);
/// Plain payload size of `entries`.
std::size_t plain_size(std::span<const log_entry> entries);
/// Walks a plain payload of `count` records; false unless they fill it exactly.
bool decode_plain(std::string_view payload, std::uint32_t count,
                  const std::function<void(std::string_view key, std::string_view data)>& each);
/// Checks a plain payload's structure without visiting.
bool check_plain(std::string_view payload, std::uint32_t count);

/// decode_plain for a payload that check_plain() (or a scan) accepted, inlined
/// for the read path: visits the records, stops (returning false) at the first
/// length that does not fit.
template <class F>
inline bool for_each_plain(std::string_view payload, std::uint32_t count, F&& each) {
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

/// The wrapper of an encrypted payload: [u16 key id length][key id][12 nonce]
/// [ciphertext of the plain payload][16 tag].
struct sealed_view {
  std::string_view key_id{};
  const unsigned char* nonce = nullptr;
  std::string_view cipher{};
  const unsigned char* tag = nullptr;
};
bool parse_sealed(std::string_view payload, sealed_view& out);
/// Associated data of an encrypted batch: "<stream>/<shardId>" and header bytes 8..31.
std::string batch_aad(std::string_view stream_shard, const char* header);

/// A sparse-index entry: the batch at byte `pos` of the segment starts at
/// `offset` and arrived at `arrival_ms`.
struct index_entry {
  std::uint64_t offset = 0;
  std::uint64_t pos = 0;
  std::int64_t arrival_ms = 0;
};

/// What a sealed segment's .idx file holds.
struct index_file {
  std::uint64_t base_offset = 0;
  std::uint64_t end_offset = 0;
  std::uint64_t segment_size = 0;
  std::int64_t first_arrival_ms = 0;
  std::int64_t last_arrival_ms = 0;
  std::vector<index_entry> entries{};
};
std::string encode_index(const index_file& f);
/// Nullopt unless `bytes` is a well-formed index (magic, CRC, entries in order
/// and inside the segment).
std::optional<index_file> decode_index(std::string_view bytes);

}  // namespace rill::segfmt
