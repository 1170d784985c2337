// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The `application/vnd.amazon.eventstream` framing SubscribeToShard answers in:
//
//   total_len u32BE | headers_len u32BE | prelude_crc u32BE (CRC32 of the first 8 bytes)
//   | headers | payload | message_crc u32BE (CRC32 of every byte before it)
//
// A header is `name_len u8 | name | type u8 | value`; rill writes strings
// (type 7: `len u16BE | bytes`) and reads every type of the format (0 true,
// 1 false, 2 byte, 3 i16, 4 i32, 5 i64, 6 bytes, 7 string, 8 timestamp i64 ms,
// 9 uuid). CRC32 is the IEEE polynomial (reflected 0xEDB88320).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"

namespace rill::wire {

struct event_header {
  std::string name;
  std::string value;  ///< string and bytes values; others as their decimal text ("true", "42")
  std::uint8_t type = 7;
  friend bool operator==(const event_header&, const event_header&) = default;
};

struct event_message {
  std::vector<event_header> headers;
  std::string payload;
  [[nodiscard]] const std::string* header(std::string_view name) const;
};

/// Limits of the format: 16 MiB per message, 128 KiB of headers.
inline constexpr std::size_t max_event_message = 16u << 20;
inline constexpr std::size_t max_event_headers = 128u << 10;

std::uint32_t crc32(std::string_view data, std::uint32_t crc = 0);

/// Appends one frame to `out`. Headers are written as strings (type 7).
void encode_event(const event_message& m, std::string& out);

/// An event frame (`:message-type=event`, `:event-type`, `:content-type`).
std::string event_frame(std::string_view event_type, std::string_view content_type, std::string_view payload);
/// An exception frame (`:message-type=exception`, `:exception-type`, `:content-type`).
std::string exception_frame(std::string_view exception_type, std::string_view content_type, std::string_view payload);

/// Decodes the first frame of `in`. On success sets `consumed` to its length.
/// Returns nullopt with `consumed` = 0 if `in` holds only part of a frame;
/// an error (SerializationException text, as InternalFailure code) for a corrupt one.
result<std::optional<event_message>> decode_event(std::string_view in, std::size_t& consumed);

}  // namespace rill::wire
