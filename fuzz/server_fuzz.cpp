// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target over the endpoint's parsers of untrusted bytes: the HTTP/1.1
// request parser (Beast, as the server feeds it), the JSON and CBOR body
// decoders with the operation readers behind them (through the dispatcher, on
// an engine with a stream to hit), the event-stream frame decoder, and the
// PutRecords fast path against the generic path (same answer, or a crash).
// Build: cmake -DRILL_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...; run: rill_server_fuzz -max_total_time=60
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/asio.hpp"

#include <boost/beast/http.hpp>

#include "rill/engine.hpp"
#include "server/codec.hpp"
#include "server/eventstream.hpp"
#include "server/wire.hpp"

namespace {

struct world {
  std::shared_ptr<rill::manual_clock> clock = std::make_shared<rill::manual_clock>();
  rill::engine engine{rill::engine_options{.clock = clock}};
  rill::wire::dispatcher dispatcher{engine, {.clock = clock}};
  world() { (void)engine.create_stream({.stream_name = "s", .shard_count = 2}); }
};

world& the_world() {
  static world w;
  return w;
}

// The PutRecords fast path against the generic path: two engines fed the same
// bodies in the same order, one dispatcher with the fast paths and one without;
// any difference in the answers is a crash.
struct twin_worlds {
  std::shared_ptr<rill::manual_clock> clock_a = std::make_shared<rill::manual_clock>();
  std::shared_ptr<rill::manual_clock> clock_b = std::make_shared<rill::manual_clock>();
  rill::engine a{rill::engine_options{.clock = clock_a}};
  rill::engine b{rill::engine_options{.clock = clock_b}};
  rill::wire::dispatcher fast{a, {.clock = clock_a}};
  rill::wire::dispatcher generic{b, {.clock = clock_b, .fast_paths = false}};
  std::uint64_t calls = 0;
  twin_worlds() {
    (void)a.create_stream({.stream_name = "s", .shard_count = 2});
    (void)b.create_stream({.stream_name = "s", .shard_count = 2});
  }
};

const char* const targets[] = {"PutRecord",    "PutRecords", "GetRecords",        "GetShardIterator", "ListShards",
                               "CreateStream", "SplitShard", "ListTagsForStream", "UpdateShardCount", "DescribeStream"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned mode = data[0] % 5;
  const unsigned which = data[1];
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);
  world& w = the_world();
  switch (mode) {
    case 0:
    case 1: {  // a body in JSON or CBOR for one of the operations
      rill::wire::request r;
      r.method = "POST";
      r.headers = {{"x-amz-target", std::string("Kinesis_20131202.") + targets[which % std::size(targets)]},
                   {"content-type", mode == 0 ? "application/x-amz-json-1.1" : "application/x-amz-cbor-1.1"},
                   {"authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=0"},
                   {"x-amz-date", "20240101T000000Z"}};
      r.body = in;
      (void)w.dispatcher.handle(r);
      break;
    }
    case 4: {  // a PutRecords JSON body through the fast and the generic path: the same answer
      static twin_worlds t;
      rill::wire::request r;
      r.method = "POST";
      r.headers = {{"x-amz-target", "Kinesis_20131202.PutRecords"},
                   {"content-type", "application/x-amz-json-1.1"},
                   {"authorization", "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=0"},
                   {"x-amz-date", "20240101T000000Z"}};
      r.body = in;
      auto x = t.fast.handle(r);
      auto y = t.generic.handle(r);
      if (x.status != y.status || x.body != y.body || x.content_type != y.content_type) __builtin_trap();
      if (++t.calls % 64 == 0) {  // the shards' write budgets refill alike
        t.clock_a->advance(std::chrono::seconds(1));
        t.clock_b->advance(std::chrono::seconds(1));
      }
      break;
    }
    case 2: {  // event-stream frames
      std::size_t used = 0;
      while (!in.empty()) {
        auto m = rill::wire::decode_event(in, used);
        if (!m.ok() || !m->has_value()) break;
        in.remove_prefix(used);
      }
      break;
    }
    default: {  // raw HTTP/1.1 bytes, as the server feeds them to the parser
      boost::beast::http::request_parser<boost::beast::http::string_body> p;
      p.header_limit(16 << 10);
      p.body_limit(1 << 20);
      boost::system::error_code ec;
      boost::asio::const_buffer buf(in.data(), in.size());
      while (buf.size() > 0 && !p.is_done()) {
        std::size_t used = p.put(buf, ec);
        buf += used;
        if (ec || used == 0) break;
      }
      if (!ec && p.is_done()) {
        auto msg = p.release();
        rill::wire::request r;
        r.method = std::string(msg.method_string());
        r.target = std::string(msg.target());
        for (const auto& f : msg) {
          std::string n(f.name_string());
          for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          r.headers.push_back({std::move(n), std::string(f.value())});
        }
        r.body = std::move(msg.body());
        (void)w.dispatcher.handle(r);
      }
    }
  }
  return 0;
}
