// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The endpoint over loopback: HTTP/1.1 (keep-alive, pipelining, malformed and
// truncated input), h2c by prior knowledge on the same port, TLS with ALPN h2
// and http/1.1, limits (body, headers, connections) and the clock-driven idle
// and read timeouts.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "clients.hpp"
#include "rill/engine.hpp"
#include "rill/server.hpp"
#include "seed.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

struct served {
  explicit served(server_options o = {}) {
    engine = std::make_unique<rill::engine>(engine_options{.clock = clock});
    o.clock = clock;
    auto s = server::start(*engine, std::move(o));
    if (!s) throw std::runtime_error(s.error().to_string());
    srv = std::move(*s);
  }
  ~served() { srv.reset(); }
  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<rill::engine> engine;
  std::unique_ptr<server> srv;
};

wire::request json_request(std::string_view op, const json& body) {
  return make_request(op, wire::write_body(body, body_format::json));
}

json body_of(const http_reply& r) {
  auto f = r.headers.count("content-type") && r.headers.at("content-type") == "application/x-amz-cbor-1.1"
               ? body_format::cbor
               : body_format::json;
  if (r.body.empty()) return json();
  auto t = wire::parse_body(r.body, f);
  return t ? *t : json("<unparseable>");
}

TEST(Http1, KeepAliveServesASequenceOfOperations) {
  served s;
  client_socket c(s.srv->port());
  auto created = c.http1(json_request("CreateStream", {{"StreamName", "s"}, {"ShardCount", 1}}));
  EXPECT_EQ(created.status, 200u);
  EXPECT_EQ(created.headers["content-type"], "application/x-amz-json-1.1");
  EXPECT_EQ(created.headers["content-length"], "0");
  EXPECT_EQ(created.headers["x-amzn-requestid"].size(), 36u);
  EXPECT_FALSE(created.headers["x-amz-id-2"].empty());
  for (int i = 0; i < 5; ++i) {
    auto put = c.http1(json_request("PutRecord", {{"StreamName", "s"}, {"Data", "aGk="}, {"PartitionKey", "k"}}));
    EXPECT_EQ(put.status, 200u);
  }
  auto it = body_of(c.http1(
      json_request("GetShardIterator",
                   {{"StreamName", "s"}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "TRIM_HORIZON"}})));
  auto got = body_of(c.http1(json_request("GetRecords", {{"ShardIterator", it["ShardIterator"]}})));
  EXPECT_EQ(got["Records"].size(), 5u);
  EXPECT_EQ(got["Records"][0]["Data"], "aGk=");
  // CBOR over the same connection.
  auto cbor = make_request("ListStreams", wire::write_body(json::object(), body_format::cbor), body_format::cbor);
  auto listed = c.http1(cbor);
  EXPECT_EQ(listed.headers["content-type"], "application/x-amz-cbor-1.1");
  EXPECT_EQ(body_of(listed)["StreamNames"], json::array({"s"}));
}

