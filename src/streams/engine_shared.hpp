// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Helpers the engine's control-plane files share (validation of names and
// tags, AWS's renderings of maps and lists, the uniform shard layout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/error.hpp"
#include "rill/types.hpp"
#include "streams/messages.hpp"

namespace rill::detail {

/// MaxRecordSizeInKiB: the default, and the model's range.
inline constexpr std::int32_t kDefaultMaxRecordKiB = 1024;
inline constexpr std::int32_t kMaxMaxRecordKiB = 10240;
/// The model's range of MaxRecordSizeInKiB, as "maxRecordSizeInKiB". (engine_lifecycle.cpp)
inline void validate_max_record_kib(validation& v, std::int32_t kib) {
  if (kib < kDefaultMaxRecordKiB) v.value_at_least(kib, "maxRecordSizeInKiB", kDefaultMaxRecordKiB);
  if (kib > kMaxMaxRecordKiB) v.value_at_most(kib, "maxRecordSizeInKiB", kMaxMaxRecordKiB);
}
/// The reserved StreamId: pattern [a-z0-9]{20}-[a-z0-9]{3}, length 1..24. (engine_tags.cpp)
void validate_stream_id(validation& v, const std::optional<std::string>& id);

/// Tags a stream may carry.
inline constexpr std::size_t kMaxTagsPerStream = 50;

/// Validates a stream name (length 1..128, AWS's pattern) into `v`. (engine.cpp)
void validate_stream_name(validation& v, std::string_view name, std::string_view member);
/// Validates a shard id given as input (length 1..128, AWS's pattern). (engine.cpp)
void validate_shard_id_input(validation& v, std::string_view id, std::string_view member);
/// A map and a list as AWS prints them in validation messages. (engine.cpp)
std::string map_repr(const std::map<std::string, std::string>& m);
std::string list_repr(const std::vector<std::string>& keys);

/// Checks tag keys and values (lengths, characters); `verb` is "add" or
/// "remove". (engine_tags.cpp)
std::optional<error> validate_tag_map(const std::map<std::string, std::string>& tags, std::string_view verb, where w);
/// The error for a stream that would carry more than kMaxTagsPerStream tags. (engine_tags.cpp)
error too_many_tags(where w);

/// The ARN partition of a region: "aws-cn" for cn-*, "aws-us-gov" for
/// us-gov-*, the ISO partitions, else "aws". (engine.cpp)
std::string_view partition_of(std::string_view region);

/// AWS's enum value sets, for validation::enum_value.
inline constexpr std::string_view kStreamModeSet = "PROVISIONED, ON_DEMAND";
inline constexpr std::string_view kShardIteratorTypeSet =
    "AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP";
inline constexpr std::string_view kShardFilterTypeSet =
    "AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP";
inline constexpr std::string_view kScalingTypeSet = "UNIFORM_SCALING";

/// The uniform layout of n shards: shard i starts at floor(2^128 / n) * i. (engine_resharding.cpp)
std::vector<hash_key> uniform_starts(std::uint32_t n);

}  // namespace rill::detail
