// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "delivery/compression.hpp"

#include <isa-l/igzip_lib.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

namespace rill::delivery {
namespace {

constexpr std::size_t snappy_java_block = 32 * 1024;
constexpr std::size_t hadoop_snappy_block = 256 * 1024;
constexpr char snappy_java_magic[8] = {'\x82', 'S', 'N', 'A', 'P', 'P', 'Y', '\0'};

error failure(std::string message) { return error(error_code::internal_failure, std::move(message)); }

void put_be32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 4);
}
void put_le16(std::string& out, std::uint32_t v) {
  char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out.append(b, 2);
}
void put_le32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
  out.append(b, 4);
}
std::uint32_t get_be32(std::string_view in, std::size_t at) {
  auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])); };
  return u(0) << 24 | u(1) << 16 | u(2) << 8 | u(3);
}
std::uint32_t get_le32(std::string_view in, std::size_t at) {
  auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])); };
  return u(3) << 24 | u(2) << 16 | u(1) << 8 | u(0);
}
std::uint32_t get_le16(std::string_view in, std::size_t at) {
  auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[at + i])); };
  return u(1) << 8 | u(0);
}

// Deflate `data` into `out` with zlib: windowBits 31 = gzip wrapper, -15 = raw deflate.
result<void> deflate_into(std::string_view data, int level, int window_bits, std::string& out) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return failure("deflateInit2 failed");
  const std::size_t start = out.size();
  out.resize(start + deflateBound(&z, static_cast<uLong>(data.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  // zlib counts in uInt: feed at most 1 GiB per call.
  std::size_t left_in = data.size();
  int rc = Z_OK;
  for (;;) {
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(left_in, 1u << 30));
    z.avail_in = chunk;
    z.avail_out = static_cast<uInt>(
        std::min<std::size_t>(out.size() - static_cast<std::size_t>(z.next_out - reinterpret_cast<Bytef*>(out.data())),
                              std::numeric_limits<uInt>::max()));
    left_in -= chunk;
    rc = deflate(&z, left_in == 0 ? Z_FINISH : Z_NO_FLUSH);
    left_in += z.avail_in;
    if (rc == Z_STREAM_END || (rc != Z_OK && rc != Z_BUF_ERROR)) break;
  }
  const std::size_t produced = static_cast<std::size_t>(z.next_out - reinterpret_cast<Bytef*>(out.data())) - start;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return failure("deflate failed");
  out.resize(start + produced);
  return {};
}

// One gzip member from ISA-L's igzip (stateful, one call per 1 GiB of input).
result<void> igzip_into(std::string_view data, int level, std::string& out) {
  level = std::clamp(level, 0, 3);
  static constexpr std::uint32_t level_buf_sizes[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                                      ISAL_DEF_LVL3_DEFAULT};
  std::string level_buf(level_buf_sizes[level], '\0');
  isal_zstream z;
  isal_deflate_init(&z);
  z.gzip_flag = IGZIP_GZIP;
  z.level = static_cast<std::uint32_t>(level);
  z.level_buf = reinterpret_cast<std::uint8_t*>(level_buf.data());
  z.level_buf_size = static_cast<std::uint32_t>(level_buf.size());
  z.flush = NO_FLUSH;
  const std::size_t start = out.size();
  // Stored blocks bound the output: input + 5 bytes per 64 KiB + header and trailer.
  out.resize(start + data.size() + data.size() / 16384 * 5 + 1024);
  std::size_t in_at = 0, out_at = start;
  do {
    const auto chunk = std::min<std::size_t>(data.size() - in_at, 1u << 30);
    z.next_in = reinterpret_cast<std::uint8_t*>(const_cast<char*>(data.data() + in_at));
    z.avail_in = static_cast<std::uint32_t>(chunk);
    z.end_of_stream = in_at + chunk == data.size() ? 1 : 0;
    z.next_out = reinterpret_cast<std::uint8_t*>(out.data() + out_at);
    z.avail_out = static_cast<std::uint32_t>(std::min<std::size_t>(out.size() - out_at, 0xFFFFFFFFu));
    if (isal_deflate(&z) != COMP_OK) return failure("isal_deflate failed");
    in_at += chunk - z.avail_in;
    out_at = static_cast<std::size_t>(reinterpret_cast<char*>(z.next_out) - out.data());
    if (z.avail_out == 0 && z.internal_state.state != ZSTATE_END) out.resize(out.size() * 2);
  } while (z.internal_state.state != ZSTATE_END);
  out.resize(out_at);
  return {};
}

result<std::string> inflate_all(std::string_view data, int window_bits, std::size_t* consumed = nullptr) {
  z_stream z{};
  if (inflateInit2(&z, window_bits) != Z_OK) return failure("inflateInit2 failed");
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return failure("inflate failed");
    }
    out.append(buf, sizeof buf - z.avail_out);
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return failure("truncated deflate stream");
    }
  } while (rc != Z_STREAM_END);
  if (consumed) *consumed = data.size() - z.avail_in;
  inflateEnd(&z);
  return out;
}

