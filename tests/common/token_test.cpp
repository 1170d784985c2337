// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// token_codec: its tags are HMAC-SHA256 as OpenSSL's one-shot HMAC() computes
// it (tokens keep their format byte for byte), and a seeded mutation test:
// no altered token opens, and no input crashes the parser.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>
#include <string>
#include <vector>

#include "common/token.hpp"
#include "seed.hpp"

namespace rill::detail {
namespace {

std::string reference_base64url(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// The token format: base64url(payload || first 16 bytes of HMAC-SHA256(key, payload)), no padding.
std::string reference_seal(const std::string& key, const std::string& payload) {
  unsigned char mac[32];
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(payload.data()),
       payload.size(), mac, &len);
  return reference_base64url(payload + std::string(reinterpret_cast<const char*>(mac), 16));
}

std::string random_bytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST(TokenCodec, TagsAreHmacSha256ForEveryKeyAndPayloadLength) {
  std::mt19937_64 rng(rill::testing::test_seed(0x70c3));
  // Key lengths around the SHA-256 block (64): shorter keys are padded, longer ones hashed first.
  for (std::size_t key_len : {1, 16, 32, 63, 64, 65, 100, 200}) {
    const std::string key = random_bytes(rng, key_len);
    const token_codec codec(key);
    for (std::size_t n = 0; n <= 150; ++n) {
      const std::string payload = random_bytes(rng, n);
      const std::string token = codec.seal(payload);
      ASSERT_EQ(token, reference_seal(key, payload)) << "key of " << key_len << " B, payload of " << n << " B";
      auto opened = codec.open(token);
      ASSERT_TRUE(opened) << "key of " << key_len << " B, payload of " << n << " B";
      ASSERT_EQ(*opened, payload);
    }
  }
}

TEST(TokenCodec, OtherKeysDoNotOpen) {
  const token_codec a("key a");
  const token_codec b("key b");
  const token_codec random1("");
  const token_codec random2("");
  const std::string payload = "a payload";
  EXPECT_FALSE(b.open(a.seal(payload)));
  EXPECT_FALSE(random2.open(random1.seal(payload)));
  EXPECT_TRUE(random1.open(random1.seal(payload)));
}

// Base64 is canonical: the unused low bits of the last character must be zero,
// else two texts would open to the same payload.
TEST(TokenCodec, NonCanonicalBase64IsRefused) {
  const token_codec codec("canonical key");
  int checked = 0;
  for (std::size_t n = 0; n < 6; ++n) {
    const std::string token = codec.seal(std::string(n, 'p'));
    const std::size_t spare_bits = token.size() % 4 == 2 ? 4 : token.size() % 4 == 3 ? 2 : 0;
    if (spare_bits == 0) continue;
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const std::size_t last = kAlphabet.find(token.back());
    ASSERT_NE(last, std::string_view::npos);
    for (std::size_t bit = 0; bit < spare_bits; ++bit) {
      std::string m = token;
      m.back() = kAlphabet[last ^ (std::size_t{1} << bit)];
      EXPECT_FALSE(codec.open(m)) << m;
      ++checked;
    }
    EXPECT_TRUE(codec.open(token));
  }
  EXPECT_GT(checked, 0);
}

// Seeded mutations of valid tokens: a token that differs from the sealed one
// never opens (the tag covers every payload byte; base64 is canonical), and
// random strings, truncations and extensions are refused without a crash.
TEST(TokenCodec, MutatedTokensAreRefused) {
  std::mt19937_64 rng(rill::testing::test_seed(0x70c4));
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .";
  const token_codec codec("mutation key");
  int refused = 0;
  for (int round = 0; round < 3000; ++round) {
    const std::string payload = random_bytes(rng, rng() % 80);
    const std::string token = codec.seal(payload);
    std::string m = token;
    switch (rng() % 5) {
      case 0:  // replace one character
        m[rng() % m.size()] = kAlphabet[rng() % (sizeof kAlphabet - 1)];
        break;
      case 1:  // drop a suffix
        m.resize(rng() % m.size());
        break;
      case 2:  // append characters
        for (std::size_t i = 1 + rng() % 4; i > 0; --i) m.push_back(kAlphabet[rng() % 64]);
        break;
      case 3:  // swap two characters
        std::swap(m[rng() % m.size()], m[rng() % m.size()]);
        break;
      default:  // garbage of any length
        m = random_bytes(rng, rng() % 120);
        break;
    }
    auto opened = codec.open(m);
    if (m == token) {
      ASSERT_TRUE(opened);
      EXPECT_EQ(*opened, payload);
    } else {
      ASSERT_FALSE(opened) << "round " << round << ": an altered token opened";
      ++refused;
    }
  }
  EXPECT_GT(refused, 2500);
}

}  // namespace
}  // namespace rill::detail
