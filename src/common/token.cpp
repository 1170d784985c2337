// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "common/token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstring>
#include <stdexcept>

namespace rill::detail {
namespace {

constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// base64url of `in` into out[0 .. (n * 4 + 2) / 3), no padding.
void base64url_into(std::string_view in, char* out) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(in[k])); };
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
    *out++ = kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = byte(i) << 16;
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    *out++ = kAlphabet[(v >> 18) & 63];
    *out++ = kAlphabet[(v >> 12) & 63];
    *out++ = kAlphabet[(v >> 6) & 63];
  }
}

constexpr std::size_t base64url_length(std::size_t n) { return (n * 4 + 2) / 3; }

// The value of each base64url character; 0xFF for every other byte.
constexpr std::array<unsigned char, 256> kDecode = [] {
  std::array<unsigned char, 256> t{};
  t.fill(0xFF);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<unsigned char>(i);
  return t;
}();

// Decodes canonical unpadded base64url: false for any other character, a length
// of 4k + 1, or nonzero leftover bits.
bool unbase64url(std::string_view in, std::string& out) {
  if (in.size() % 4 == 1) return false;
  out.resize(in.size() / 4 * 3 + (in.size() % 4 == 0 ? 0 : in.size() % 4 - 1));
  char* o = out.data();
  auto value = [&](std::size_t k) { return static_cast<unsigned>(kDecode[static_cast<unsigned char>(in[k])]); };
  std::size_t i = 0;
  for (; i + 4 <= in.size(); i += 4) {
    const unsigned a = value(i), b = value(i + 1), c = value(i + 2), d = value(i + 3);
    if ((a | b | c | d) > 63) return false;
    const unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
    *o++ = static_cast<char>(v >> 16);
    *o++ = static_cast<char>((v >> 8) & 0xFF);
    *o++ = static_cast<char>(v & 0xFF);
  }
  const std::size_t rest = in.size() - i;
  if (rest == 2) {
    const unsigned a = value(i), b = value(i + 1);
    if ((a | b) > 63 || (b & 0x0F) != 0) return false;  // canonical: the leftover bits are zero
    *o++ = static_cast<char>((a << 2) | (b >> 4));
  } else if (rest == 3) {
    const unsigned a = value(i), b = value(i + 1), c = value(i + 2);
    if ((a | b | c) > 63 || (c & 0x03) != 0) return false;
    const unsigned v = (a << 12) | (b << 6) | c;
    *o++ = static_cast<char>(v >> 10);
    *o++ = static_cast<char>((v >> 2) & 0xFF);
  }
  return true;
}

}  // namespace

// The low-level SHA-256 calls are deprecated in OpenSSL 3, but they are the
// only ones that resume from a saved midstate without an allocation or a
// provider lookup per call (EVP_MAC_CTX_dup allocates; one-shot HMAC() fetches
// the digest and builds a context every time: about 1 us against 0.15 us).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace {

constexpr std::size_t kShaBlock = 64;

// A SHA-256 context that has absorbed exactly one block and ended with `h`.
SHA256_CTX resume(const std::uint32_t (&h)[8]) {
  SHA256_CTX c{};
  for (int i = 0; i < 8; ++i) c.h[i] = h[i];
  c.Nl = kShaBlock * 8;  // bits absorbed so far
  c.Nh = 0;
  c.num = 0;
  c.md_len = SHA256_DIGEST_LENGTH;
  return c;
}

void midstate(const unsigned char* key_block, unsigned char pad, std::uint32_t (&out)[8]) {
  unsigned char block[kShaBlock];
  for (std::size_t i = 0; i < kShaBlock; ++i) block[i] = static_cast<unsigned char>(key_block[i] ^ pad);
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, block, kShaBlock);
  for (int i = 0; i < 8; ++i) out[i] = c.h[i];
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(&c, sizeof c);
}

}  // namespace

token_codec::token_codec(std::string key) {
  if (key.empty()) {
    key.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
      throw std::runtime_error("rill: RAND_bytes failed to make a token key");
    }
  }
  // RFC 2104: a key longer than a block is replaced by its hash; then zero-padded.
  unsigned char key_block[kShaBlock] = {};
  if (key.size() > kShaBlock) {
    SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), key_block);
  } else {
    std::memcpy(key_block, key.data(), key.size());
  }
  midstate(key_block, 0x36, inner_);
  midstate(key_block, 0x5c, outer_);
  OPENSSL_cleanse(key_block, sizeof key_block);
  OPENSSL_cleanse(key.data(), key.size());
}

void token_codec::tag(std::string_view payload, unsigned char out[32]) const {
  unsigned char inner_digest[SHA256_DIGEST_LENGTH];
  SHA256_CTX c = resume(inner_);
  SHA256_Update(&c, payload.data(), payload.size());
  SHA256_Final(inner_digest, &c);
  c = resume(outer_);
  SHA256_Update(&c, inner_digest, sizeof inner_digest);
  SHA256_Final(out, &c);
}

#pragma GCC diagnostic pop

std::string token_codec::seal(std::string_view payload) const {
  std::array<unsigned char, 32> mac{};
  tag(payload, mac.data());
  // payload || tag, encoded straight into the result: one allocation.
  std::string raw_small;
  char stack[256];
  char* raw = stack;
  const std::size_t n = payload.size() + kTagBytes;
  if (n > sizeof stack) {
    raw_small.resize(n);
    raw = raw_small.data();
  }
  std::memcpy(raw, payload.data(), payload.size());
  std::memcpy(raw + payload.size(), mac.data(), kTagBytes);
  std::string out(base64url_length(n), '\0');
  base64url_into(std::string_view(raw, n), out.data());
  return out;
}

std::optional<std::string> token_codec::open(std::string_view token) const {
  std::string raw;
  if (!unbase64url(token, raw) || raw.size() < kTagBytes) return std::nullopt;
  const std::size_t n = raw.size() - kTagBytes;
  std::array<unsigned char, 32> mac{};
  tag(std::string_view(raw.data(), n), mac.data());
  if (CRYPTO_memcmp(mac.data(), raw.data() + n, kTagBytes) != 0) return std::nullopt;
  raw.resize(n);
  return raw;
}

}  // namespace rill::detail
