// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Minimal blocking clients for the transport tests: HTTP/1.1 (Beast) and
// HTTP/2 (nghttp2), each over plain TCP or TLS with ALPN.
#pragma once

#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/asio.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "server/wire.hpp"

namespace rill::testing {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using net::ip::tcp;

struct http_reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

/// A TCP or TLS connection to 127.0.0.1:port.
class client_socket {
 public:
  client_socket(std::uint16_t port, std::string alpn = {}, std::string ca_pem = {}) {
    sock_ = std::make_unique<tcp::socket>(ioc_);
    sock_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    if (!alpn.empty()) {
      ssl_ctx_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
      ssl_ctx_->add_certificate_authority(net::buffer(ca_pem));
      ssl_ctx_->set_verify_mode(net::ssl::verify_peer);
      std::string wire_alpn;
      wire_alpn.push_back(static_cast<char>(alpn.size()));
      wire_alpn += alpn;
      SSL_CTX_set_alpn_protos(ssl_ctx_->native_handle(), reinterpret_cast<const unsigned char*>(wire_alpn.data()),
                              static_cast<unsigned>(wire_alpn.size()));
      tls_ = std::make_unique<net::ssl::stream<tcp::socket&>>(*sock_, *ssl_ctx_);
      SSL_set_tlsext_host_name(tls_->native_handle(), "localhost");
      tls_->handshake(net::ssl::stream_base::client);
      const unsigned char* p = nullptr;
      unsigned n = 0;
      SSL_get0_alpn_selected(tls_->native_handle(), &p, &n);
      negotiated = std::string(reinterpret_cast<const char*>(p), n);
    }
  }

  void write(std::string_view bytes) {
    if (tls_) {
      net::write(*tls_, net::buffer(bytes));
    } else {
      net::write(*sock_, net::buffer(bytes));
    }
  }
  /// Some bytes; empty at EOF or on error.
  std::string read_some() {
    std::array<char, 16384> buf;
    boost::system::error_code ec;
    std::size_t n = tls_ ? tls_->read_some(net::buffer(buf), ec) : sock_->read_some(net::buffer(buf), ec);
    if (ec) return {};
    return std::string(buf.data(), n);
  }
  /// Reads until the peer closes; returns everything read.
  std::string read_to_eof() {
    std::string all;
    for (std::string s = read_some(); !s.empty(); s = read_some()) all += s;
    return all;
  }

  /// Sends one HTTP/1.1 request and reads its response.
  http_reply http1(const wire::request& req) {
    bhttp::request<bhttp::string_body> r{bhttp::string_to_verb(req.method), req.target, 11};
    for (const auto& h : req.headers) r.set(h.name, h.value);
    if (r.find(bhttp::field::host) == r.end()) r.set(bhttp::field::host, "localhost");
    r.body() = req.body;
    r.prepare_payload();
    if (tls_) {
      bhttp::write(*tls_, r);
    } else {
      bhttp::write(*sock_, r);
    }
    return read_http1();
  }

  http_reply read_http1() {
    bhttp::response_parser<bhttp::string_body> p;
    p.body_limit(64u << 20);
    boost::system::error_code ec;
    if (tls_) {
      bhttp::read(*tls_, buffer_, p, ec);
    } else {
      bhttp::read(*sock_, buffer_, p, ec);
    }
    http_reply out;
    if (ec) return out;
    auto& m = p.get();
    out.status = m.result_int();
    for (const auto& f : m) {
      std::string n(f.name_string());
      for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[n] = std::string(f.value());
    }
    out.body = m.body();
    return out;
  }

  std::string negotiated;

 private:
  net::io_context ioc_;
  std::unique_ptr<tcp::socket> sock_;
  std::unique_ptr<net::ssl::context> ssl_ctx_;
  std::unique_ptr<net::ssl::stream<tcp::socket&>> tls_;
  boost::beast::flat_buffer buffer_;
};

/// An HTTP/2 client (prior knowledge on plain TCP, or h2 by ALPN) that sends a
/// batch of requests on concurrent streams and waits for every response.
class h2_client {
 public:
  explicit h2_client(client_socket& sock) : sock_(sock) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs,
        [](nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
           const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) -> int {
          auto* self = static_cast<h2_client*>(user);
          auto& rep = self->replies_[frame->hd.stream_id];
          std::string n(reinterpret_cast<const char*>(name), namelen);
          std::string v(reinterpret_cast<const char*>(value), valuelen);
          if (n == ":status") {
            rep.status = static_cast<unsigned>(std::stoi(v));
          } else {
            rep.headers[n] = v;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs,
        [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data, std::size_t len,
           void* user) -> int {
          static_cast<h2_client*>(user)->replies_[id].body.append(reinterpret_cast<const char*>(data), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t id, std::uint32_t, void* user) -> int {
          static_cast<h2_client*>(user)->closed_.push_back(id);
          return 0;
        });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~h2_client() { nghttp2_session_del(session_); }

  std::vector<http_reply> send(const std::vector<wire::request>& reqs) {
    struct body_src {
      const std::string* body;
      std::size_t off = 0;
    };
    std::vector<body_src> srcs(reqs.size());
    std::vector<std::int32_t> ids;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      const auto& r = reqs[i];
      std::vector<std::pair<std::string, std::string>> hs = {
          {":method", r.method}, {":scheme", "http"}, {":path", r.target}, {":authority", "localhost"}};
      for (const auto& h : r.headers) {
        if (h.name != "host") hs.emplace_back(h.name, h.value);
      }
      std::vector<nghttp2_nv> nva;
      for (auto& [n, v] : hs) {
        nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                       v.size(), NGHTTP2_NV_FLAG_NONE});
      }
      srcs[i].body = &r.body;
      nghttp2_data_provider prov{};
      prov.source.ptr = &srcs[i];
      prov.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len, std::uint32_t* flags,
                              nghttp2_data_source* src, void*) -> ssize_t {
        auto* s = static_cast<body_src*>(src->ptr);
        std::size_t n = std::min(len, s->body->size() - s->off);
        std::memcpy(buf, s->body->data() + s->off, n);
        s->off += n;
        if (s->off == s->body->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
      ids.push_back(nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &prov, nullptr));
    }
    auto done = [&] {
      for (auto id : ids) {
        if (std::find(closed_.begin(), closed_.end(), id) == closed_.end()) return false;
      }
      return true;
    };
    while (!done()) {
      flush();
      if (done()) break;
      std::string in = sock_.read_some();
      if (in.empty()) break;
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(in.data()), in.size()) < 0) break;
    }
    std::vector<http_reply> out;
    for (auto id : ids) out.push_back(replies_[id]);
    return out;
  }

 private:
  void flush() {
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      sock_.write(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
    }
  }

  client_socket& sock_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, http_reply> replies_;
  std::vector<std::int32_t> closed_;
};

}  // namespace rill::testing