TEST(Http1, PipelinedRequestsAreAnsweredInOrder) {
  served s;
  client_socket c(s.srv->port());
  std::string two;
  for (const char* name : {"a", "b"}) {
    std::string body = std::string(R"({"StreamName":")") + name + R"(","ShardCount":1})";
    two +=
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.CreateStream\r\n"
        "Content-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, "
        "SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20240101T000000Z\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  c.write(two);
  EXPECT_EQ(c.read_http1().status, 200u);
  EXPECT_EQ(c.read_http1().status, 200u);
  EXPECT_TRUE(s.engine->describe_stream_summary({.stream_name = "b"}).ok());
}

TEST(Http1, MalformedRequestGets400AndClose) {
  served s;
  client_socket c(s.srv->port());
  c.write("THIS IS NOT HTTP\r\n\r\n");
  auto all = c.read_to_eof();
  EXPECT_TRUE(all.starts_with("HTTP/1.1 400")) << all;
}

TEST(Http1, OversizeBodyIsRefusedFromItsContentLength) {
  served s({.limits = {.max_body_bytes = 1u << 20, .max_control_body_bytes = 4096}});
  client_socket c(s.srv->port());
  c.write(
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\n"
      "Content-Type: application/x-amz-json-1.1\r\nContent-Length: 100000\r\n\r\n");
  auto all = c.read_to_eof();  // answered and closed without sending the body
  EXPECT_TRUE(all.starts_with("HTTP/1.1 413")) << all;
  // PutRecords has the larger cap; a chunked body over it is cut off while streaming.
  client_socket d(s.srv->port());
  std::string chunk(64 << 10, 'x');
  d.write(
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
      "Content-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  boost::system::error_code ec;
  std::string reply;
  for (int i = 0; i < 40 && reply.empty(); ++i) {
    try {
      d.write("10000\r\n" + chunk + "\r\n");
    } catch (const std::exception&) {
      break;  // the server closed the connection
    }
  }
  reply = d.read_to_eof();
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 413")) << reply.substr(0, 40);
}

TEST(Http1, HeaderLimits) {
  served s({.limits = {.max_header_bytes = 2048, .max_header_count = 10}});
  {
    client_socket c(s.srv->port());
    c.write("POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(4096, 'a') + "\r\n\r\n");
    EXPECT_TRUE(c.read_to_eof().starts_with("HTTP/1.1 431"));
  }
  {
    client_socket c(s.srv->port());
    std::string many = "POST / HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 20; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
    c.write(many + "Content-Length: 0\r\n\r\n");
    EXPECT_TRUE(c.read_to_eof().starts_with("HTTP/1.1 431"));
  }
}

TEST(Http1, TruncatedConnectionsDoNotDisturbOthers) {
  served s;
  {
    client_socket half(s.srv->port());
    half.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"Stre");
  }  // closed mid-body
  client_socket c(s.srv->port());
  EXPECT_EQ(c.http1(json_request("ListStreams", json::object())).status, 200u);
}

// Advances the server's clock in `step`s on another thread until `c` sees the
// server close it; returns how far the clock moved. The server reacts to the
// clock on its own threads, so time keeps moving until the close is observed.
duration advance_until_closed(served& s, client_socket& c, duration step = 1s) {
  std::atomic<bool> closed{false};
  duration moved{0};
  std::thread driver([&] {
    while (!closed.load()) {
      s.clock->advance(step);
      moved += step;
      std::this_thread::yield();
    }
  });
  std::string rest = c.read_to_eof();
  closed = true;
  driver.join();
  EXPECT_EQ(rest, "");
  return moved;
}

TEST(Timeouts, IdleConnectionsCloseOnTheServersClock) {
  served s({.limits = {.idle_timeout = 5s, .read_timeout = 10s}});
  client_socket idle(s.srv->port());
  client_socket busy(s.srv->port());
  EXPECT_EQ(busy.http1(json_request("ListStreams", json::object())).status, 200u);
  s.clock->advance(4s);
  EXPECT_EQ(busy.http1(json_request("ListStreams", json::object())).status, 200u);  // activity renews it
  s.clock->advance(2s);
  EXPECT_EQ(busy.http1(json_request("ListStreams", json::object())).status, 200u);
  EXPECT_GE(advance_until_closed(s, busy), 4s);  // closed once idle for 5 s
}

TEST(Timeouts, SlowRequestsAreCutAtTheReadTimeoutNotTheIdleOne) {
  served s({.limits = {.idle_timeout = 1000h, .read_timeout = 2s}});
  client_socket slow(s.srv->port());
  slow.write("POST / HTTP/1.1\r\nHost: x\r\n");  // and then nothing more
  EXPECT_LT(advance_until_closed(s, slow), 1000h);
  client_socket probe(s.srv->port());
  EXPECT_EQ(probe.http1(json_request("ListStreams", json::object())).status, 200u);
}

TEST(Limits, ConnectionsBeyondTheCapAreClosed) {
  served s({.limits = {.max_connections = 2}});
  client_socket a(s.srv->port());
  client_socket b(s.srv->port());
  EXPECT_EQ(a.http1(json_request("ListStreams", json::object())).status, 200u);
  EXPECT_EQ(b.http1(json_request("ListStreams", json::object())).status, 200u);
  client_socket c(s.srv->port());
  EXPECT_EQ(c.read_to_eof(), "");
  EXPECT_EQ(a.http1(json_request("ListStreams", json::object())).status, 200u);
}

TEST(H2c, PriorKnowledgeOnThePlainPortWithConcurrentStreams) {
  served s;
  ASSERT_TRUE(s.engine->create_stream({.stream_name = "s", .shard_count = 2}).ok());
  client_socket sock(s.srv->port());
  h2_client h2(sock);
  std::vector<wire::request> reqs;
  for (int i = 0; i < 20; ++i) {
    reqs.push_back(
        json_request("PutRecord", {{"StreamName", "s"}, {"Data", "aGk="}, {"PartitionKey", std::to_string(i)}}));
  }
  reqs.push_back(make_request("DescribeStreamSummary", wire::write_body(json{{"StreamName", "s"}}, body_format::cbor),
                              body_format::cbor));
  auto replies = h2.send(reqs);
  ASSERT_EQ(replies.size(), 21u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(replies[i].status, 200u) << i;
    EXPECT_EQ(body_of(replies[i])["SequenceNumber"].get<std::string>().size(), 56u);
    EXPECT_FALSE(replies[i].headers["x-amzn-requestid"].empty());
  }
  EXPECT_EQ(replies[20].headers["content-type"], "application/x-amz-cbor-1.1");
  EXPECT_EQ(body_of(replies[20])["StreamDescriptionSummary"]["OpenShardCount"], 2);
  // Errors keep their shape over HTTP/2.
  auto err = h2.send({json_request("DescribeStream", {{"StreamName", "missing"}})});
  EXPECT_EQ(err[0].status, 400u);
  EXPECT_EQ(body_of(err[0])["__type"], "ResourceNotFoundException");
}

TEST(H2c, OversizeStreamGets413) {
  served s({.limits = {.max_body_bytes = 64u << 10, .max_control_body_bytes = 1024}});
  client_socket sock(s.srv->port());
  h2_client h2(sock);
  auto r = json_request("ListStreams", json::object());
  r.body = "{\"x\":\"" + std::string(4096, 'a') + "\"}";
  auto replies = h2.send({r, json_request("ListStreams", json::object())});
  EXPECT_EQ(replies[0].status, 413u);
  EXPECT_EQ(replies[1].status, 200u);
}

TEST(Tls, AlpnSelectsH2OrHttp11WithTheGeneratedCertificate) {
  served s({.tls = true});
  ASSERT_NE(s.srv->tls_port(), 0);
  ASSERT_TRUE(s.srv->tls_certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
  {
    client_socket c(s.srv->tls_port(), "http/1.1", s.srv->tls_certificate_pem());
    EXPECT_EQ(c.negotiated, "http/1.1");
    EXPECT_EQ(c.http1(json_request("CreateStream", {{"StreamName", "t"}, {"ShardCount", 1}})).status, 200u);
  }
  {
    client_socket c(s.srv->tls_port(), "h2", s.srv->tls_certificate_pem());
    EXPECT_EQ(c.negotiated, "h2");
    h2_client h2(c);
    auto replies = h2.send({json_request("ListStreams", json::object())});
    EXPECT_EQ(replies[0].status, 200u);
    EXPECT_EQ(body_of(replies[0])["StreamNames"], json::array({"t"}));
  }
}

TEST(Mutation, RawHttpBytesNeverTakeTheServerDown) {
  served s({.limits = {.max_header_bytes = 4096, .idle_timeout = 2s, .read_timeout = 2s}});
  const auto seed = test_seed(7);
  std::mt19937_64 rng(seed);
  const std::string base =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Type: "
      "application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, "
      "Signature=0\r\nX-Amz-Date: 20240101T000000Z\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
  for (int i = 0; i < 150; ++i) {
    std::string m = base;
    for (int e = 0, n = 1 + static_cast<int>(rng() % 3); e < n; ++e) {
      std::size_t at = rng() % m.size();
      switch (rng() % 3) {
        case 0: m[at] = static_cast<char>(rng()); break;
        case 1: m.erase(at, 1 + rng() % 4); break;
        default: m.insert(at, 1, static_cast<char>(rng()));
      }
    }
    client_socket c(s.srv->port());
    c.write(m);
    std::string reply;
    if (rng() % 4 == 0) {
      // Abandon the connection mid-way.
      continue;
    }
    // A complete request is answered and closed; an incomplete one is closed at its read timeout.
    std::atomic<bool> closed{false};
    std::thread driver([&] {
      while (!closed.load()) {
        s.clock->advance(1s);
        std::this_thread::yield();
      }
    });
    reply = c.read_to_eof();
    closed = true;
    driver.join();
    EXPECT_TRUE(reply.empty() || reply.starts_with("HTTP/1.1 ")) << reply.substr(0, 30);
  }
  client_socket ok(s.srv->port());
  EXPECT_EQ(ok.http1(json_request("ListStreams", json::object())).status, 200u);
}

}  // namespace
}  // namespace rill::testing
