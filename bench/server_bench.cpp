// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The Kinesis endpoint on loopback, with its baselines in the same run:
//   * Wire/PutRecords/<target>/threads:N   PutRecords of 500 × 100 B over HTTP/1.1
//     keep-alive from N client connections: records/s, and each connection's
//     p99 request latency (p99_us, averaged over connections); for rill also
//     process_cpu_us_per_request, the CPU of the whole process (server, engine,
//     load generator, kernel work in their calls) per request — the figure that
//     holds on a shared machine. RILL_BENCH_IO_THREADS sets the server's io
//     threads (default 2).
//   * Wire/PutRecords/rill/half-saturation/{1-generator-thread,thread-per-connection}/4
//     open-loop latency at half of the saturation rate measured first
//     (p50/p99/p999/max from each request's scheduled time); the first drives
//     all connections from one thread with ppoll, the second is the earlier
//     one-thread-per-connection generator, kept for comparison.
//     RILL_BENCH_LATE_US=N prints each request of the first slower than N µs
//     (its due time on CLOCK_MONOTONIC, for lining up with a perf sched trace).
//     Their baseline, …/half-saturation/baseline-machine-stalls: one thread per
//     vCPU reading the clock for as long as a paced phase, counting the gaps
//     (time the machine ran something else), with rill idle.
//   * Wire/GetRecords/<target>             GetRecords of up to 10,000 records.
//   targets: rill (this server), kinesalite (from npm, in bench/server/node;
//   skipped with a message when absent), and the in-process dispatcher without a
//   network (the ceiling of the wire layer).
//   * Codec/*                               decoding a PutRecords body: JSON, CBOR
//     (rill's reader), nlohmann_json's CBOR reader (tag-free input only: it
//     refuses tag 1), and libcbor's cbor_load; the fast path's base64 decoder and
//     sequence-number writer against the code they replaced (x500: one body's worth).
// The load generator is kept cheap (it shares the cores with the server): each
// request is built once and sent with one send(); answers are read into a reused
// buffer and checked only for status 200 and "FailedRecordCount":0.
// The load generator measures latency with std::chrono::steady_clock: a
// benchmark's own stopwatch, not a component's time source.
#include <benchmark/benchmark.h>
#include <cbor.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <thread>

#include "common/asio.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>

#include "rill/engine.hpp"
#include "rill/server.hpp"
#include "server/codec.hpp"
#include "server/wire.hpp"

extern char** environ;