// MS-DOS date and time of a UTC instant (2-second resolution, years 1980..2107).
std::pair<std::uint32_t, std::uint32_t> dos_time(timestamp t) {
  using namespace std::chrono;
  auto day = floor<days>(t);
  year_month_day ymd{day};
  hh_mm_ss hms{floor<seconds>(t - day)};
  int y = std::clamp(static_cast<int>(ymd.year()), 1980, 2107);
  auto date = static_cast<std::uint32_t>((y - 1980) << 9 | static_cast<unsigned>(ymd.month()) << 5 |
                                         static_cast<unsigned>(ymd.day()));
  auto time =
      static_cast<std::uint32_t>(hms.hours().count() << 11 | hms.minutes().count() << 5 | hms.seconds().count() / 2);
  return {date, time};
}

result<void> zip_into(std::string_view data, const compress_options& options, std::string& out) {
  if (data.size() >= 0xFFFFFFFFu) return failure("ZIP object over 4 GiB (rill writes no ZIP64)");
  const std::string& name = options.zip_entry_name;
  const auto crc = static_cast<std::uint32_t>(
      crc32_z(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(data.data()), data.size()));
  const auto [date, time] = dos_time(options.zip_time);
  const std::size_t start = out.size();
  // Local file header; the sizes are known, so no data descriptor follows.
  put_le32(out, 0x04034b50);
  put_le16(out, 20);  // version needed: 2.0 (deflate)
  put_le16(out, 0);   // flags
  put_le16(out, 8);   // method: deflate
  put_le16(out, time);
  put_le16(out, date);
  put_le32(out, crc);
  const std::size_t csize_at = out.size();
  put_le32(out, 0);  // compressed size, patched below
  put_le32(out, static_cast<std::uint32_t>(data.size()));
  put_le16(out, static_cast<std::uint32_t>(name.size()));
  put_le16(out, 0);  // extra field length
  out += name;
  const std::size_t data_at = out.size();
  if (auto r = deflate_into(data, options.gzip_level, -15, out); !r) return r;
  const std::size_t csize = out.size() - data_at;
  if (csize >= 0xFFFFFFFFu) return failure("ZIP object over 4 GiB (rill writes no ZIP64)");
  for (int i = 0; i < 4; ++i) out[csize_at + i] = static_cast<char>(csize >> (8 * i));
  // Central directory: one entry.
  const std::size_t cd_at = out.size();
  put_le32(out, 0x02014b50);
  put_le16(out, 20);  // version made by: MS-DOS, 2.0
  put_le16(out, 20);
  put_le16(out, 0);
  put_le16(out, 8);
  put_le16(out, time);
  put_le16(out, date);
  put_le32(out, crc);
  put_le32(out, static_cast<std::uint32_t>(csize));
  put_le32(out, static_cast<std::uint32_t>(data.size()));
  put_le16(out, static_cast<std::uint32_t>(name.size()));
  put_le16(out, 0);  // extra
  put_le16(out, 0);  // comment
  put_le16(out, 0);  // disk number start
  put_le16(out, 0);  // internal attributes
  put_le32(out, 0);  // external attributes
  put_le32(out, 0);  // local header offset: the archive starts with it
  out += name;
  const std::size_t cd_size = out.size() - cd_at;
  // End of central directory.
  put_le32(out, 0x06054b50);
  put_le16(out, 0);
  put_le16(out, 0);
  put_le16(out, 1);
  put_le16(out, 1);
  put_le32(out, static_cast<std::uint32_t>(cd_size));
  put_le32(out, static_cast<std::uint32_t>(cd_at - start));
  put_le16(out, 0);
  return {};
}

