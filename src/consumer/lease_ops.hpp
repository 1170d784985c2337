// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The conditions and updates of the lease table, shared by every store: each
// store reads the current item, calls one of these, and writes the result
// atomically with respect to other writers.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "rill/lease.hpp"

namespace rill::kcl::detail {

/// One conditional write. `current` is the stored item (nullopt: absent).
/// Returns the item to store, or nullopt when the condition fails.
enum class op_kind : std::uint8_t { renew, take, initiate_handoff, evict, update };

std::optional<lease> apply(op_kind kind, const std::optional<lease>& current, const lease& local, std::string_view who);

/// The lease as JSON with the DynamoDB attribute names.
std::string to_json(const lease& l);
/// Parses to_json's output; nullopt if malformed.
std::optional<lease> from_json(std::string_view text);

}  // namespace rill::kcl::detail
