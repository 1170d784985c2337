// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The containers of delivered objects (docs/delivery.md gives each byte by byte):
//   UNCOMPRESSED   the bytes
//   GZIP           one gzip member (RFC 1952), zlib deflate or ISA-L igzip
//   ZIP            a zip archive with one deflated entry named by a UUID
//   Snappy         the snappy-java stream ("\x82SNAPPY\0", version 1, compatible 1,
//                  then [u32 BE length][raw snappy block of ≤ 32 KiB input]…)
//   HADOOP_SNAPPY  Hadoop BlockCompressorStream: [u32 BE raw length][u32 BE
//                  compressed length][raw snappy block] per ≤ 256 KiB of input
//   ZSTD           one zstd frame (a rill extension; not an AWS format)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill::delivery {

enum class compression : std::uint8_t { uncompressed, gzip, zip, snappy, hadoop_snappy, zstd };

/// "UNCOMPRESSED", "GZIP", "ZIP", "Snappy", "HADOOP_SNAPPY", "ZSTD" (case-sensitive).
std::optional<compression> parse_compression(std::string_view name) noexcept;
std::string_view to_string(compression c) noexcept;
/// ".gz", ".zip", ".snappy" (both Snappy variants, as AWS delivers), ".zst", "".
std::string_view file_extension(compression c) noexcept;
/// Content-Encoding: "gzip", "zip", "snappy-java", "hadoop-snappy", "zstd", "".
std::string_view content_encoding(compression c) noexcept;

struct compress_options {
  int gzip_level = 6;
  /// GZIP with ISA-L's igzip instead of zlib (the output is standard gzip;
  /// levels 0..3, `gzip_level` is clamped to that).
  bool igzip = false;
  /// The name of the ZIP entry (AWS: a random UUID).
  std::string zip_entry_name = "data";
  /// The modification time of the ZIP entry.
  timestamp zip_time{};
};

/// Appends the container of `data` to `out`. Errors: InternalFailure (library failure, or ZIP over 4 GiB).
result<void> compress(compression c, std::string_view data, const compress_options& options, std::string& out);

/// rill's own decoders, for tests and tools (the tests also decode with the standard tools).
result<std::string> decompress(compression c, std::string_view data);

}  // namespace rill::delivery
