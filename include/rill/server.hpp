// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The Kinesis wire endpoint: serves any `rill::kinesis` (the in-process engine,
// or anything else implementing kinesis.hpp) over the protocol the AWS SDKs,
// the KCL and the KPL speak, so non-C++ tools can use an embedded rill:
//
//   auto engine = std::make_shared<rill::engine>();
//   auto srv = rill::server::start(*engine, {.port = 4567});
//   if (!srv) { std::cerr << srv.error() << "\n"; return 1; }
//   // point an SDK at http://127.0.0.1:4567 (any credentials, any region)
//
// One plain port speaks HTTP/1.1 and cleartext HTTP/2 with prior knowledge (told
// apart by the connection preface); an optional TLS port offers h2 and http/1.1
// by ALPN. Requests are `POST /` with `X-Amz-Target: Kinesis_20131202.<Op>` and
// JSON 1.1 or CBOR 1.1 bodies, answered in the request's content type. See
// docs/wire.md for every detail.
//
// Time: idle and read timeouts are measured on `server_options::clock` and
// enforced by tasks of a scheduler made from it (on a manual_clock they fire
// inside advance()). Network I/O runs on the server's own io threads.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "rill/clock.hpp"
#include "rill/error.hpp"
#include "rill/kinesis.hpp"
#include "rill/metrics.hpp"

namespace rill {

class firehose;

/// What one request or connection may cost. Defaults follow AWS's limits.
struct server_limits {
  /// Largest request body of PutRecord(s) (bytes). A 10 MiB record or
  /// PutRecords' 10 MiB (streams with MaxRecordSizeInKiB above 1024) is about
  /// 13.4 MiB in base64 plus JSON framing: 14 MiB.
  std::size_t max_body_bytes = 14u << 20;
  /// Largest body of the operations other than PutRecord(s) (1 MiB is far more
  /// than any of them needs).
  std::size_t max_control_body_bytes = 1u << 20;
  /// Request line plus headers (HTTP/1.1), or the header block (HTTP/2).
  std::size_t max_header_bytes = 16u << 10;
  /// Header fields per request.
  std::size_t max_header_count = 100;
  /// Connections open at once; further ones are accepted and closed at once.
  std::size_t max_connections = 1024;
  /// Concurrent streams per HTTP/2 connection.
  std::uint32_t max_concurrent_streams = 100;
  /// A connection with no request in progress is closed after this long.
  duration idle_timeout = std::chrono::seconds(60);
  /// A request whose bytes have started arriving must be complete within this.
  duration read_timeout = std::chrono::seconds(30);
};

/// SigV4 verification (off by default, as in kinesalite and kinesis-mock).
struct sigv4_options {
  /// When true, every request must carry a valid AWS Signature Version 4 made
  /// with one of `credentials`; others are refused (MissingAuthenticationToken,
  /// IncompleteSignature, UnrecognizedClientException, InvalidSignatureException)
  /// before any stream is touched.
  bool verify = false;
  /// Access key id -> secret access key.
  std::map<std::string, std::string> credentials{};
};

struct server_options {
  /// Address to listen on (loopback by default).
  std::string host = "127.0.0.1";
  /// Plain port (HTTP/1.1 and h2c); 0 picks a free port (see server::port()).
  std::uint16_t port = 0;
  /// Also listen with TLS (h2 and http/1.1 by ALPN).
  bool tls = false;
  /// TLS port; 0 picks a free one.
  std::uint16_t tls_port = 0;
  /// PEM certificate chain and key files; both empty: a self-signed certificate
  /// for `localhost` and 127.0.0.1 is generated at start.
  std::string tls_certificate_file{};
  std::string tls_private_key_file{};
  /// Threads running network I/O (and the operations they dispatch).
  int io_threads = 1;
  /// The clock timeouts are measured on. Default: a system_clock.
  std::shared_ptr<rill::clock> clock{};
  server_limits limits{};
  sigv4_options sigv4{};
  /// Metrics in namespace "rill/Server" (null: none): Requests, ClientErrors (4xx)
  /// and ServerErrors (5xx) per Operation; ConnectionsAccepted, ConnectionsRefused
  /// (over max_connections) and ConnectionsTimedOut (idle or read timeout).
  std::shared_ptr<metrics_registry> metrics{};
  /// Sends `Access-Control-Allow-Origin: *` when a request has an Origin, and
  /// answers OPTIONS preflights (kinesalite does).
  bool cors = true;
  /// Delivery streams to serve as `Firehose_20150804.*` (PutRecord, PutRecordBatch,
  /// ListDeliveryStreams, DeleteDeliveryStream); not owned, must outlive the
  /// server. Null: those targets answer UnknownOperationException.
  rill::firehose* firehose = nullptr;
};

/// A running endpoint. Thread safety: all methods may be called from any thread.
class server {
 public:
  /// Binds the ports and starts serving `kinesis`, which must outlive the
  /// server. Errors: InvalidArgumentException (bad host, bad option values,
  /// unreadable TLS files), InternalFailure (a port cannot be bound).
  [[nodiscard]] static result<std::unique_ptr<server>> start(rill::kinesis& kinesis, server_options options = {});

  /// Stops listening, closes every connection and joins the io threads.
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound plain port.
  [[nodiscard]] std::uint16_t port() const noexcept;
  /// The bound TLS port (0 without TLS).
  [[nodiscard]] std::uint16_t tls_port() const noexcept;
  /// The TLS certificate in PEM (the generated one, or the configured chain);
  /// empty without TLS. Clients of tests trust it as their CA.
  [[nodiscard]] const std::string& tls_certificate_pem() const noexcept;
  /// Connections open now.
  [[nodiscard]] std::size_t connection_count() const noexcept;
  /// Stops accepting and closes every connection (idempotent; the destructor calls it).
  void stop();

  struct impl;

 private:
  explicit server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace rill
