// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "md5.hpp"

#include <openssl/md5.h>

namespace rill::detail {

hash_key md5_hash_key(std::string_view bytes) noexcept {
  unsigned char digest[MD5_DIGEST_LENGTH];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest);
#pragma GCC diagnostic pop
  unsigned __int128 v = 0;
  for (unsigned char b : digest) v = (v << 8) | b;
  return hash_key(v);
}

}  // namespace rill::detail
