// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Transports: accept loops, HTTP/1.1 (Beast's parser fed by hand, so the
// server knows when a request has started), HTTP/2 (nghttp2, h2c with prior
// knowledge or h2 by ALPN), TLS (Asio SSL over OpenSSL). Every connection lives
// on its own strand; a sweep task on the clock's scheduler closes connections
// past their deadline (idle, or a request that takes too long to arrive).
#include "rill/server.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/asio.hpp"  // must come first: Boost 1.74 + C++20

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "rill/logging.hpp"
#include "server/event_pipe.hpp"
#include "server/tls.hpp"
#include "server/wire.hpp"

namespace rill {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using ssl_stream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr std::string_view h2_preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Closes the lowest layer of either stream.
void close_stream(tcp::socket& s) {
  boost::system::error_code ec;
  s.shutdown(tcp::socket::shutdown_both, ec);
  s.close(ec);
}
void close_stream(ssl_stream& s) { close_stream(s.next_layer()); }

}  // namespace

// ---------------------------------------------------------------------------

class connection_base : public std::enable_shared_from_this<connection_base> {
 public:
  explicit connection_base(server::impl& owner) : owner_(owner) {}
  virtual ~connection_base();
  /// Closes the socket (from any thread: posted to the connection's strand).
  virtual void close() = 0;
  /// After the io threads have stopped: ends the event streams (which hold the
  /// connection while they run) so the connection can go.
  virtual void release() {}
  std::atomic<std::int64_t> deadline_ms{0};
  std::atomic<bool> timed_out{false};
  std::uint64_t id = 0;

 protected:
  server::impl& owner_;
};

struct server::impl {
  rill::kinesis& kinesis;
  server_options opt;
  wire::dispatcher dispatcher;
  std::shared_ptr<rill::clock> clock;
  std::string certificate_pem;

  std::mutex mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<connection_base>> connections;
  std::uint64_t next_id = 1;
  std::atomic<std::size_t> open{0};
  std::atomic<bool> stopped{false};

  /// One io_context per io thread (each run by its thread alone); a connection
  /// is placed on one at accept, round-robin, and served there from start to
  /// end: no handler of it hops threads, so no thread wakes another for it.
  /// The acceptors live on the first.
  std::vector<std::unique_ptr<asio::io_context>> iocs;
  std::size_t next_ioc = 0;
  std::optional<asio::ssl::context> ssl;
  std::optional<tcp::acceptor> plain_acceptor;
  std::optional<tcp::acceptor> tls_acceptor;
  std::vector<std::thread> threads;
  std::unique_ptr<scheduler> sched;
  std::uint16_t plain_port = 0;
  std::uint16_t secure_port = 0;

  impl(rill::kinesis& k, server_options o, std::shared_ptr<rill::clock> c)
      : kinesis(k),
        opt(std::move(o)),
        dispatcher(k, wire::dispatcher_options{.sigv4 = opt.sigv4,
                                               .cors = opt.cors,
                                               .limits = opt.limits,
                                               .clock = c,
                                               .metrics = opt.metrics,
                                               .firehose = opt.firehose}),
        clock(std::move(c)) {}

  std::int64_t now_ms() const { return clock->now().time_since_epoch().count(); }

  void count(std::string_view metric) const {
    if (opt.metrics) opt.metrics->put("rill/Server", metric, {}, 1, "Count");
  }

  void add(const std::shared_ptr<connection_base>& c) {
    std::lock_guard lock(mu);
    c->id = next_id++;
    connections.emplace(c->id, c);
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mu);
    connections.erase(id);
  }

  void sweep() {
    if (stopped) return;
    std::int64_t now = now_ms();
    std::vector<std::shared_ptr<connection_base>> expired;
    // The others, released after the lock: the last reference may be ours, and a
    // connection's destructor takes `mu`.
    std::vector<std::shared_ptr<connection_base>> live;
    {
      std::lock_guard lock(mu);
      live.reserve(connections.size());
      for (auto& [id, weak] : connections) {
        auto c = weak.lock();
        if (!c) continue;
        if (c->deadline_ms.load() <= now && !c->timed_out.exchange(true)) {
          expired.push_back(std::move(c));
        } else {
          live.push_back(std::move(c));
        }
      }
    }
    live.clear();
    for (auto& c : expired) {
      c->close();
      count("ConnectionsTimedOut");
    }
    schedule_sweep();
  }

  void schedule_sweep() {
    if (stopped) return;
    duration shortest = std::min(opt.limits.idle_timeout, opt.limits.read_timeout);
    duration every = std::max(duration(10), shortest / 10);
    sched->call_at(clock->now() + every, [this] { sweep(); });
  }

  void accept(tcp::acceptor& acceptor, bool tls);
  void stop();
};