namespace {

namespace net = boost::asio;
using net::ip::tcp;
using rill::wire::json;

constexpr int records_per_put = 500;
constexpr int record_bytes = 100;

std::string put_records_body(const std::string& stream, rill::wire::body_format f = rill::wire::body_format::json) {
  json records = json::array();
  for (int i = 0; i < records_per_put; ++i) {
    std::string data(record_bytes, static_cast<char>('a' + i % 26));
    records.push_back({{"Data", f == rill::wire::body_format::json ? json(rill::wire::base64_encode(data))
                                                                   : rill::wire::blob_value(data)},
                       {"PartitionKey", "pk-" + std::to_string(i)}});
  }
  return rill::wire::write_body({{"StreamName", stream}, {"Records", records}}, f);
}

// --- targets -------------------------------------------------------------------

struct rill_target {
  rill::engine engine;
  std::unique_ptr<rill::server> server;
  int io_threads = 2;
  rill_target() {
    if (const char* v = std::getenv("RILL_BENCH_IO_THREADS"); v && *v) io_threads = std::atoi(v);
    auto s = rill::server::start(engine, {.io_threads = io_threads});
    if (!s) throw std::runtime_error(s.error().to_string());
    server = std::move(*s);
  }
};

rill_target& rill_server() {
  static rill_target t;
  return t;
}

// kinesalite, started once from bench/server/node (npm install there first).
struct kinesalite_target {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string why_not;
  kinesalite_target() {
    std::filesystem::path cli = std::filesystem::path(RILL_BENCH_NODE_DIR) / "node_modules/kinesalite/cli.js";
    if (!std::filesystem::exists(cli)) {
      why_not = "kinesalite not installed: (cd bench/server/node && npm install)";
      return;
    }
    port = 45000 + static_cast<std::uint16_t>(getpid() % 5000);
    std::string port_s = std::to_string(port);
    std::string cli_s = cli.string();
    const char* argv[] = {"node", cli_s.c_str(),  "--port", port_s.c_str(), "--createStreamMs",
                          "0",    "--shardLimit", "1000",   nullptr};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, "node", &fa, nullptr, const_cast<char* const*>(argv), environ) != 0) {
      why_not = "cannot start node";
      pid = -1;
      return;
    }
    // Wait until it accepts connections.
    for (int i = 0; i < 200; ++i) {
      try {
        net::io_context ioc;
        tcp::socket s(ioc);
        s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
        return;
      } catch (const std::exception&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    why_not = "kinesalite did not start";
  }
  ~kinesalite_target() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

kinesalite_target& kinesalite() {
  static kinesalite_target t;
  return t;
}

// The head of an HTTP/1.1 answer in buf[0, have): false while it is incomplete;
// then its status, the end of the head and the end of the body (from
// Content-Length, which both servers send). Cheap on purpose: no header map.
bool parse_head(std::string_view v, std::size_t& header_end, std::size_t& need, unsigned& status) {
  auto end = v.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  header_end = end + 4;
  std::string_view head = v.substr(0, header_end);
  if (head.size() < 12) throw std::runtime_error("bad status line");
  status = static_cast<unsigned>(std::atoi(std::string(head.substr(9, 3)).c_str()));
  std::size_t cl = std::string_view::npos;
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
    std::string_view name = head.substr(at + 2, 15);
    if (boost::beast::iequals(boost::beast::string_view(name.data(), name.size()), "content-length:")) {
      cl = static_cast<std::size_t>(std::strtoull(head.data() + at + 17, nullptr, 10));
      break;
    }
  }
  if (cl == std::string_view::npos) throw std::runtime_error("response without Content-Length");
  need = header_end + cl;
  return true;
}

// One keep-alive HTTP/1.1 connection, a deliberately cheap client: it shares
// the two cores with the server, so every microsecond it spends is one the
// server does not get. A request is built once (request line, headers and body
// in one buffer) and sent with one write; the response is read into a reused
// buffer in reads of up to 256 KiB (Beast's http::read on a fresh flat_buffer
// read 512 bytes per recv: ~110 system calls for one PutRecords answer) and
// parsed only for its status and Content-Length (both servers send one).
class connection {
 public:
  explicit connection(std::uint16_t port) : socket_(ioc_), buf_(256 * 1024) {
    socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    socket_.set_option(tcp::no_delay(true));
    // Room for a whole request in the send buffer: one send() per request
    // instead of a partial one and a second that waits for the server to read.
    socket_.set_option(net::socket_base::send_buffer_size(1 << 20));
    socket_.set_option(net::socket_base::receive_buffer_size(1 << 20));
  }

  /// The bytes of one request.
  static std::string build(const std::string& op, const std::string& body) {
    std::string r = "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: Kinesis_20131202." + op +
                    "\r\nContent-Type: application/x-amz-json-1.1\r\n"
                    "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kinesis/aws4_request, "
                    "SignedHeaders=host, Signature=0\r\nX-Amz-Date: 20240101T000000Z\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n";
    r += body;
    return r;
  }

