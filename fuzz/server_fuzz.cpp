// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// libFuzzer target over the endpoint's parsers of untrusted bytes: the HTTP/1.1
// request parser (Beast, as the server feeds it), the JSON and CBOR body
// decoders with the operation readers behind them (through the dispatcher, on
// an engine with a stream to hit), and the event-stream frame decoder.
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

const char* const targets[] = {"PutRecord",    "PutRecords", "GetRecords",        "GetShardIterator", "ListShards",
                               "CreateStream", "SplitShard", "ListTagsForStream", "UpdateShardCount", "DescribeStream"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const unsigned mode = data[0] % 4;
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
