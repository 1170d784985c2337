// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A dispatcher over an engine on a manual clock, and helpers to build request
// trees in either format and read response bodies back.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "rill/engine.hpp"
#include "server/codec.hpp"
#include "server/wire.hpp"

namespace rill::testing {

using wire::body_format;
using wire::json;

inline std::string content_type_of(body_format f) {
  return f == body_format::json ? "application/x-amz-json-1.1" : "application/x-amz-cbor-1.1";
}

/// A blob member in a request tree: base64 in JSON, a byte string in CBOR.
inline json blob(body_format f, std::string_view bytes) {
  if (f == body_format::json) return json(wire::base64_encode(bytes));
  return wire::blob_value(bytes);
}

/// The bytes of a blob member of a response tree.
inline std::string blob_bytes(const json& v) {
  if (v.is_binary()) return std::string(v.get_binary().begin(), v.get_binary().end());
  auto d = wire::base64_decode(v.get<std::string>());
  return d ? *d : std::string("<bad base64>");
}

/// A request with the headers an SDK sends (unverified signature).
inline wire::request make_request(std::string_view op, std::string body, body_format f = body_format::json,
                                  std::string_view service = "Kinesis_20131202") {
  wire::request r;
  r.method = "POST";
  r.headers = {{"host", "localhost"},
               {"x-amz-target", std::string(service) + "." + std::string(op)},
               {"content-type", content_type_of(f)},
               {"x-amz-date", "20240101T000000Z"},
               {"authorization",
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, "
                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00"}};
  r.body = std::move(body);
  return r;
}

struct wire_fixture {
  explicit wire_fixture(wire::dispatcher_options o = {}) {
    engine = std::make_unique<rill::engine>(engine_options{.clock = clock});
    o.clock = clock;
    dispatcher = std::make_unique<wire::dispatcher>(*engine, std::move(o));
  }

  wire::response raw(const wire::request& r) const { return dispatcher->handle(r); }

  wire::response call(std::string_view op, const json& body, body_format f = body_format::json) const {
    return dispatcher->handle(make_request(op, wire::write_body(body, f), f));
  }

  /// The body of a response as a tree (null for an empty body).
  static json tree(const wire::response& r) {
    if (r.body.empty()) return json();
    auto f = r.content_type == "application/x-amz-cbor-1.1" ? body_format::cbor : body_format::json;
    auto t = wire::parse_body(r.body, f);
    return t ? *t : json("<unparseable>");
  }

  /// Calls and expects 200; returns the body tree.
  json ok(std::string_view op, const json& body, body_format f = body_format::json) const {
    auto r = call(op, body, f);
    EXPECT_EQ(r.status, 200u) << op << ": " << tree(r).dump();
    EXPECT_EQ(r.content_type, content_type_of(f)) << op;
    return tree(r);
  }

  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<rill::engine> engine;
  std::unique_ptr<wire::dispatcher> dispatcher;
};

}  // namespace rill::testing