  /// Sends a built request and reads the response; its body stays valid until the next call.
  unsigned send(std::string_view request) {
    // send() directly: Asio's write() hands the kernel at most 64 KiB per call.
    for (std::size_t sent = 0; sent < request.size();) {
      ssize_t n = ::send(socket_.native_handle(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0) throw std::runtime_error("send failed");
      sent += static_cast<std::size_t>(n);
    }
    std::size_t have = 0, header_end = 0, need = 0;
    unsigned status = 0;
    for (;;) {
      if (have == buf_.size()) buf_.resize(buf_.size() * 2);
      have += socket_.read_some(net::buffer(buf_.data() + have, buf_.size() - have));
      if (header_end == 0 && !parse_head(std::string_view(buf_.data(), have), header_end, need, status)) continue;
      if (buf_.size() < need) buf_.resize(need);
      if (have >= need) break;
    }
    body_ = std::string_view(buf_.data() + header_end, need - header_end);
    return status;
  }

  [[nodiscard]] std::string_view body() const { return body_; }

  std::pair<unsigned, std::string> call(const std::string& op, const std::string& body) {
    unsigned status = send(build(op, body));
    return {status, std::string(body_)};
  }

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  std::vector<char> buf_;
  std::string_view body_;
};

// A PutRecords answer with every record written: status 200 and
// "FailedRecordCount":0 (rill writes it first; looked for at both ends).
bool all_written(unsigned status, std::string_view body) {
  constexpr std::string_view ok = "\"FailedRecordCount\":0";
  if (status == 200 && (body.substr(0, 64).find(ok) != std::string_view::npos ||
                        body.substr(body.size() > 64 ? body.size() - 64 : 0).find(ok) != std::string_view::npos)) {
    return true;
  }
  static std::atomic<int> shown{0};
  if (shown++ < 3) std::fprintf(stderr, "PutRecords: %u %.300s\n", status, std::string(body).c_str());
  return false;
}

std::uint16_t port_of(int target, benchmark::State& state) {
  if (target == 0) return rill_server().server->port();
  auto& k = kinesalite();
  if (!k.why_not.empty()) state.SkipWithError(k.why_not.c_str());
  return k.port;
}

void ensure_stream(std::uint16_t port, const std::string& name, int shards) {
  connection c(port);
  c.call("CreateStream", json{{"StreamName", name}, {"ShardCount", shards}}.dump());
}

// --- PutRecords ------------------------------------------------------------------

// CPU time of this process so far (every thread, user and system), in µs.
double process_cpu_us() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}

void put_records_wire(benchmark::State& state, int target) {
  std::uint16_t port = port_of(target, state);
  if (state.error_occurred()) return;
  const std::string stream = "bench-put";
  if (state.thread_index() == 0) ensure_stream(port, stream, 8);
  const std::string request = connection::build("PutRecords", put_records_body(stream));
  std::vector<double> lat_us;
  lat_us.reserve(1 << 16);
  std::unique_ptr<connection> c;
  try {
    c = std::make_unique<connection>(port);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  std::int64_t failed = 0;
  const double cpu0 = process_cpu_us();
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    unsigned status = c->send(request);
    auto t1 = std::chrono::steady_clock::now();
    lat_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
    if (!all_written(status, c->body())) ++failed;
  }
  // CPU of the whole process (server io threads, engine, load generator, and
  // the kernel's work in their system calls) per request: the figure that does
  // not depend on what else the shared machine runs. Thread 0's view of the
  // run; every thread does the same number of iterations.
  if (target == 0 && state.thread_index() == 0 && state.iterations() > 0) {  // kinesalite's CPU is node's
    state.counters["process_cpu_us_per_request"] =
        (process_cpu_us() - cpu0) / static_cast<double>(state.iterations() * state.threads());
  }
  std::sort(lat_us.begin(), lat_us.end());
  double p99 = lat_us.empty() ? 0 : lat_us[std::min(lat_us.size() - 1, lat_us.size() * 99 / 100)];
  state.counters["p99_us"] = benchmark::Counter(p99, benchmark::Counter::kAvgThreads);
  state.counters["failed"] = benchmark::Counter(static_cast<double>(failed), benchmark::Counter::kDefaults);
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * records_per_put * record_bytes);
}

void BM_PutRecords_rill(benchmark::State& s) { put_records_wire(s, 0); }
void BM_PutRecords_kinesalite(benchmark::State& s) { put_records_wire(s, 1); }
BENCHMARK(BM_PutRecords_rill)->Name("Wire/PutRecords/rill")->ThreadRange(1, 8)->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_PutRecords_kinesalite)->Name("Wire/PutRecords/kinesalite")->ThreadRange(1, 8)->UseRealTime()->MinTime(0.5);

// The same request through the dispatcher, without a network: the wire layer's ceiling.
void BM_PutRecords_dispatcher(benchmark::State& state) {
  auto& t = rill_server();
  static rill::wire::dispatcher d(t.engine, {});
  ensure_stream(t.server->port(), "bench-put", 8);
  rill::wire::request r;
  r.method = "POST";
  r.headers = {{"x-amz-target", "Kinesis_20131202.PutRecords"},
               {"content-type", "application/x-amz-json-1.1"},
               {"authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=0"},
               {"x-amz-date", "20240101T000000Z"}};
  r.body = put_records_body("bench-put");
  for (auto _ : state) {
    auto res = d.handle(r);
    benchmark::DoNotOptimize(res);
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * records_per_put * record_bytes);
}
BENCHMARK(BM_PutRecords_dispatcher)->Name("Wire/PutRecords/in-process-dispatcher")->UseRealTime()->MinTime(0.5);

// --- Latency at half of rill's own saturation rate (open loop) -----------------
//
// First the saturation rate of `conns` connections in a closed loop (one thread
// per connection, each sending its next request as soon as the answer is in),
// then the same number of connections sending at half that rate on one
// schedule: connection c's k-th request is due at start + c·interval/conns +
// k·interval, so the sends are evenly staggered. Every request's latency is
// measured from its scheduled time, so a late send counts against the result
// (no coordinated omission). Two generators for the paced phase:
//   * half-saturation/1-generator-thread/N: one thread drives all N
//     non-blocking connections with ppoll (timer slack 1 ns); a request due
//     while its connection still waits for the previous answer is queued on it
//     and sent as soon as that answer arrives (its latency still counts from
//     its scheduled time). Also reports the saturation of the same generator in
//     a closed loop (saturation_1gen_records_per_s), for comparison only: the
//     pacing uses the thread-per-connection saturation in both rows.
//   * half-saturation/thread-per-connection/N: the earlier generator, one
//     thread per connection sleeping until each send (kept for comparison: on
//     2 vCPUs its N runnable threads compete with the server's for the cores).