connection_base::~connection_base() {
  owner_.remove(id);
  owner_.open.fetch_sub(1);
}

namespace {

// ---------------------------------------------------------------------------
// HTTP/2

template <class Stream>
class h2_connection final : public connection_base {
 public:
  h2_connection(server::impl& owner, Stream stream) : connection_base(owner), stream_(std::move(stream)) {}

  ~h2_connection() override {
    end_streams();
    if (session_) nghttp2_session_del(session_);
  }

  void release() override { end_streams(); }

  // `initial`: bytes already read (the preface, maybe more).
  void start(std::string initial) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, &on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, &on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &on_stream_close);
    nghttp2_session_server_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, owner_.opt.limits.max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(owner_.opt.limits.max_header_bytes)},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, 3);
    touch();
    if (!initial.empty() && !feed(initial.data(), initial.size())) return;
    flush();
    read();
  }

  void close() override {
    auto self = shared_from_this();
    asio::post(stream_.get_executor(), [self, this] { teardown(); });
  }

 private:
  struct stream_state {
    wire::request req;
    std::size_t header_bytes = 0;
    std::size_t limit = 0;
    bool too_large = false;
    wire::response res;
    std::size_t sent = 0;
  };

  // Ends every event stream (their notifications hold this connection).
  void end_streams() {
    for (auto& [id, s] : streams_) {
      if (s.res.stream) s.res.stream->close();
    }
  }

  void teardown() {
    close_stream(stream_);
    end_streams();
  }

  // An event stream has bytes (or its end) ready: wake its deferred DATA.
  void resume_stream(std::int32_t id) {
    if (!session_ || streams_.find(id) == streams_.end()) return;
    nghttp2_session_resume_data(session_, id);
    flush();
  }

  void touch() {
    auto timeout = streams_.empty() ? owner_.opt.limits.idle_timeout : owner_.opt.limits.read_timeout;
    deadline_ms = owner_.now_ms() + timeout.count();
  }

  bool feed(const char* data, std::size_t n) {
    auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const std::uint8_t*>(data), n);
    if (rv < 0) {
      teardown();
      return false;
    }
    return true;
  }

  void read() {
    auto self = shared_from_this();
    stream_.async_read_some(asio::buffer(read_buf_), [self, this](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        teardown();
        return;
      }
      touch();
      if (!feed(read_buf_.data(), n)) return;
      flush();
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0 && !writing_) {
        teardown();
        return;
      }
      read();
    });
  }

  void flush() {
    if (writing_) return;
    out_.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        teardown();
        return;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
      if (out_.size() >= (64u << 10)) break;
    }
    if (out_.empty()) {
      // Nothing left to say: after a GOAWAY (ours or the peer's) the session is done.
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
        teardown();
      }
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(out_), [self, this](boost::system::error_code ec, std::size_t) {
      writing_ = false;
      if (ec) {
        teardown();
        return;
      }
      touch();
      flush();
    });
  }

  static h2_connection* self_of(void* p) { return static_cast<h2_connection*>(p); }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    auto* c = self_of(user);
    auto& s = c->streams_[frame->hd.stream_id];
    s.limit = c->owner_.opt.limits.max_body_bytes;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto* c = self_of(user);
    auto it = c->streams_.find(frame->hd.stream_id);
    if (it == c->streams_.end()) return 0;
    auto& s = it->second;
    s.header_bytes += namelen + valuelen + 32;
    if (s.header_bytes > c->owner_.opt.limits.max_header_bytes ||
        s.req.headers.size() >= c->owner_.opt.limits.max_header_count) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream
    }
    std::string n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      s.req.method = std::move(v);
    } else if (n == ":path") {
      s.req.target = std::move(v);
    } else if (n == ":authority") {
      s.req.headers.push_back({"host", std::move(v)});
    } else if (!n.empty() && n[0] != ':') {
      if (n == "x-amz-target") s.limit = c->owner_.dispatcher.body_limit(v);
      s.req.headers.push_back({std::move(n), std::move(v)});
    }
    return 0;
  }

  static int on_data(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data, std::size_t len,
                     void* user) {
    auto* c = self_of(user);
    auto it = c->streams_.find(stream_id);
    if (it == c->streams_.end()) return 0;
    auto& s = it->second;
    if (s.too_large || s.req.body.size() + len > s.limit) {
      s.too_large = true;
      s.req.body.clear();
      s.req.body.shrink_to_fit();
      return 0;
    }
    s.req.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
      return 0;
    }
    auto* c = self_of(user);
    auto it = c->streams_.find(frame->hd.stream_id);
    if (it == c->streams_.end()) return 0;
    auto& s = it->second;
    if (s.too_large) {
      s.res.status = 413;
      s.res.content_type = "application/x-amz-json-1.1";
      s.res.body = R"({"__type":"SerializationException","message":"Request body exceeds the size limit"})";
    } else {
      s.res = c->owner_.dispatcher.handle(s.req);
    }
    c->respond(session, frame->hd.stream_id, s);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length, std::uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* s = static_cast<stream_state*>(source->ptr);
    if (s->res.stream) {
      bool ended = false;
      std::size_t got = s->res.stream->read(reinterpret_cast<char*>(buf), length, ended);
      if (ended) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      } else if (got == 0) {
        return NGHTTP2_ERR_DEFERRED;
      }
      return static_cast<ssize_t>(got);
    }
    std::size_t n = std::min(length, s->res.body.size() - s->sent);
    std::memcpy(buf, s->res.body.data() + s->sent, n);
    s->sent += n;
    if (s->sent == s->res.body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  void respond(nghttp2_session* session, std::int32_t stream_id, stream_state& s) {
    std::string status = std::to_string(s.res.status);
    std::string length = std::to_string(s.res.body.size());
    std::vector<nghttp2_nv> nva;
    auto add = [&](const std::string& n, const std::string& v) {
      nva.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(const_cast<char*>(n.data())),
                               reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), n.size(), v.size(),
                               NGHTTP2_NV_FLAG_NONE});
    };
    static const std::string status_name = ":status", ct_name = "content-type", cl_name = "content-length";
    add(status_name, status);
    add(ct_name, s.res.content_type);
    if (!s.res.stream) add(cl_name, length);
    std::vector<std::string> lower;
    lower.reserve(s.res.headers.size());
    for (const auto& h : s.res.headers) {
      std::string n = h.name;
      for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      lower.push_back(std::move(n));
      add(lower.back(), h.value);
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = &s;
    provider.read_callback = &read_body;
    nghttp2_submit_response(session, stream_id, nva.data(), nva.size(), &provider);
    if (s.res.stream) {
      auto self = std::static_pointer_cast<h2_connection>(shared_from_this());
      s.res.stream->attach([self, stream_id] {
        asio::post(self->stream_.get_executor(), [self, stream_id] { self->resume_stream(stream_id); });
      });
    }
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user) {
    auto* c = self_of(user);
    auto it = c->streams_.find(stream_id);
    if (it == c->streams_.end()) return 0;
    if (it->second.res.stream) it->second.res.stream->close();
    c->streams_.erase(it);
    return 0;
  }

  Stream stream_;
  nghttp2_session* session_ = nullptr;
  std::array<char, 16384> read_buf_{};
  std::string out_;
  bool writing_ = false;
  std::map<std::int32_t, stream_state> streams_;
};

