// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Bodies of the Kinesis wire protocol. Both formats decode into one tree
// (nlohmann::json) and encode from one tree:
//   * JSON 1.1: blobs are base64 strings, timestamps epoch seconds (a number).
//   * CBOR 1.1: blobs are byte strings, timestamps tag 1 + integer epoch millis.
// In an output tree, blobs are `binary` values and timestamps are `number_float`
// values holding epoch seconds (Kinesis has no other floating-point member), so
// each writer emits them in its format.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill::wire {

using json = nlohmann::json;

enum class body_format : std::uint8_t { json, cbor };

/// Deepest nesting accepted in a body (Kinesis bodies nest at most 4 deep).
inline constexpr int max_depth = 32;

/// Parses a body. On failure: nullopt (the caller answers SerializationException).
std::optional<json> parse_body(std::string_view body, body_format f);

/// Writes a tree in a format (see the file comment for blobs and timestamps).
void write_body(const json& v, body_format f, std::string& out);
std::string write_body(const json& v, body_format f);

/// A timestamp as an output tree value.
inline json timestamp_value(timestamp t) { return json(static_cast<double>(t.time_since_epoch().count()) / 1000.0); }
/// A blob as an output tree value.
json blob_value(std::string_view bytes);

/// "1704067200.5": seconds with up to 3 fraction digits, never an exponent.
void append_epoch_seconds(std::int64_t millis, std::string& out);

/// A JSON string literal (quotes and escapes) appended to `out`.
void append_json_string(std::string_view s, std::string& out);
/// A CBOR head (major type and argument) appended to `out`.
void cbor_head(unsigned major, std::uint64_t n, std::string& out);
/// A CBOR text string.
inline void cbor_text(std::string_view s, std::string& out) {
  cbor_head(3, s.size(), out);
  out.append(s);
}

/// Standard base64 with padding.
void base64_encode(std::string_view in, std::string& out);
std::string base64_encode(std::string_view in);
/// Strict decoding as AWS does it: length a multiple of 4, only the alphabet,
/// canonical padding. Errors are SerializationException texts (`'<v>' can not be
/// converted to a Blob: …`).
result<std::string> base64_decode(std::string_view in);

/// Bytes `base64_decode_to` may write for an input of `n` characters (the
/// decoded length plus slack for its 8-byte stores).
constexpr std::size_t base64_decode_room(std::size_t n) { return n / 4 * 3 + 8; }
/// Decodes `in` into `out` (room for base64_decode_room(in.size()) bytes),
/// eight characters per step. Accepts exactly what base64_decode accepts, with
/// the same bytes; returns the decoded length, or nullopt where base64_decode
/// gives an error (call it for the text).
std::optional<std::size_t> base64_decode_to(std::string_view in, char* out) noexcept;
/// The four-characters-per-step decoder base64_decode_to replaced; kept as the
/// reference its tests compare against (same texts, same bytes).
result<std::string> base64_decode_reference(std::string_view in);

/// Decimal text of a sequence number, byte-identical to
/// sequence_number::to_string() (without its snprintf and allocation).
/// Writes at most max_sequence_number_digits characters; returns the end.
inline constexpr std::size_t max_sequence_number_digits = 60;
char* write_sequence_number(const sequence_number& s, char* out) noexcept;
void append_sequence_number(const sequence_number& s, std::string& out);
/// Writes the sequence numbers of one answer. A shard's records in one
/// PutRecords or GetRecords answer mostly follow each other (index + 1, same
/// shard, creation and arrival second), so their texts differ only in the low
/// 38 digits: the writer keeps the last number of up to 8 shards and gets the
/// next one by adding 2^80 in base 10^19 instead of dividing again. Output is
/// byte-identical to write_sequence_number. `out` must have room for
/// max_sequence_number_digits bytes, all of which write() may use (past the
/// returned end too). Not thread-safe (one per answer).
class sequence_number_writer {
 public:
  char* write(const sequence_number& s, char* out) noexcept;

 private:
  struct slot {
    bool used = false;
    std::uint32_t shard = 0;
    std::uint64_t create_s = 0;
    std::uint64_t time_s = 0;
    std::uint64_t index = 0;
    std::uint64_t c[4] = {};  ///< base-10^19 limbs, least significant first
    std::size_t text_len = 0;
    char text[max_sequence_number_digits] = {};
  };
  static char* step(slot& k, const sequence_number& s, char* out) noexcept;
  std::array<slot, 8> slots_{};
  unsigned next_ = 0;
};
/// "shardId-%012u", as shard_id::to_string(); writes at most 20 characters.
char* write_shard_id(shard_id id, char* out) noexcept;

}  // namespace rill::wire