void snappy_java_into(std::string_view data, std::string& out) {
  out.append(snappy_java_magic, sizeof snappy_java_magic);
  put_be32(out, 1);  // version
  put_be32(out, 1);  // compatible version
  std::string block;
  for (std::size_t at = 0; at < data.size(); at += snappy_java_block) {
    auto chunk = data.substr(at, snappy_java_block);
    block.resize(snappy::MaxCompressedLength(chunk.size()));
    std::size_t n = 0;
    snappy::RawCompress(chunk.data(), chunk.size(), block.data(), &n);
    put_be32(out, static_cast<std::uint32_t>(n));
    out.append(block.data(), n);
  }
}

void hadoop_snappy_into(std::string_view data, std::string& out) {
  std::string block;
  for (std::size_t at = 0; at < data.size(); at += hadoop_snappy_block) {
    auto chunk = data.substr(at, hadoop_snappy_block);
    block.resize(snappy::MaxCompressedLength(chunk.size()));
    std::size_t n = 0;
    snappy::RawCompress(chunk.data(), chunk.size(), block.data(), &n);
    put_be32(out, static_cast<std::uint32_t>(chunk.size()));
    put_be32(out, static_cast<std::uint32_t>(n));
    out.append(block.data(), n);
  }
}

result<void> zstd_into(std::string_view data, std::string& out) {
  const std::size_t start = out.size();
  out.resize(start + ZSTD_compressBound(data.size()));
  std::size_t n = ZSTD_compress(out.data() + start, out.size() - start, data.data(), data.size(), 3);
  if (ZSTD_isError(n)) return failure(std::string("ZSTD_compress: ") + ZSTD_getErrorName(n));
  out.resize(start + n);
  return {};
}

result<std::string> raw_snappy(std::string_view block) {
  std::string out;
  std::size_t length = 0;
  if (!snappy::GetUncompressedLength(block.data(), block.size(), &length) || length > (std::size_t{1} << 30))
    return failure("corrupt snappy block");
  if (!snappy::Uncompress(block.data(), block.size(), &out)) return failure("corrupt snappy block");
  return out;
}

}  // namespace

std::optional<compression> parse_compression(std::string_view name) noexcept {
  if (name == "UNCOMPRESSED") return compression::uncompressed;
  if (name == "GZIP") return compression::gzip;
  if (name == "ZIP") return compression::zip;
  if (name == "Snappy") return compression::snappy;
  if (name == "HADOOP_SNAPPY") return compression::hadoop_snappy;
  if (name == "ZSTD") return compression::zstd;
  return std::nullopt;
}

std::string_view to_string(compression c) noexcept {
  switch (c) {
    case compression::uncompressed: return "UNCOMPRESSED";
    case compression::gzip: return "GZIP";
    case compression::zip: return "ZIP";
    case compression::snappy: return "Snappy";
    case compression::hadoop_snappy: return "HADOOP_SNAPPY";
    case compression::zstd: return "ZSTD";
  }
  return "UNCOMPRESSED";
}

std::string_view file_extension(compression c) noexcept {
  switch (c) {
    case compression::uncompressed: return "";
    case compression::gzip: return ".gz";
    case compression::zip: return ".zip";
    case compression::snappy:
    case compression::hadoop_snappy: return ".snappy";
    case compression::zstd: return ".zst";
  }
  return "";
}

