// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The transport-free heart of the endpoint: one HTTP request in (already read,
// whatever the HTTP version), one response out. The HTTP/1.1 and HTTP/2
// transports, the fuzz target and the protocol tests all call `dispatcher::handle`.
//
// Rejection cascade (kinesalite's, reproducing AWS), in order:
//   1. method not POST                 -> 403 XML AccessDeniedException (OPTIONS: CORS preflight)
//   2. empty body                      -> 400 SerializationException (valid target) or UnknownOperationException
//   3. content type not JSON 1.1 / CBOR 1.1 / application/json
//                                       -> 403 XML AccessDenied (target not `a.b`) or 404 <UnknownOperationException/>
//   4. body does not parse             -> 400 SerializationException
//   5. unknown service or operation    -> 400 UnknownOperationException
//   6. authorization                   -> MissingAuthenticationToken / IncompleteSignature / InvalidSignature
//                                          (and, with verification on, UnrecognizedClient / InvalidSignature)
//   7. member types                    -> 400 SerializationException ("Message")
//   8. required members                -> 400 ValidationException
//   9. the operation                   -> its result or its error
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rill/kinesis.hpp"
#include "rill/server.hpp"
#include "server/codec.hpp"

namespace rill::wire {

class event_pipe;

struct header {
  std::string name;  ///< lower case
  std::string value;
};

struct request {
  std::string method;
  std::string target = "/";  ///< path and query
  std::vector<header> headers;
  std::string body;
  /// The value of a header (name in lower case), or null.
  [[nodiscard]] const std::string* find(std::string_view name) const;
};

struct response {
  unsigned status = 200;
  std::string content_type;
  std::string body;
  /// Besides Content-Type and Content-Length.
  std::vector<header> headers;
  /// A streaming body (SubscribeToShard: application/vnd.amazon.eventstream)
  /// instead of `body`; the transport drains it and must close() it when done.
  std::shared_ptr<event_pipe> stream;
};

struct dispatcher_options {
  sigv4_options sigv4{};
  bool cors = true;
  server_limits limits{};
  /// For SigV4 request-time checks; null skips them.
  std::shared_ptr<rill::clock> clock{};
  std::shared_ptr<metrics_registry> metrics{};
  /// Served as Firehose_20150804.* when set (not owned).
  rill::firehose* firehose = nullptr;
  /// The tree-free fast paths (PutRecords in JSON 1.1). They answer exactly as
  /// the generic path does; off only for the tests that compare the two.
  bool fast_paths = true;
};

/// Thread safety: handle() may be called from any number of threads at once.
class dispatcher {
 public:
  dispatcher(rill::kinesis& kinesis, dispatcher_options options);
  ~dispatcher();

  [[nodiscard]] response handle(const request& req) const;

  /// The largest body accepted for a request with this X-Amz-Target (0 target: the overall cap).
  [[nodiscard]] std::size_t body_limit(std::string_view x_amz_target) const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A random request id (UUID v4 text) and a random x-amz-id-2 (base64).
std::string make_request_id();
std::string make_id_2();

}  // namespace rill::wire
