// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Objects and checkpoints reach the disk through rill's one file-system
// interface (include/rill/file_system.hpp, the LevelDB Env model). This is the
// delivery component's atomic write on top of it.
#pragma once

#include <string>
#include <string_view>

#include "rill/error.hpp"
#include "rill/file_system.hpp"

namespace rill::delivery {

/// Writes `bytes` to `path` so that a reader sees all of it or nothing, and it
/// survives a crash once this returns: creates the parent directories, writes a
/// hidden temporary file beside `path` (".<name>.tmp-N"), syncs it, renames it
/// over `path`, syncs the directory. On failure the temporary file is removed
/// (best effort), so a failed attempt leaves nothing that looks like an object.
result<void> write_file_atomically(file_system& fs, const std::string& path, std::string_view bytes);

}  // namespace rill::delivery
