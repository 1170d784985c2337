// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "common/md5.hpp"

#include "common/md5_batch.hpp"

namespace rill::detail {

hash_key md5_hash_key(std::string_view bytes) noexcept { return md5_hash_key_one(bytes); }

}  // namespace rill::detail
