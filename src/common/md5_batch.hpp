// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// MD5 of many short messages at once (internal). Partition keys are short (one
// or two 64-byte blocks), and MD5 is a chain of 64 dependent steps per block, so
// one key at a time leaves most of a core idle. Here each SIMD lane hashes its
// own key: 16 keys side by side with AVX-512, 8 with AVX2, one with the
// portable scalar code. A lane that finishes its key (keys may differ in length,
// any length is fine) takes the next key of the batch, so mixed lengths waste
// only the lanes left idle at the very end of the batch.
//
// The path is picked once at run time from the CPU (`__builtin_cpu_supports`);
// the vector code is compiled with target attributes, so the library still runs
// on a CPU without AVX2 or AVX-512.
//
// Thread safety: every function is reentrant and may be called from any number
// of threads at once; the only shared state is the path picked at first use.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "rill/types.hpp"

namespace rill::detail {

/// The code that hashes a batch.
enum class md5_path : std::uint8_t {
  scalar,  ///< portable C++, one key at a time
  avx2,    ///< 8 lanes of 32 bits
  avx512,  ///< 16 lanes of 32 bits (AVX-512F)
};

/// "scalar", "avx2" or "avx512".
std::string_view to_string(md5_path path) noexcept;

/// Whether this CPU (and the OS, which must save the vector registers) runs `path`.
bool md5_path_supported(md5_path path) noexcept;

/// The widest supported path, picked once.
md5_path md5_best_path() noexcept;

/// Caps the path that the calls without an explicit path use (md5_batch(keys,
/// out), md5_hash_keys(keys, out), md5_hash_keys_of), process-wide; nullopt
/// restores md5_best_path(). For benchmarks that compare the paths through the
/// engine; an unsupported path falls back to the best one.
void md5_use_path(std::optional<md5_path> path) noexcept;

/// The path those calls use now.
md5_path md5_current_path() noexcept;

/// A 16-byte MD5 digest, in the byte order RFC 1321 prints it.
using md5_digest = std::array<unsigned char, 16>;

/// out[i] = MD5(keys[i]) for every i < keys.size(); `out` must be at least as
/// long. `path` forces the code used (tests, benchmarks); an unsupported path
/// falls back to md5_best_path(), never to an illegal instruction.
void md5_batch(std::span<const std::string_view> keys, md5_digest* out, md5_path path) noexcept;
void md5_batch(std::span<const std::string_view> keys, md5_digest* out) noexcept;

/// out[i] = the hash key of keys[i] (its MD5 read as a big-endian 128-bit
/// integer, as md5_hash_key computes it), on the best path.
void md5_hash_keys(std::span<const std::string_view> keys, hash_key* out) noexcept;
void md5_hash_keys(std::span<const std::string_view> keys, hash_key* out, md5_path path) noexcept;

/// The hash key of one key, with the portable code (one key fills no lanes);
/// a key of at most 55 bytes is padded into one block on the stack.
hash_key md5_hash_key_one(std::string_view key) noexcept;

/// out[i] = the hash key of key_of(i) for i < n, without the caller building an
/// array of views: keys are gathered in chunks on the stack.
template <class KeyOf>
void md5_hash_keys_of(std::size_t n, KeyOf&& key_of, hash_key* out) {
  constexpr std::size_t kChunk = 64;
  std::array<std::string_view, kChunk> chunk;
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t m = n - i < kChunk ? n - i : kChunk;
    for (std::size_t j = 0; j < m; ++j) chunk[j] = key_of(i + j);
    md5_hash_keys(std::span<const std::string_view>(chunk.data(), m), out + i);
  }
}

}  // namespace rill::detail