using sclock = std::chrono::steady_clock;
constexpr auto saturation_time = std::chrono::milliseconds(500);
constexpr auto paced_time = std::chrono::milliseconds(1500);

// Closed loop, one thread per connection: requests answered per second.
double saturation_rps_threads(std::uint16_t port, const std::string& request, int conns,
                              std::atomic<std::int64_t>& failed) {
  std::atomic<std::int64_t> requests{0};
  const auto until = sclock::now() + saturation_time;
  std::vector<std::thread> ts;
  for (int c = 0; c < conns; ++c) {
    ts.emplace_back([&] {
      connection k(port);
      while (sclock::now() < until) {
        if (unsigned st = k.send(request); !all_written(st, k.body())) ++failed;
        ++requests;
      }
    });
  }
  for (auto& t : ts) t.join();
  return static_cast<double>(requests.load()) / std::chrono::duration<double>(saturation_time).count();
}

// The event-driven load generator: N non-blocking keep-alive connections driven
// by the calling thread alone, at most one request in flight per connection
// (HTTP/1.1 without pipelining), answers parsed as `connection` does.
class event_generator {
 public:
  struct result {
    std::vector<double> lat_us;      // from each request's scheduled time to its whole answer
    std::int64_t failed = 0;         // answers other than 200 with "FailedRecordCount":0
    std::int64_t queued_behind = 0;  // requests due while their connection still waited for an answer
    std::int64_t unanswered = 0;     // still outstanding at the drain deadline
    std::vector<double>
        send_late_us;        // how late a request due on an idle connection went out: the generator's own delay
    double send_max_us = 0;  // the longest time from a request's first send() to its last byte accepted
  };

