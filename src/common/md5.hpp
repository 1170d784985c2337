// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Partition-key hashing, one key at a time (put_record, hash_key::of_partition_key).
// Batches of keys (put_records) go through md5_batch.hpp, which hashes them side
// by side in SIMD lanes. One key fills no lanes: it is padded into one block on
// the stack and hashed by the portable code, about 10 % faster than OpenSSL's
// one-shot MD5() for short keys (BM_Md5One against BM_Md5Bound).
#pragma once

#include <string_view>

#include "rill/types.hpp"

namespace rill::detail {

/// MD5 of `bytes` read as a big-endian unsigned 128-bit integer.
hash_key md5_hash_key(std::string_view bytes) noexcept;

}  // namespace rill::detail