// ---------------------------------------------------------------------------
// HTTP/1.1

template <class Stream>
class h1_connection final : public connection_base {
 public:
  h1_connection(server::impl& owner, Stream stream) : connection_base(owner), stream_(std::move(stream)) {}

  ~h1_connection() override {
    if (pipe_) pipe_->close();
  }

  // `detect`: on the plain port, look for the HTTP/2 preface first.
  void start(bool detect) {
    detect_ = detect;
    begin_request();
    read();
  }

  void close() override {
    auto self = shared_from_this();
    asio::post(stream_.get_executor(), [self, this] { teardown(); });
  }

  void release() override {
    if (auto p = pipe_) p->close();
  }

 private:
  void begin_request() {
    last_request_bytes_ = request_bytes_;  // a hint only (pipelined bytes count for the one read them)
    request_bytes_ = 0;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(owner_.opt.limits.max_header_bytes));
    parser_->body_limit(owner_.opt.limits.max_body_bytes);
    parser_->eager(false);
    started_ = false;
    header_checked_ = false;
    deadline_ms = owner_.now_ms() + owner_.opt.limits.idle_timeout.count();
  }

  void read() {
    auto self = shared_from_this();
    // Once the header is in, room for the rest of the body at once (a
    // PutRecords body is ~86 KB: one read instead of six), within the cap
    // check_header applied. Before it, room for as many bytes as the previous
    // request had (a client that sent one large request usually sends another
    // of the same size: it then arrives in one read), at least 16 KiB, at most
    // the largest request the limits allow.
    const std::size_t largest = owner_.opt.limits.max_header_bytes +
                                std::max(owner_.opt.limits.max_body_bytes, owner_.opt.limits.max_control_body_bytes);
    std::size_t want = std::max<std::size_t>(16384, std::min(last_request_bytes_, largest));
    if (header_checked_ && !parser_->chunked()) {
      if (auto rest = parser_->content_length_remaining()) want = std::max<std::size_t>(want, *rest);
    }
    auto space = buffer_.prepare(want);
    stream_.async_read_some(space, [self, this](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        close_stream(stream_);
        return;
      }
      buffer_.commit(n);
      request_bytes_ += n;
      on_bytes();
    });
  }

  void on_bytes() {
    if (detect_) {
      std::string_view have(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      std::size_t k = std::min(have.size(), h2_preface.size());
      if (have.substr(0, k) == h2_preface.substr(0, k)) {
        if (have.size() < h2_preface.size()) {
          read();
          return;
        }
        auto h2 = std::make_shared<h2_connection<Stream>>(owner_, std::move(stream_));
        h2->deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();  // before the sweep sees it
        owner_.add(h2);
        owner_.open.fetch_add(1);
        h2->start(std::string(have));
        return;  // this connection object ends here; the h2 one owns the socket
      }
      detect_ = false;
    }
    if (buffer_.size() > 0 && !started_) {
      started_ = true;
      deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
    }
    boost::system::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      std::size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) break;
      if (parser_->is_header_done() && !header_checked_) {
        header_checked_ = true;
        if (!check_header()) return;
        parser_->eager(true);
      }
      if (used == 0) break;
    }
    if (ec) {
      if (ec == http::error::header_limit) return refuse(431, "Request header fields too large");
      if (ec == http::error::body_limit) return refuse(413, "Request body exceeds the size limit");
      return refuse(400, "Malformed HTTP request");
    }
    if (parser_->is_done()) return dispatch();
    read();
  }

  bool check_header() {
    const auto& h = parser_->get();
    std::size_t count = static_cast<std::size_t>(std::distance(h.begin(), h.end()));
    if (count > owner_.opt.limits.max_header_count) {
      refuse(431, "Too many request header fields");
      return false;
    }
    auto target = h["x-amz-target"];
    std::size_t limit = owner_.dispatcher.body_limit(std::string_view(target.data(), target.size()));
    if (auto len = parser_->content_length(); len && *len > limit) {
      refuse(413, "Request body exceeds the size limit");
      return false;
    }
    parser_->body_limit(limit);
    if (boost::beast::iequals(h[http::field::expect], "100-continue")) {
      static const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
      boost::system::error_code ec;
      asio::write(stream_, asio::buffer(cont), ec);  // tiny; the socket is otherwise idle
    }
    return true;
  }

  void refuse(unsigned status, std::string_view why) {
    wire::response r;
    r.status = status;
    r.content_type = "application/x-amz-json-1.1";
    r.body = R"({"__type":"SerializationException","message":")" + std::string(why) + "\"}";
    r.headers.push_back({"x-amzn-RequestId", wire::make_request_id()});
    write(r, false);
  }

  void dispatch() {
    auto msg = parser_->release();
    wire::request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.headers.reserve(16);
    for (const auto& f : msg) {
      std::string n(f.name_string());
      for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.push_back({std::move(n), std::string(f.value())});
    }
    req.body = std::move(msg.body());
    bool keep = msg.keep_alive();
    auto res = owner_.dispatcher.handle(req);
    if (res.stream) return start_stream(std::move(res), keep);
    write(res, keep);
  }

  void teardown() {
    close_stream(stream_);
    if (pipe_) {
      pipe_->close();
      pipe_.reset();
    }
  }

  // An event stream (SubscribeToShard) over HTTP/1.1: chunked transfer coding,
  // one chunk per write of whatever frames are ready.
  void start_stream(wire::response r, bool keep_alive) {
    keep_after_stream_ = keep_alive;
    head_ = "HTTP/1.1 200 OK\r\nContent-Type: ";
    head_ += r.content_type;
    head_ += "\r\nTransfer-Encoding: chunked";
    for (const auto& h : r.headers) {
      head_ += "\r\n";
      head_ += h.name;
      head_ += ": ";
      head_ += h.value;
    }
    head_ += "\r\n\r\n";
    pipe_ = std::move(r.stream);
    deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
    auto self = std::static_pointer_cast<h1_connection>(shared_from_this());
    pipe_->attach([self] { asio::post(self->stream_.get_executor(), [self] { self->pump(); }); });
  }

  void pump() {
    if (!pipe_ || pumping_) return;
    bool ended = false;
    std::string data = pipe_->take(ended);
    if (data.empty() && !ended && head_.empty()) return;
    out_ = std::move(head_);
    head_.clear();
    if (!data.empty()) {
      char size[24];
      std::snprintf(size, sizeof size, "%zx\r\n", data.size());
      out_ += size;
      out_ += data;
      out_ += "\r\n";
    }
    if (ended) out_ += "0\r\n\r\n";
    pumping_ = true;
    auto self = shared_from_this();
    asio::async_write(stream_, asio::buffer(out_),
                      [self, this, n = data.size(), ended](boost::system::error_code ec, std::size_t) {
                        pumping_ = false;
                        if (ec || !pipe_) {
                          teardown();
                          return;
                        }
                        deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
                        pipe_->written(n);
                        if (!ended) return pump();
                        pipe_->close();
                        pipe_.reset();
                        if (!keep_after_stream_) {
                          close_stream(stream_);
                          return;
                        }
                        begin_request();
                        if (buffer_.size() > 0) {
                          on_bytes();
                        } else {
                          read();
                        }
                      });
  }

  void write(wire::response& r, bool keep_alive) {
    out_.clear();
    out_ += "HTTP/1.1 ";
    out_ += std::to_string(r.status);
    out_ += ' ';
    auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
    out_.append(reason.data(), reason.size());
    out_ += "\r\nContent-Type: ";
    out_ += r.content_type;
    out_ += "\r\nContent-Length: ";
    out_ += std::to_string(r.body.size());
    for (const auto& h : r.headers) {
      out_ += "\r\n";
      out_ += h.name;
      out_ += ": ";
      out_ += h.value;
    }
    if (!keep_alive) out_ += "\r\nConnection: close";
    out_ += "\r\n\r\n";
    // The head and the body in one gathered write (no copy of the body).
    body_out_ = std::move(r.body);
    const std::array<asio::const_buffer, 2> parts{asio::buffer(out_), asio::buffer(body_out_)};
    auto self = shared_from_this();
    asio::async_write(stream_, parts, [self, this, keep_alive](boost::system::error_code ec, std::size_t) {
      if (ec || !keep_alive) {
        close_stream(stream_);
        return;
      }
      begin_request();
      if (buffer_.size() > 0) {
        on_bytes();  // a pipelined request
      } else {
        read();
      }
    });
  }

  Stream stream_;
  boost::beast::flat_buffer buffer_{1u << 30};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string out_;
  std::string body_out_;
  std::string head_;
  std::shared_ptr<wire::event_pipe> pipe_;
  std::size_t request_bytes_ = 0;       ///< bytes read since this request began
  std::size_t last_request_bytes_ = 0;  ///< the same for the previous request
  bool pumping_ = false;
  bool keep_after_stream_ = false;
  bool detect_ = false;
  bool started_ = false;
  bool header_checked_ = false;
};

