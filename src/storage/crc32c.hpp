// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI, ext4 and
// LevelDB use it. The SSE4.2 `crc32` instruction computes it where the CPU has
// it (checked once at run time); elsewhere a table-driven loop (slicing by 8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rill::crc32c {

/// Extends `crc` (the CRC of earlier bytes, 0 to start) with `n` bytes.
std::uint32_t extend(std::uint32_t crc, const void* data, std::size_t n) noexcept;
inline std::uint32_t value(std::string_view s) noexcept { return extend(0, s.data(), s.size()); }

/// The two implementations, for tests that cross-check them.
std::uint32_t extend_portable(std::uint32_t crc, const void* data, std::size_t n) noexcept;
/// Same as extend_portable when the CPU lacks SSE4.2.
std::uint32_t extend_hardware(std::uint32_t crc, const void* data, std::size_t n) noexcept;
/// Whether extend() uses the instruction.
bool hardware_available() noexcept;

}  // namespace rill::crc32c
