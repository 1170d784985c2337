// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <climits>
#include <memory>

#include "rill/encryption.hpp"
#include "storage/aead.hpp"

namespace rill {

namespace aead {
namespace {
struct ctx_free {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, ctx_free>;

bool fits_int(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }
}  // namespace

bool random_nonce(unsigned char* out, std::size_t n) { return RAND_bytes(out, static_cast<int>(n)) == 1; }

bool seal(std::string_view key, const unsigned char* nonce, std::string_view aad, std::string_view plain, char* out,
          unsigned char* tag) {
  if (key.size() != kKeyBytes || !fits_int(plain.size()) || !fits_int(aad.size())) return false;
  ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  int len = 0;
  auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, nonce) != 1) return false;
  if (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return false;
  if (!plain.empty() &&
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out), &len,
                        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) != 1)
    return false;
  if (EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out) + plain.size(), &len) != 1) return false;
  return EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag) == 1;
}

bool open(std::string_view key, const unsigned char* nonce, std::string_view aad, std::string_view cipher, char* out,
          const unsigned char* tag) {
  if (key.size() != kKeyBytes || !fits_int(cipher.size()) || !fits_int(aad.size())) return false;
  ctx_ptr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return false;
  int len = 0;
  auto* k = reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, nonce) != 1) return false;
  if (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                                        static_cast<int>(aad.size())) != 1)
    return false;
  if (!cipher.empty() &&
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out), &len,
                        reinterpret_cast<const unsigned char*>(cipher.data()), static_cast<int>(cipher.size())) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes),
                          const_cast<unsigned char*>(tag)) != 1)
    return false;
  return EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out) + cipher.size(), &len) == 1;
}

}  // namespace aead

test_key_provider::test_key_provider(std::string secret) : secret_(std::move(secret)) {
  keys_["alias/aws/kinesis"] = key_state::enabled;
}

void test_key_provider::add_key(const std::string& key_id) { set_state(key_id, key_state::enabled); }

void test_key_provider::set_state(const std::string& key_id, key_state state) {
  std::lock_guard lock(mu_);
  keys_[key_id] = state;
}

void test_key_provider::remove_key(const std::string& key_id) {
  std::lock_guard lock(mu_);
  keys_.erase(key_id);
}

std::uint64_t test_key_provider::calls() const {
  std::lock_guard lock(mu_);
  return calls_;
}

result<std::string> test_key_provider::data_key(std::string_view key_id) {
  {
    std::lock_guard lock(mu_);
    ++calls_;
    auto it = keys_.find(key_id);
    if (it == keys_.end()) {
      return error(error_code::kms_not_found_exception, "Key '" + std::string(key_id) + "' does not exist");
    }
    switch (it->second) {
      case key_state::enabled: break;
      case key_state::disabled:
        return error(error_code::kms_disabled_exception, "Key '" + std::string(key_id) + "' is disabled.");
      case key_state::access_denied:
        return error(error_code::kms_access_denied_exception,
                     "The ciphertext refers to a customer master key that does not exist, does not exist in this "
                     "region, or you are not allowed to access.");
      case key_state::pending_deletion:
        return error(error_code::kms_invalid_state_exception, "Key '" + std::string(key_id) + "' is pending deletion.");
    }
  }
  std::string input = secret_;
  input.push_back('\0');
  input.append(key_id);
  std::string key(aead::kKeyBytes, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         reinterpret_cast<unsigned char*>(key.data()));
  return key;
}

}  // namespace rill
