// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "streams/messages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace rill::detail {

void validation::add(std::string text) {
  if (errors_.size() < 10) errors_.push_back(std::move(text));
}

void validation::fail(std::string_view value, std::string_view member, std::string_view constraint) {
  add(fmt::format("Value '{}' at '{}' failed to satisfy constraint: {}", value, member, constraint));
}

void validation::enum_value(unsigned value, std::string_view member, std::string_view set) {
  fail(std::to_string(value), member, fmt::format("Member must satisfy enum value set: [{}]", set));
}

void validation::fail_null(std::string_view member) {
  add(fmt::format("Value null at '{}' failed to satisfy constraint: Member must not be null", member));
}

void validation::fail_blob(std::size_t size, std::string_view member, std::string_view constraint) {
  fail(fmt::format("java.nio.HeapByteBuffer[pos=0 lim={0} cap={0}]", size), member, constraint);
}

void validation::length_at_least(std::string_view value, std::string_view member, std::size_t n) {
  fail(value, member, fmt::format("Member must have length greater than or equal to {}", n));
}

void validation::length_at_most(std::string_view value, std::string_view member, std::size_t n) {
  fail(value, member, fmt::format("Member must have length less than or equal to {}", n));
}

void validation::value_at_least(long long value, std::string_view member, long long n) {
  fail(std::to_string(value), member, fmt::format("Member must have value greater than or equal to {}", n));
}

void validation::value_at_most(long long value, std::string_view member, long long n) {
  fail(std::to_string(value), member, fmt::format("Member must have value less than or equal to {}", n));
}

void validation::pattern(std::string_view value, std::string_view member, std::string_view re) {
  fail(value, member, fmt::format("Member must satisfy regular expression pattern: {}", re));
}

rill::error validation::error() const {
  const std::size_t count = errors_.size();
  std::string msg = fmt::format("{} validation error{} detected: ", count, count == 1 ? "" : "s");
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) msg += "; ";
    msg += errors_[i];
  }
  return {error_code::validation_exception, std::move(msg)};
}

rill::error stream_not_found(where w) {
  return {error_code::resource_not_found_exception,
          fmt::format("Stream {} under account {} not found.", w.stream, w.account)};
}

rill::error stream_in_use_exists(where w) {
  return {error_code::resource_in_use_exception,
          fmt::format("Stream {} under account {} already exists.", w.stream, w.account)};
}

rill::error stream_not_active(where w, stream_status s) {
  return {error_code::resource_in_use_exception,
          fmt::format("Stream {} under account {} not ACTIVE, instead in state {}", w.stream, w.account, to_string(s))};
}

rill::error shard_does_not_exist(where w, shard_id id) {
  return {error_code::resource_not_found_exception,
          fmt::format("Shard {} in stream {} under account {} does not exist", id.to_string(), w.stream, w.account)};
}

rill::error shard_not_found(where w, std::string_view input) {
  return {error_code::resource_not_found_exception,
          fmt::format("Could not find shard {} in stream {} under account {}.", input, w.stream, w.account)};
}

rill::error shard_limit_exceeded(std::string_view account, std::string_view region, long long current, long long limit,
                                 long long additional) {
  return {error_code::limit_exceeded_exception,
          fmt::format("This request would exceed the shard limit for the account {} in {}. Current shard count for "
                      "the account: {}. Limit: {}. Number of additional shards that would have resulted from this "
                      "request: {}. Refer to the AWS Service Limits page "
                      "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for current limits and "
                      "how to request higher limits.",
                      account, region, current, limit, additional)};
}

rill::error invalid_argument(std::string message) {
  return {error_code::invalid_argument_exception, std::move(message)};
}

rill::error internal_failure(std::string message) { return {error_code::internal_failure, std::move(message)}; }

std::string format_utc(timestamp t, const char* format) {
  std::time_t secs = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

bool is_name_chars(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_decimal(std::string_view s, std::size_t max_digits) noexcept {
  if (s.empty() || s.size() > max_digits || (s.size() > 1 && s[0] == '0')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

long long utf16_length(std::string_view s) noexcept {
  long long units = 0;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      ++units;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > n) return -1;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return -1;
    }
    units += cp >= 0x10000 ? 2 : 1;
    i += len;
  }
  return units;
}

}  // namespace rill::detail