std::string_view content_encoding(compression c) noexcept {
  switch (c) {
    case compression::uncompressed: return "";
    case compression::gzip: return "gzip";
    case compression::zip: return "zip";
    case compression::snappy: return "snappy-java";
    case compression::hadoop_snappy: return "hadoop-snappy";
    case compression::zstd: return "zstd";
  }
  return "";
}

result<void> compress(compression c, std::string_view data, const compress_options& options, std::string& out) {
  switch (c) {
    case compression::uncompressed: out.append(data); return {};
    case compression::gzip:
      return options.igzip ? igzip_into(data, options.gzip_level, out)
                           : deflate_into(data, options.gzip_level, 31, out);
    case compression::zip: return zip_into(data, options, out);
    case compression::snappy: snappy_java_into(data, out); return {};
    case compression::hadoop_snappy: hadoop_snappy_into(data, out); return {};
    case compression::zstd: return zstd_into(data, out);
  }
  return failure("unknown compression");
}

result<std::string> decompress(compression c, std::string_view data) {
  switch (c) {
    case compression::uncompressed: return std::string(data);
    case compression::gzip: {
      std::size_t used = 0;
      auto r = inflate_all(data, 31, &used);
      if (r && used != data.size()) return failure("trailing bytes after the gzip member");
      return r;
    }
    case compression::zip: {
      if (data.size() < 30 || get_le32(data, 0) != 0x04034b50) return failure("not a zip local header");
      const std::size_t name_len = get_le16(data, 26), extra_len = get_le16(data, 28);
      const std::size_t csize = get_le32(data, 18), usize = get_le32(data, 22), crc = get_le32(data, 14);
      const std::size_t at = 30 + name_len + extra_len;
      if (get_le16(data, 8) != 8 || at + csize > data.size()) return failure("bad zip entry");
      auto r = inflate_all(data.substr(at, csize), -15);
      if (!r) return r;
      if (r->size() != usize ||
          crc32_z(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(r->data()), r->size()) != crc)
        return failure("zip size or CRC mismatch");
      return r;
    }
    case compression::snappy: {
      if (data.size() < 16 || std::memcmp(data.data(), snappy_java_magic, 8) != 0)
        return failure("not a snappy-java stream");
      std::string out;
      for (std::size_t at = 16; at < data.size();) {
        if (at + 4 > data.size()) return failure("truncated snappy-java block");
        std::size_t n = get_be32(data, at);
        if (at + 4 + n > data.size()) return failure("truncated snappy-java block");
        auto block = raw_snappy(data.substr(at + 4, n));
        if (!block) return block;
        out += *block;
        at += 4 + n;
      }
      return out;
    }
    case compression::hadoop_snappy: {
      std::string out;
      for (std::size_t at = 0; at < data.size();) {
        if (at + 8 > data.size()) return failure("truncated hadoop-snappy block");
        std::size_t raw = get_be32(data, at), n = get_be32(data, at + 4);
        if (at + 8 + n > data.size()) return failure("truncated hadoop-snappy block");
        auto block = raw_snappy(data.substr(at + 8, n));
        if (!block) return block;
        if (block->size() != raw) return failure("hadoop-snappy length mismatch");
        out += *block;
        at += 8 + n;
      }
      return out;
    }
    case compression::zstd: {
      auto size = ZSTD_getFrameContentSize(data.data(), data.size());
      if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) return failure("bad zstd frame");
      if (size > (std::uint64_t{1} << 30)) return failure("zstd frame over 1 GiB");
      std::string out(size, '\0');
      auto n = ZSTD_decompress(out.data(), out.size(), data.data(), data.size());
      if (ZSTD_isError(n) || n != size) return failure("zstd decompression failed");
      return out;
    }
  }
  return failure("unknown compression");
}

}  // namespace rill::delivery
