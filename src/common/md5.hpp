// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Partition-key hashing. OpenSSL's one-shot MD5() is the cheapest MD5 entry
// point in OpenSSL 3 (see docs/performance.md); it is deprecated there, so the
// one call that uses it is kept here with the warning silenced.
#pragma once

#include <string_view>

#include "rill/types.hpp"

namespace rill::detail {

/// MD5 of `bytes` read as a big-endian unsigned 128-bit integer.
hash_key md5_hash_key(std::string_view bytes) noexcept;

}  // namespace rill::detail