  event_generator(std::uint16_t port, int conns, std::string_view request) : request_(request) {
    for (int i = 0; i < conns; ++i) {
      auto& c = conns_.emplace_back();
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (c.fd < 0) throw std::runtime_error("socket failed");
      const int one = 1, big = 1 << 20;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);  // a whole request in one send()
      ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        throw std::runtime_error("connect failed");
      ::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK);
      c.buf.resize(256 * 1024);
    }
  }
  ~event_generator() {
    for (auto& c : conns_) ::close(c.fd);
  }
  event_generator(const event_generator&) = delete;
  event_generator& operator=(const event_generator&) = delete;

  /// Open loop: connection c's requests are due at start + c·interval/N + k·interval, for due times before `until`.
  result paced(sclock::time_point start, sclock::duration interval, sclock::time_point until) {
    return run(true, start, interval, until);
  }
  /// Closed loop until `until`: each connection sends again as soon as its answer is in. Returns requests/s.
  double saturation_rps(sclock::duration d, std::int64_t& failed) {
    const auto start = sclock::now();
    auto r = run(false, start, {}, start + d);
    failed += r.failed;
    return static_cast<double>(r.lat_us.size()) / std::chrono::duration<double>(d).count();
  }

 private:
  struct conn {
    int fd = -1;
    bool busy = false;     // the front of `due` is being sent or answered
    std::size_t sent = 0;  // bytes of the request sent so far
    sclock::time_point send_started{};
    std::deque<sclock::time_point> due{};  // scheduled times of the requests not yet answered
    std::vector<char> buf{};
    std::size_t have = 0, header_end = 0, need = 0;
    unsigned status = 0;
  };

  void start_send(conn& c) {
    c.busy = true;
    c.sent = 0;
    c.have = c.header_end = c.need = 0;
    c.send_started = sclock::now();
    pump_send(c);
  }
  void pump_send(conn& c) {
    while (c.sent < request_.size()) {
      ssize_t n = ::send(c.fd, request_.data() + c.sent, request_.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // the rest when POLLOUT says so
        throw std::runtime_error("send failed");
      }
      c.sent += static_cast<std::size_t>(n);
    }
    send_max_us_ =
        std::max(send_max_us_, std::chrono::duration<double, std::micro>(sclock::now() - c.send_started).count());
  }
  // Reads what is there; true once the whole answer is in.
  bool pump_recv(conn& c) {
    for (;;) {
      if (c.have == c.buf.size()) c.buf.resize(c.buf.size() * 2);
      ssize_t n = ::recv(c.fd, c.buf.data() + c.have, c.buf.size() - c.have, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        throw std::runtime_error("recv failed");
      }
      if (n == 0) throw std::runtime_error("server closed the connection");
      c.have += static_cast<std::size_t>(n);
      if (c.header_end == 0 && !parse_head(std::string_view(c.buf.data(), c.have), c.header_end, c.need, c.status)) {
        continue;
      }
      if (c.buf.size() < c.need) c.buf.resize(c.need);
      if (c.have >= c.need) return true;
    }
  }

  result run(bool open_loop, sclock::time_point start, sclock::duration interval, sclock::time_point until) {
    result r;
    r.lat_us.reserve(1 << 15);
    send_max_us_ = 0;
    const auto n = static_cast<std::int64_t>(conns_.size());
    std::vector<sclock::time_point> next(conns_.size());
    for (std::int64_t i = 0; i < n; ++i) next[i] = start + interval * i / n;
    if (!open_loop) {
      for (auto& c : conns_) {
        c.due.push_back(sclock::now());
        start_send(c);
      }
    }
    const auto drain_deadline = until + std::chrono::seconds(2);
    std::vector<pollfd> fds(conns_.size());
    for (;;) {
      auto now = sclock::now();
      sclock::time_point wake = sclock::time_point::max();
      bool scheduled = false, busy = false;
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if (open_loop) {
          for (; next[i] <= now && next[i] < until; next[i] += interval) {
            c.due.push_back(next[i]);
            if (c.busy) {
              ++r.queued_behind;
            } else {
              r.send_late_us.push_back(std::chrono::duration<double, std::micro>(sclock::now() - next[i]).count());
              start_send(c);
            }
          }
          if (next[i] < until) {
            scheduled = true;
            wake = std::min(wake, next[i]);
          }
        }
        busy = busy || c.busy;
        // An idle connection is left out (a negative fd), so a hang-up on it cannot spin ppoll.
        fds[i] = {c.busy ? c.fd : -1, static_cast<short>(POLLIN | (c.sent < request_.size() ? POLLOUT : 0)), 0};
      }
      if (!scheduled && !busy) break;
      if (now >= drain_deadline) {
        for (auto& c : conns_) r.unanswered += static_cast<std::int64_t>(c.due.size());
        break;
      }
      timespec ts{};
      const timespec* timeout = nullptr;
      if (scheduled) {
        auto ns = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count());
        ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
        timeout = &ts;
      } else {
        ts.tv_nsec = 100'000'000;  // the drain deadline is checked at least every 100 ms
        timeout = &ts;
      }
      if (::ppoll(fds.data(), fds.size(), timeout, nullptr) < 0 && errno != EINTR)
        throw std::runtime_error("ppoll failed");
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        auto& c = conns_[i];
        if (fds[i].revents == 0 || !c.busy) continue;
        if (c.sent < request_.size()) pump_send(c);
        if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0 || !pump_recv(c)) continue;
        const auto done = sclock::now();
        r.lat_us.push_back(std::chrono::duration<double, std::micro>(done - c.due.front()).count());
        if (open_loop && late_us_ > 0 && r.lat_us.back() > late_us_) {
          // RILL_BENCH_LATE_US: one line per slow request, with its due time on CLOCK_MONOTONIC, to line up
          // with `perf sched record -k CLOCK_MONOTONIC` (docs/performance.md, wire, fifth pass).
          std::fprintf(stderr, "late: due %.6f s (monotonic), +%.1f ms into the paced phase, %.0f us, socket %d\n",
                       std::chrono::duration<double>(c.due.front().time_since_epoch()).count(),
                       std::chrono::duration<double, std::milli>(c.due.front() - start).count(), r.lat_us.back(), c.fd);
        }
        if (!all_written(c.status, std::string_view(c.buf.data() + c.header_end, c.need - c.header_end))) ++r.failed;
        c.due.pop_front();
        c.busy = false;
        if (!open_loop && done < until) c.due.push_back(done);
        if (!c.due.empty()) start_send(c);  // a request queued behind this answer goes out now
      }
    }
    r.send_max_us = send_max_us_;
    return r;
  }

  std::string_view request_;
  std::deque<conn> conns_;
  double send_max_us_ = 0;
  const double late_us_ = std::getenv("RILL_BENCH_LATE_US") ? std::atof(std::getenv("RILL_BENCH_LATE_US")) : 0;
};

struct latency_summary {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};
latency_summary summarize(std::vector<double>& lat) {
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) {
    return lat.empty() ? 0.0
                       : lat[std::min(lat.size() - 1, static_cast<std::size_t>(q * static_cast<double>(lat.size())))];
  };
  return {pct(0.50), pct(0.99), pct(0.999), lat.empty() ? 0.0 : lat.back()};
}

void report_paced(benchmark::State& state, std::vector<double>& lat, double sat_rps, std::int64_t sent,
                  std::int64_t failed, int generator_threads) {
  const auto s = summarize(lat);
  state.counters["saturation_records_per_s"] = sat_rps * records_per_put;
  state.counters["paced_records_per_s"] =
      static_cast<double>(sent) * records_per_put / std::chrono::duration<double>(paced_time).count();
  state.counters["p50_us"] = s.p50;
  state.counters["p99_us"] = s.p99;
  state.counters["p999_us"] = s.p999;
  state.counters["max_us"] = s.max;
  state.counters["generator_threads"] = generator_threads;
  state.counters["io_threads"] = rill_server().io_threads;
  state.counters["failed"] = static_cast<double>(failed);
}

