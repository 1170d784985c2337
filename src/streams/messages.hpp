// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Error texts in the form AWS writes them (see docs/semantics.md for the
// sources and for the few texts rill had to write itself). Everything that
// builds an error message goes through here, so the wording lives in one place.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"
#include "rill/types.hpp"

namespace rill::detail {

/// Collects model-constraint violations into one ValidationException:
/// "2 validation errors detected: Value 'x' at 'member' failed to satisfy
/// constraint: Member must …; Value …" (at most 10 listed, as AWS does).
/// AWS checks every member and lists the failures in the order of the
/// operation's model (not alphabetical: MergeShards lists shardToMerge,
/// adjacentShardToMerge, then streamName); within a member, the pattern, then
/// length at least, then length at most. Callers add members in that order;
/// the stream name (validate_ref) comes last, as in every operation AWS
/// answers. The count is the number listed: at most 10.
class validation {
 public:
  /// `value` is printed in quotes; use `null_value()` for a missing member.
  void fail(std::string_view value, std::string_view member, std::string_view constraint);
  void fail_null(std::string_view member);
  /// A blob member: AWS prints its Java buffer, not its bytes.
  void fail_blob(std::size_t size, std::string_view member, std::string_view constraint);

  void length_at_least(std::string_view value, std::string_view member, std::size_t n);
  void length_at_most(std::string_view value, std::string_view member, std::size_t n);
  void value_at_least(long long value, std::string_view member, long long n);
  void value_at_most(long long value, std::string_view member, long long n);
  void pattern(std::string_view value, std::string_view member, std::string_view re);
  /// An enum member whose value is none of its enumerators: AWS's
  /// "Member must satisfy enum value set: [<set>]", the value printed as a number.
  void enum_value(unsigned value, std::string_view member, std::string_view set);

  [[nodiscard]] bool ok() const noexcept { return errors_.empty(); }
  [[nodiscard]] rill::error error() const;

 private:
  void add(std::string text);
  std::vector<std::string> errors_;
};

/// Context for messages that name the stream and account.
struct where {
  std::string_view stream;
  std::string_view account;
};

rill::error stream_not_found(where w);                    // RNF "Stream S under account A not found."
rill::error stream_in_use_exists(where w);                // RIU "... already exists."
rill::error stream_not_active(where w, stream_status s);  // RIU "... not ACTIVE, instead in state X"
rill::error shard_does_not_exist(where w, shard_id id);   // RNF "Shard X in stream S under account A does not exist"
rill::error shard_not_found(where w,
                            std::string_view input);  // RNF "Could not find shard X in stream S under account A."
rill::error shard_limit_exceeded(std::string_view account, std::string_view region, long long current, long long limit,
                                 long long additional);
rill::error invalid_argument(std::string message);
rill::error internal_failure(std::string message = {});

/// `t` in UTC through strftime's `format`.
std::string format_utc(timestamp t, const char* format);
/// Java Date.toString() style, in UTC: "Thu Jan 22 01:22:02 UTC 2015".
inline std::string java_date(timestamp t) { return format_utc(t, "%a %b %d %H:%M:%S UTC %Y"); }
/// ISO 8601 in UTC, to the second: "2024-01-01T00:00:00Z".
inline std::string iso8601(timestamp t) { return format_utc(t, "%Y-%m-%dT%H:%M:%SZ"); }

/// Pattern texts, as AWS prints them.
inline constexpr std::string_view kStreamNamePattern = "[a-zA-Z0-9_.-]+";
inline constexpr std::string_view kHashKeyPattern = "0|([1-9]\\d{0,38})";
inline constexpr std::string_view kSequenceNumberPattern = "0|([1-9]\\d{0,128})";
inline constexpr std::string_view kShardIdPattern = "[a-zA-Z0-9_.-]+";
inline constexpr std::string_view kStreamArnPattern = "arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+";

/// True if `s` matches kStreamNamePattern fully.
bool is_name_chars(std::string_view s) noexcept;

/// True if `s` matches `0|([1-9]\d{0,max_digits-1})`.
bool is_decimal(std::string_view s, std::size_t max_digits) noexcept;

/// UTF-16 code units in UTF-8 text (how AWS counts a string's length), or -1
/// if the text is not valid UTF-8.
long long utf16_length(std::string_view utf8) noexcept;

}  // namespace rill::detail
