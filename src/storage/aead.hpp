// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// AES-256-GCM through OpenSSL EVP: seal and open one batch.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace rill::aead {

constexpr std::size_t kKeyBytes = 32;
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;

/// Fills `n` bytes with fresh nonce material (96-bit random per batch from
/// OpenSSL's CSPRNG). Returns false if the generator failed.
bool random_nonce(unsigned char* out, std::size_t n = kNonceBytes);

/// Encrypts `plain` into `out` (same length) and writes the tag. Returns false
/// on an OpenSSL failure.
bool seal(std::string_view key, const unsigned char* nonce, std::string_view aad, std::string_view plain, char* out,
          unsigned char* tag);

/// Decrypts `cipher` into `out` (same length); false if the tag does not verify.
bool open(std::string_view key, const unsigned char* nonce, std::string_view aad, std::string_view cipher, char* out,
          const unsigned char* tag);

}  // namespace rill::aead