// The baseline of the p99 goal, in the same run: the machine's own stalls. One
// thread per vCPU does nothing but read the monotonic clock for as long as a
// paced phase; a gap between two readings is time that thread did not run
// because the kernel or the hypervisor ran something else. rill is not
// involved, so the gaps over 1 ms here are the stalls no server on this
// machine can avoid (docs/performance.md, wire, fifth pass).
void BM_machine_stalls(benchmark::State& state) {
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::vector<double>> gaps(n);
  for (auto _ : state) {
    const auto until = sclock::now() + paced_time;
    std::vector<std::thread> ts;
    for (unsigned i = 0; i < n; ++i) {
      ts.emplace_back([&, i] {
        auto prev = sclock::now();
        for (;;) {
          const auto t = sclock::now();
          if (t - prev > std::chrono::microseconds(500)) {
            gaps[i].push_back(std::chrono::duration<double, std::micro>(t - prev).count());
          }
          prev = t;
          if (t >= until) break;
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  std::vector<double> all;
  for (const auto& g : gaps) all.insert(all.end(), g.begin(), g.end());
  const auto over = [&](double us) {
    return static_cast<double>(std::count_if(all.begin(), all.end(), [us](double g) { return g > us; }));
  };
  state.counters["vcpus"] = n;
  state.counters["gaps_over_1ms"] = over(1000);
  state.counters["gaps_over_2ms"] = over(2000);
  state.counters["max_gap_us"] = all.empty() ? 0.0 : *std::max_element(all.begin(), all.end());
  state.counters["stalled_ms"] = std::accumulate(all.begin(), all.end(), 0.0) / 1000;
}
BENCHMARK(BM_machine_stalls)
    ->Name("Wire/PutRecords/rill/half-saturation/baseline-machine-stalls")
    ->Iterations(1)
    ->UseRealTime();

void BM_PutRecords_rill_half_load_1gen(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  const std::uint16_t port = rill_server().server->port();
  const std::string stream = "bench-paced";
  ensure_stream(port, stream, 8);
  const std::string request = connection::build("PutRecords", put_records_body(stream));
  // ppoll's wake-ups are otherwise up to 50 µs late (the default timer slack),
  // and the latency counts from the scheduled time.
  const int old_slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  // RILL_BENCH_GENERATOR_NICE=-10 (an experiment; needs CAP_SYS_NICE): the
  // generator thread's nice value, so that on 2 vCPUs its sends and its
  // timestamps are not delayed behind the server's threads. Default: unchanged.
  const pid_t tid = static_cast<pid_t>(::syscall(SYS_gettid));
  errno = 0;
  const int old_nice = ::getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
  int gen_nice = old_nice;
  if (const char* v = std::getenv("RILL_BENCH_GENERATOR_NICE"); v && *v) {
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), std::atoi(v)) == 0) gen_nice = std::atoi(v);
  }
  // RILL_BENCH_GENERATOR_FIFO=1 (an experiment; needs CAP_SYS_NICE): the
  // generator thread as SCHED_FIFO priority 1, so a due send or an arrived
  // answer preempts whatever CFS thread holds the vCPU (the kernel's RT
  // throttling still leaves CFS threads 5 %). Default: unchanged.
  bool gen_fifo = false;
  if (const char* v = std::getenv("RILL_BENCH_GENERATOR_FIFO"); v && *v == '1') {
    sched_param sp{};
    sp.sched_priority = 1;
    gen_fifo = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0;
  }
  for (auto _ : state) {
    std::atomic<std::int64_t> failed{0};
    const double sat_rps = saturation_rps_threads(port, request, conns, failed);
    event_generator g(port, conns, request);
    std::int64_t failed_1gen = 0;
    const double sat_1gen_rps = g.saturation_rps(saturation_time, failed_1gen);
    const double per_conn_rps = sat_rps / 2 / conns;
    const auto interval =
        std::chrono::duration_cast<sclock::duration>(std::chrono::duration<double>(1.0 / per_conn_rps));
    const auto start = sclock::now() + std::chrono::milliseconds(5);
    auto r = g.paced(start, interval, start + paced_time);
    const auto sent = static_cast<std::int64_t>(r.lat_us.size());
    report_paced(state, r.lat_us, sat_rps, sent, failed.load() + failed_1gen + r.failed + r.unanswered, 1);
    state.counters["saturation_1gen_records_per_s"] = sat_1gen_rps * records_per_put;
    state.counters["queued_behind"] = static_cast<double>(r.queued_behind);
    const auto late = summarize(r.send_late_us);
    state.counters["send_late_p99_us"] = late.p99;
    state.counters["send_late_max_us"] = late.max;
    state.counters["send_max_us"] = r.send_max_us;
    state.counters["generator_nice"] = gen_nice;
    state.counters["generator_fifo"] = gen_fifo ? 1 : 0;
  }
  if (old_slack > 0) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(old_slack), 0, 0, 0);
  if (gen_nice != old_nice) ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), old_nice);
  if (gen_fifo) {
    sched_param sp{};
    pthread_setschedparam(pthread_self(), SCHED_OTHER, &sp);
  }
}
BENCHMARK(BM_PutRecords_rill_half_load_1gen)
    ->Name("Wire/PutRecords/rill/half-saturation/1-generator-thread")
    ->Arg(4)
    ->Iterations(1)
    ->UseRealTime();

