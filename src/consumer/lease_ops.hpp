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

/// The conditional writes (create and delete are unconditional on the item).
enum class op_kind : std::uint8_t { renew, take, initiate_handoff, evict, update };

/// One conditional write on the stored item `item`, in place: checks the
/// condition against `local` (the writer's copy) and `who`, and if it holds
/// applies the update and increments leaseCounter, returning true; else returns
/// false and leaves `item` untouched. Every store calls this one function
/// under its own atomicity (a mutex, a file lock), so they cannot disagree.
bool apply(op_kind kind, lease& item, const lease& local, std::string_view who);

/// The lease as JSON with the DynamoDB attribute names.
std::string to_json(const lease& l);
/// Parses to_json's output; nullopt if malformed.
std::optional<lease> from_json(std::string_view text);

}  // namespace rill::kcl::detail
