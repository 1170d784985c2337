// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The raw 16-byte MD5 digest (the KPL trailer). OpenSSL's one-shot MD5() is the
// cheapest entry point (see src/common/md5.hpp); it is deprecated in OpenSSL 3,
// so its one use is here with the warning silenced.
#pragma once

#include <openssl/md5.h>

#include <string_view>

namespace rill::kpl::detail {

inline void md5_digest(std::string_view bytes, unsigned char* out16) noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  MD5(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out16);
#pragma GCC diagnostic pop
}

}  // namespace rill::kpl::detail