void BM_PutRecords_rill_half_load_threads(benchmark::State& state) {
  const int conns = static_cast<int>(state.range(0));
  const std::uint16_t port = rill_server().server->port();
  const std::string stream = "bench-paced";
  ensure_stream(port, stream, 8);
  const std::string request = connection::build("PutRecords", put_records_body(stream));
  for (auto _ : state) {
    std::atomic<std::int64_t> failed{0};
    const double sat_rps = saturation_rps_threads(port, request, conns, failed);
    const double per_conn_rps = sat_rps / 2 / conns;
    const auto interval =
        std::chrono::duration_cast<sclock::duration>(std::chrono::duration<double>(1.0 / per_conn_rps));
    std::mutex mu;
    std::vector<double> lat;
    std::atomic<std::int64_t> sent{0};
    {
      const auto start = sclock::now() + std::chrono::milliseconds(20);  // every thread connected by then
      const auto until = start + paced_time;
      std::vector<std::thread> ts;
      for (int c = 0; c < conns; ++c) {
        ts.emplace_back([&, c] {
          connection k(port);
          std::vector<double> mine;
          auto next = start + interval * c / conns;
          while (next < until) {
            std::this_thread::sleep_until(next);
            if (unsigned st = k.send(request); !all_written(st, k.body())) ++failed;
            mine.push_back(std::chrono::duration<double, std::micro>(sclock::now() - next).count());
            ++sent;
            next += interval;
          }
          std::lock_guard lock(mu);
          lat.insert(lat.end(), mine.begin(), mine.end());
        });
      }
      for (auto& t : ts) t.join();
    }
    report_paced(state, lat, sat_rps, sent.load(), failed.load(), conns);
  }
}
BENCHMARK(BM_PutRecords_rill_half_load_threads)
    ->Name("Wire/PutRecords/rill/half-saturation/thread-per-connection")
    ->Arg(4)
    ->Iterations(1)
    ->UseRealTime();

// --- GetRecords ------------------------------------------------------------------

void get_records_wire(benchmark::State& state, int target) {
  std::uint16_t port = port_of(target, state);
  if (state.error_occurred()) return;
  const std::string stream = "bench-get";
  connection c(port);
  static std::once_flag filled[2];
  std::call_once(filled[target], [&] {
    ensure_stream(port, stream, 1);
    const std::string body = put_records_body(stream);
    for (int i = 0; i < 40; ++i) c.call("PutRecords", body);  // 20,000 records
  });
  std::int64_t records = 0;
  for (auto _ : state) {
    auto [st, it] =
        c.call("GetShardIterator",
               json{{"StreamName", stream}, {"ShardId", "shardId-000000000000"}, {"ShardIteratorType", "TRIM_HORIZON"}}
                   .dump());
    auto iter = json::parse(it)["ShardIterator"].get<std::string>();
    auto [status, reply] = c.call("GetRecords", json{{"ShardIterator", iter}, {"Limit", 10000}}.dump());
    if (status != 200) {
      state.SkipWithError(("GetRecords failed: " + reply.substr(0, 200)).c_str());
      break;
    }
    // Count records without a full parse: each has one "SequenceNumber".
    std::size_t n = 0;
    for (std::size_t at = reply.find("\"SequenceNumber\""); at != std::string::npos;
         at = reply.find("\"SequenceNumber\"", at + 1)) {
      ++n;
    }
    records += static_cast<std::int64_t>(n);
  }
  state.SetItemsProcessed(records);
  state.SetBytesProcessed(records * record_bytes);
}