// ---------------------------------------------------------------------------
// TLS: handshake, then h2 or http/1.1 by ALPN.

class tls_connection final : public connection_base {
 public:
  tls_connection(server::impl& owner, ssl_stream stream) : connection_base(owner), stream_(std::move(stream)) {}

  void start() {
    deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
    auto self = shared_from_this();
    stream_->async_handshake(asio::ssl::stream_base::server, [self, this](boost::system::error_code ec) {
      if (ec) {
        close_stream(*stream_);
        return;
      }
      const unsigned char* proto = nullptr;
      unsigned len = 0;
      SSL_get0_alpn_selected(stream_->native_handle(), &proto, &len);
      std::string_view alpn(reinterpret_cast<const char*>(proto), len);
      if (alpn == "h2") {
        auto h2 = std::make_shared<h2_connection<ssl_stream>>(owner_, std::move(*stream_));
        h2->deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
        owner_.add(h2);
        owner_.open.fetch_add(1);
        h2->start({});
      } else {
        auto h1 = std::make_shared<h1_connection<ssl_stream>>(owner_, std::move(*stream_));
        h1->deadline_ms = owner_.now_ms() + owner_.opt.limits.read_timeout.count();
        owner_.add(h1);
        owner_.open.fetch_add(1);
        h1->start(false);
      }
      stream_.reset();
    });
  }

