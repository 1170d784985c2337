// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "rill/error.hpp"

#include <array>

namespace rill {
namespace {

// In the order of error_code.
constexpr std::array<std::string_view, 21> kNames = {
    "ResourceNotFoundException",
    "ResourceInUseException",
    "InvalidArgumentException",
    "LimitExceededException",
    "ExpiredIteratorException",
    "ExpiredNextTokenException",
    "ValidationException",
    "ProvisionedThroughputExceededException",
    "InternalFailure",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSAccessDeniedException",
    "KMSNotFoundException",
    "KMSOptInRequired",
    "KMSThrottlingException",
    "AccessDeniedException",
    "InvalidSourceException",
    "ServiceUnavailableException",
    "ConcurrentModificationException",
    "InvalidKMSResourceException",
    "ShutdownException",
};
static_assert(kNames.size() == static_cast<std::size_t>(error_code::shutdown_exception) + 1);

}  // namespace

std::string_view to_string(error_code code) noexcept {
  auto i = static_cast<std::size_t>(code);
  return i < kNames.size() ? kNames[i] : std::string_view("UnknownError");
}

std::optional<error_code> error_code_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<error_code>(i);
  }
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& out, error_code code) { return out << to_string(code); }

std::string error::to_string() const {
  std::string s(name());
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

std::ostream& operator<<(std::ostream& out, const error& e) { return out << e.to_string(); }

bad_result_access::bad_result_access(const error& e)
    : std::logic_error("value() of a failed rill::result: " + e.to_string()) {}

bad_result_access::bad_result_access() : std::logic_error("error() of a successful rill::result") {}

}  // namespace rill
