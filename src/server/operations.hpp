// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The operations served, one table entry each: decode the request members from
// the body tree, call `rill::kinesis`, encode the result tree.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rill/firehose.hpp"
#include "rill/kinesis.hpp"
#include "server/codec.hpp"
#include "server/event_pipe.hpp"

namespace rill::wire {

/// Reads members of a request structure, recording the first type error
/// (SerializationException) and every missing required member (ValidationException).
struct reader_state {
  std::optional<std::string> type_error;
  std::vector<std::string> validation;
  /// Owns decoded blobs (stable addresses) for the request's views.
  std::deque<std::string> blobs;
};

class reader {
 public:
  reader(const json& object, body_format format, reader_state& state) : obj_(&object), format_(format), st_(&state) {}

  std::optional<std::string> str(std::string_view key);
  std::optional<std::int32_t> i32(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<timestamp> time(std::string_view key);
  /// Decoded bytes, valid while this request is being served.
  std::optional<std::string_view> blob(std::string_view key);
  /// A nested structure, list or map (null when absent or mistyped).
  const json* structure(std::string_view key);
  const json* list(std::string_view key);
  const json* map(std::string_view key);
  /// A reader of a nested structure; `path` prefixes member names in messages.
  reader nested(const json& object, std::string path) const;

  /// Records "Value null at '<member>' ..." when `present` is false.
  void require(std::string_view key, bool present);
  /// Records an enum constraint failure.
  void bad_enum(std::string_view key, const std::string& value, std::string_view allowed);

  void type_error(std::string message);

  [[nodiscard]] bool failed() const { return st_->type_error.has_value() || !st_->validation.empty(); }
  /// The error to answer with: the type error first, then validation errors.
  [[nodiscard]] error to_error() const;
  [[nodiscard]] bool type_failed() const { return st_->type_error.has_value(); }
  [[nodiscard]] const std::string& type_message() const { return *st_->type_error; }
  [[nodiscard]] body_format format() const { return format_; }

 private:
  const json* get(std::string_view key);
  std::string member(std::string_view key) const;
  void validation(std::string text) { st_->validation.push_back(std::move(text)); }

  const json* obj_;
  body_format format_;
  reader_state* st_;
  std::string path_;
};

/// What an operation gives back: a tree (an object), a body already written in
/// the request's format (large results skip the tree), or nothing (empty 200).
struct op_output {
  op_output() = default;
  explicit op_output(json t) : tree(std::move(t)) {}
  static op_output raw_body(std::string b) {
    op_output o;
    o.raw = std::move(b);
    return o;
  }
  static op_output streaming(std::shared_ptr<event_pipe> p) {
    op_output o;
    o.stream = std::move(p);
    return o;
  }
  std::optional<json> tree;
  std::optional<std::string> raw;
  std::shared_ptr<event_pipe> stream;
};
using op_result = result<op_output>;
using op_fn = op_result (*)(rill::kinesis&, reader&);
/// A fast path over the raw body for the common well-formed shape; nullopt
/// hands the request to the generic path (which gives the exact errors).
using fast_fn = std::optional<op_result> (*)(rill::kinesis&, std::string_view body, body_format);

using firehose_fn = op_result (*)(rill::firehose&, reader&);

struct operation {
  std::string_view name;
  op_fn fn = nullptr;
  /// PutRecord(s), PutRecordBatch: the large body cap applies.
  bool large_body = false;
  fast_fn fast = nullptr;
  /// Set instead of `fn` for the Firehose_20150804 operations.
  firehose_fn firehose = nullptr;
};

/// The Kinesis_20131202 operation named `name`, or null.
const operation* find_kinesis_operation(std::string_view name);
/// The Firehose_20150804 operation named `name`, or null.
const operation* find_firehose_operation(std::string_view name);
/// Every operation served (for docs and tests).
const std::vector<operation>& kinesis_operations();

}  // namespace rill::wire