  void close() override {
    auto self = shared_from_this();
    asio::post(executor_, [self, this] {
      if (stream_) close_stream(*stream_);
    });
  }

 private:
  std::optional<ssl_stream> stream_;
  asio::any_io_executor executor_ = stream_->get_executor();
};

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                void*) {
  // Prefer h2, then http/1.1.
  for (std::string_view want : {std::string_view("h2"), std::string_view("http/1.1")}) {
    for (unsigned i = 0; i < inlen;) {
      unsigned n = in[i];
      if (i + 1 + n > inlen) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), n) == want) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(n);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + n;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

void server::impl::accept(tcp::acceptor& acceptor, bool tls) {
  acceptor.async_accept(asio::make_strand(*iocs[next_ioc++ % iocs.size()]),
                        [this, &acceptor, tls](boost::system::error_code ec, tcp::socket socket) {
                          if (stopped) return;
                          if (!ec) {
                            if (open.load() >= opt.limits.max_connections) {
                              close_stream(socket);
                              count("ConnectionsRefused");
                            } else {
                              count("ConnectionsAccepted");
                              boost::system::error_code ignore;
                              socket.set_option(tcp::no_delay(true), ignore);
                              open.fetch_add(1);
                              if (tls) {
                                auto c = std::make_shared<tls_connection>(*this, ssl_stream(std::move(socket), *ssl));
                                c->deadline_ms = now_ms() + opt.limits.read_timeout.count();
                                add(c);
                                c->start();
                              } else {
                                auto c = std::make_shared<h1_connection<tcp::socket>>(*this, std::move(socket));
                                c->deadline_ms = now_ms() + opt.limits.read_timeout.count();
                                add(c);
                                c->start(true);
                              }
                            }
                          }
                          accept(acceptor, tls);
                        });
}