void BM_GetRecords_rill(benchmark::State& s) { get_records_wire(s, 0); }
void BM_GetRecords_kinesalite(benchmark::State& s) { get_records_wire(s, 1); }
BENCHMARK(BM_GetRecords_rill)->Name("Wire/GetRecords/rill")->UseRealTime()->MinTime(0.5);
BENCHMARK(BM_GetRecords_kinesalite)->Name("Wire/GetRecords/kinesalite")->UseRealTime()->MinTime(0.5);

// --- Codecs ----------------------------------------------------------------------

void BM_Decode_json(benchmark::State& state) {
  const std::string body = put_records_body("s", rill::wire::body_format::json);
  for (auto _ : state) benchmark::DoNotOptimize(rill::wire::parse_body(body, rill::wire::body_format::json));
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
void BM_Decode_cbor_rill(benchmark::State& state) {
  const std::string body = put_records_body("s", rill::wire::body_format::cbor);
  for (auto _ : state) benchmark::DoNotOptimize(rill::wire::parse_body(body, rill::wire::body_format::cbor));
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
void BM_Decode_cbor_nlohmann(benchmark::State& state) {
  const std::string body = put_records_body("s", rill::wire::body_format::cbor);
  for (auto _ : state) benchmark::DoNotOptimize(json::from_cbor(body, true, false));
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
void BM_Decode_cbor_libcbor(benchmark::State& state) {
  const std::string body = put_records_body("s", rill::wire::body_format::cbor);
  for (auto _ : state) {
    cbor_load_result res;
    cbor_item_t* item = cbor_load(reinterpret_cast<const unsigned char*>(body.data()), body.size(), &res);
    benchmark::DoNotOptimize(item);
    if (item) cbor_decref(&item);
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(body.size()));
}
// The PutRecords fast path's pieces against what they replaced, in one run:
// base64 of the 500 Data members (eight characters per step vs the reference's
// four), and the 500 answers' sequence numbers (Möller-Granlund division by
// 10^19 and a digit-pair table vs sequence_number::to_string's snprintf).
std::vector<std::string> bench_blobs() {
  std::vector<std::string> v;
  for (int i = 0; i < records_per_put; ++i) {
    v.push_back(rill::wire::base64_encode(std::string(record_bytes, static_cast<char>('a' + i % 26))));
  }
  return v;
}
void BM_Base64_fast(benchmark::State& state) {
  const auto blobs = bench_blobs();
  std::vector<char> out(rill::wire::base64_decode_room(200));
  for (auto _ : state) {
    for (const auto& b : blobs) benchmark::DoNotOptimize(rill::wire::base64_decode_to(b, out.data()));
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * records_per_put * static_cast<std::int64_t>(blobs[0].size()));
}
void BM_Base64_reference(benchmark::State& state) {
  const auto blobs = bench_blobs();
  for (auto _ : state) {
    for (const auto& b : blobs) benchmark::DoNotOptimize(rill::wire::base64_decode_reference(b));
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
  state.SetBytesProcessed(state.iterations() * records_per_put * static_cast<std::int64_t>(blobs[0].size()));
}
std::vector<rill::sequence_number> bench_sequence_numbers() {
  std::vector<rill::sequence_number> v;
  for (int i = 0; i < records_per_put; ++i) {
    v.emplace_back(1'764'500'000, static_cast<std::uint32_t>(i % 8), 1'000'000 + static_cast<std::uint64_t>(i),
                   1'764'510'000);
  }
  return v;
}
void BM_SequenceText_fast(benchmark::State& state) {
  const auto seqs = bench_sequence_numbers();
  std::string out;
  for (auto _ : state) {
    out.clear();
    rill::wire::sequence_number_writer w;
    char buf[rill::wire::max_sequence_number_digits];
    for (const auto& s : seqs) out.append(buf, static_cast<std::size_t>(w.write(s, buf) - buf));
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
}
void BM_SequenceText_to_string(benchmark::State& state) {
  const auto seqs = bench_sequence_numbers();
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& s : seqs) out += s.to_string();
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations() * records_per_put);
}
BENCHMARK(BM_Base64_fast)->Name("Codec/Base64x500/fast");
BENCHMARK(BM_Base64_reference)->Name("Codec/Base64x500/reference");
BENCHMARK(BM_SequenceText_fast)->Name("Codec/SequenceNumberx500/fast");
BENCHMARK(BM_SequenceText_to_string)->Name("Codec/SequenceNumberx500/to_string");

BENCHMARK(BM_Decode_json)->Name("Codec/Decode/json");
BENCHMARK(BM_Decode_cbor_rill)->Name("Codec/Decode/cbor-rill");
BENCHMARK(BM_Decode_cbor_nlohmann)->Name("Codec/Decode/cbor-nlohmann");
BENCHMARK(BM_Decode_cbor_libcbor)->Name("Codec/Decode/cbor-libcbor");

}  // namespace

BENCHMARK_MAIN();
