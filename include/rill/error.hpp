// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Errors are values. Every rill operation returns a `result<T>` that holds either
// the operation's output or an `error`; the error carries the Kinesis exception
// name (`error::name()`, e.g. "ResourceNotFoundException") and a message written
// the way AWS writes it. Results are `[[nodiscard]]`, so an ignored failure is a
// compiler warning.
//
// Exceptions are used only for broken invariants: asking a failed result for its
// value, or a successful result for its error, throws `bad_result_access` (a
// std::logic_error), in every build mode, for result<T> and result<void> alike.
//
// Thread safety: these are plain value types; distinct objects may be used from
// distinct threads, one object must not be mutated concurrently.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace rill {

/// The Kinesis exception names, as `__type` carries them on the wire.
enum class error_code : std::uint8_t {
  /// The stream, shard or consumer does not exist (or is not visible in its state).
  resource_not_found_exception,
  /// The resource is not in a state that allows the operation, or already exists.
  resource_in_use_exception,
  /// The request is well formed but semantically invalid.
  invalid_argument_exception,
  /// A control-plane quota or rate was exceeded (shard quota, TPS, scalings per day).
  limit_exceeded_exception,
  /// A shard iterator is older than 300 s.
  expired_iterator_exception,
  /// A ListShards / ListStreams pagination token is older than 300 s.
  expired_next_token_exception,
  /// The request fails a model constraint (length, pattern, range, enum, required member).
  validation_exception,
  /// A data-plane rate limit was exceeded (per shard write or read throughput).
  provisioned_throughput_exceeded_exception,
  /// A server-side failure (in rill: an injected fault, or a storage failure).
  internal_failure,
  /// Encryption at rest (KMS): the key is disabled.
  kms_disabled_exception,
  /// The key is not in a state that allows the request.
  kms_invalid_state_exception,
  /// The caller may not use the key.
  kms_access_denied_exception,
  /// The key does not exist.
  kms_not_found_exception,
  /// The account is not subscribed to KMS.
  kms_opt_in_required,
  /// The key provider throttled the request.
  kms_throttling_exception,
  /// The caller is not authorized (resource policies, signature verification).
  access_denied_exception,
  /// Firehose: the operation does not fit the delivery stream's source (e.g.
  /// PutRecord on a stream whose source is a Kinesis stream).
  invalid_source_exception,
  /// Firehose: the service (a destination) is unavailable; retry.
  service_unavailable_exception,
  /// Firehose: a concurrent change of the same resource.
  concurrent_modification_exception,
  /// Firehose: the KMS key given for the delivery stream cannot be used.
  invalid_kms_resource_exception,
  /// KCL: the record processor no longer holds its shard's lease (lost, stolen
  /// or handed off), so it may not checkpoint.
  shutdown_exception,
};

/// The exception name, e.g. "ResourceNotFoundException".
std::string_view to_string(error_code code) noexcept;
/// The inverse of to_string; nullopt for an unknown name.
std::optional<error_code> error_code_from_string(std::string_view name) noexcept;
std::ostream& operator<<(std::ostream& out, error_code code);

/// One failure: a Kinesis exception name and a human-readable message.
class error {
 public:
  error(error_code code, std::string message) : code_(code), message_(std::move(message)) {}

  [[nodiscard]] error_code code() const noexcept { return code_; }
  /// The Kinesis exception name, e.g. "InvalidArgumentException".
  [[nodiscard]] std::string_view name() const noexcept { return rill::to_string(code_); }
  /// The message in the AWS form (may be empty, as for InternalFailure).
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  /// "Name: message", for logs.
  [[nodiscard]] std::string to_string() const;

  friend bool operator==(const error&, const error&) = default;

 private:
  error_code code_;
  std::string message_;
};

std::ostream& operator<<(std::ostream& out, const error& e);

/// Thrown when the value of a failed result, or the error of a successful one,
/// is read: a programming error (check `ok()` first).
class bad_result_access : public std::logic_error {
 public:
  /// value() of a failed result; what() names the error.
  explicit bad_result_access(const error& e);
  /// error() of a successful result.
  bad_result_access();
};

/// Either a T or an error. Cheap to move; check `ok()` before `value()`.
template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;

  result(T value) : state_(std::in_place_index<0>, std::move(value)) {}    // NOLINT(implicit)
  result(rill::error e) : state_(std::in_place_index<1>, std::move(e)) {}  // NOLINT(implicit)

  [[nodiscard]] bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  /// The value. Throws bad_result_access if this holds an error.
  T& value() & {
    check();
    return std::get<0>(state_);
  }
  const T& value() const& {
    check();
    return std::get<0>(state_);
  }
  T&& value() && {
    check();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The error. Throws bad_result_access if this holds a value (never a made-up error).
  [[nodiscard]] const rill::error& error() const& {
    if (ok()) throw bad_result_access();
    return std::get<1>(state_);
  }
  /// The error code, or nullopt on success.
  [[nodiscard]] std::optional<rill::error_code> code() const noexcept {
    if (ok()) return std::nullopt;
    return std::get<1>(state_).code();
  }

 private:
  void check() const {
    if (!ok()) throw bad_result_access(std::get<1>(state_));
  }
  std::variant<T, rill::error> state_;
};

/// A result with no value: success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;

  result() = default;
  result(rill::error e) : error_(std::move(e)) {}  // NOLINT(implicit)

  [[nodiscard]] bool ok() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// Throws bad_result_access if this holds an error.
  void value() const {
    if (error_) throw bad_result_access(*error_);
  }
  /// The error. Throws bad_result_access on success (never a made-up error).
  [[nodiscard]] const rill::error& error() const& {
    if (!error_) throw bad_result_access();
    return *error_;
  }
  [[nodiscard]] std::optional<rill::error_code> code() const noexcept {
    if (ok()) return std::nullopt;
    return error_->code();
  }

 private:
  std::optional<rill::error> error_;
};

}  // namespace rill
