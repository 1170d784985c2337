// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Encryption at rest: the key provider, rill's stand-in for AWS KMS.
//
// A stream under StartStreamEncryption {EncryptionType KMS, KeyId} has the
// batches written to its shards sealed with AES-256-GCM under the 32-byte data
// key that the host's `key_provider` gives for the KeyId. The provider is where
// a host plugs in its key store (a KMS client, a vault, a file of keys); rill
// asks it for the key of every batch it seals or opens, so disabling or
// revoking a key takes effect at once (a provider that calls a remote service
// should cache).
//
// Errors a provider returns are the KMS exception names, and they reach the
// caller of put_record / put_records / get_records / start_stream_encryption
// unchanged: KMSNotFoundException (no such key), KMSDisabledException,
// KMSAccessDeniedException, KMSInvalidStateException (e.g. pending deletion),
// KMSOptInRequired, KMSThrottlingException.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "rill/error.hpp"

namespace rill {

/// Gives data keys by KeyId.
///
/// Thread safety: implementations must allow concurrent calls from any thread.
class key_provider {
 public:
  virtual ~key_provider() = default;
  /// The 32-byte AES-256 key for `key_id` (a key ARN, alias ARN, GUID or
  /// "alias/…"). Errors: the KMS exception names above.
  [[nodiscard]] virtual result<std::string> data_key(std::string_view key_id) = 0;
};

/// A key provider for tests and demos: keys are derived from a secret and the
/// KeyId (SHA-256(secret ‖ 0 ‖ key_id)), so two providers made with the same
/// secret (say, before and after a restart) give the same keys. Only KeyIds
/// that were added exist; "alias/aws/kinesis" (the AWS-managed key) exists from
/// the start. Keys can be disabled, denied or put in another state to test the
/// error paths.
///
/// Thread safety: every method may be called from any thread.
class test_key_provider final : public key_provider {
 public:
  enum class key_state { enabled, disabled, access_denied, pending_deletion };

  explicit test_key_provider(std::string secret = "rill-test-key-provider");

  /// Adds (or re-enables) a key.
  void add_key(const std::string& key_id);
  /// Changes a key's state (adding it if missing).
  void set_state(const std::string& key_id, key_state state);
  /// Removes a key: later requests get KMSNotFoundException.
  void remove_key(const std::string& key_id);
  /// How many data_key() calls were made.
  [[nodiscard]] std::uint64_t calls() const;

  result<std::string> data_key(std::string_view key_id) override;

 private:
  std::string secret_;
  mutable std::mutex mu_;
  std::map<std::string, key_state, std::less<>> keys_;
  std::uint64_t calls_ = 0;
};

}  // namespace rill
