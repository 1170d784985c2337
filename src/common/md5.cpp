// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "common/md5.hpp"

#include <openssl/md5.h>

#include <bit>
#include <cstdint>
#include <cstring>

namespace rill::detail {

hash_key md5_hash_key(std::string_view bytes) noexcept {
  unsigned char digest[MD5_DIGEST_LENGTH];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
#pragma GCC diagnostic pop
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  std::memcpy(&hi, digest, 8);
  std::memcpy(&lo, digest + 8, 8);
  // The digest is big-endian; x86 and ARM are little-endian.
  static_assert(std::endian::native == std::endian::little);
  return hash_key((static_cast<unsigned __int128>(__builtin_bswap64(hi)) << 64) | __builtin_bswap64(lo));
}

}  // namespace rill::detail