void server::impl::stop() {
  if (stopped.exchange(true)) return;
  if (sched) sched->shutdown();
  if (!iocs.empty()) {
    asio::post(*iocs.front(), [this] {
      boost::system::error_code ec;
      if (plain_acceptor) plain_acceptor->close(ec);
      if (tls_acceptor) tls_acceptor->close(ec);
    });
    std::vector<std::shared_ptr<connection_base>> all;
    {
      std::lock_guard lock(mu);
      for (auto& [id, w] : connections) {
        if (auto c = w.lock()) all.push_back(std::move(c));
      }
    }
    for (auto& c : all) c->close();
    all.clear();
    for (auto& ioc : iocs) ioc->stop();
  }
  for (auto& t : threads) t.join();
  threads.clear();
  {
    std::vector<std::shared_ptr<connection_base>> rest;
    {
      std::lock_guard lock(mu);
      for (auto& [id, w] : connections) {
        if (auto c = w.lock()) rest.push_back(std::move(c));
      }
    }
    for (auto& c : rest) c->release();
  }
  // Destroying the io_context destroys the handlers still queued, and with them the connections.
  tls_acceptor.reset();
  plain_acceptor.reset();
  iocs.clear();
}

// ---------------------------------------------------------------------------

result<std::unique_ptr<server>> server::start(rill::kinesis& kinesis, server_options options) {
  if (options.io_threads < 1) return error(error_code::invalid_argument_exception, "io_threads must be at least 1");
  if (options.limits.idle_timeout <= duration(0) || options.limits.read_timeout <= duration(0)) {
    return error(error_code::invalid_argument_exception, "timeouts must be positive");
  }
  std::shared_ptr<rill::clock> clock = options.clock ? options.clock : std::make_shared<system_clock>();
  auto p = std::make_unique<impl>(kinesis, std::move(options), clock);
  for (int i = 0; i < p->opt.io_threads; ++i) p->iocs.push_back(std::make_unique<asio::io_context>(1));

  boost::system::error_code ec;
  auto address = asio::ip::make_address(p->opt.host, ec);
  if (ec) return error(error_code::invalid_argument_exception, "invalid host address: " + p->opt.host);

  auto listen = [&](std::optional<tcp::acceptor>& acc, std::uint16_t port) -> std::optional<error> {
    acc.emplace(*p->iocs.front());
    tcp::endpoint ep(address, port);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return error(error_code::internal_failure,
                   "cannot listen on " + p->opt.host + ":" + std::to_string(port) + ": " + ec.message());
    }
    return std::nullopt;
  };

  if (auto e = listen(p->plain_acceptor, p->opt.port)) return *e;
  p->plain_port = p->plain_acceptor->local_endpoint().port();

  if (p->opt.tls) {
    p->ssl.emplace(asio::ssl::context::tls_server);
    p->ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    if (p->opt.tls_certificate_file.empty() != p->opt.tls_private_key_file.empty()) {
      return error(error_code::invalid_argument_exception,
                   "give both tls_certificate_file and tls_private_key_file, or neither");
    }
    if (p->opt.tls_certificate_file.empty()) {
      auto pems = wire::make_self_signed_certificate(clock->now());
      if (!pems) return pems.error();
      p->certificate_pem = pems->certificate;
      p->ssl->use_certificate_chain(asio::buffer(pems->certificate), ec);
      if (!ec) p->ssl->use_private_key(asio::buffer(pems->private_key), asio::ssl::context::pem, ec);
    } else {
      p->ssl->use_certificate_chain_file(p->opt.tls_certificate_file, ec);
      if (!ec) p->ssl->use_private_key_file(p->opt.tls_private_key_file, asio::ssl::context::pem, ec);
      if (!ec) {
        std::FILE* f = std::fopen(p->opt.tls_certificate_file.c_str(), "rb");
        if (f) {
          char buf[4096];
          std::size_t n;
          while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) p->certificate_pem.append(buf, n);
          std::fclose(f);
        }
      }
    }
    if (ec) return error(error_code::invalid_argument_exception, "TLS certificate or key: " + ec.message());
    SSL_CTX_set_alpn_select_cb(p->ssl->native_handle(), &select_alpn, nullptr);
    if (auto e = listen(p->tls_acceptor, p->opt.tls_port)) return *e;
    p->secure_port = p->tls_acceptor->local_endpoint().port();
  }

  p->sched = clock->make_scheduler();
  p->accept(*p->plain_acceptor, false);
  if (p->tls_acceptor) p->accept(*p->tls_acceptor, true);
  for (int i = 0; i < p->opt.io_threads; ++i) {
    p->threads.emplace_back([ioc = p->iocs[static_cast<std::size_t>(i)].get()] {
      auto guard = asio::make_work_guard(*ioc);
      ioc->run();
    });
  }
  p->schedule_sweep();
  return std::unique_ptr<server>(new server(std::move(p)));
}

server::server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
server::~server() { stop(); }
std::uint16_t server::port() const noexcept { return impl_->plain_port; }
std::uint16_t server::tls_port() const noexcept { return impl_->secure_port; }
const std::string& server::tls_certificate_pem() const noexcept { return impl_->certificate_pem; }
std::size_t server::connection_count() const noexcept { return impl_->open.load(); }
void server::stop() { impl_->stop(); }

}  // namespace rill
