// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out over the wire: the consumer operations, and SubscribeToShard as
// an application/vnd.amazon.eventstream response (initial-response, then
// SubscribeToShardEvent frames, exception frames; the 5-minute end, the 5 s
// takeover, ChildShards at the end of a split shard, back-pressure from a slow
// reader), at the dispatcher and over HTTP/1.1 (chunked), h2c and h2 over TLS.
// The engine runs on a manual clock: events are delivered inside advance().
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "clients.hpp"
#include "rill/engine.hpp"
#include "rill/server.hpp"
#include "server/event_pipe.hpp"
#include "server/eventstream.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

std::vector<wire::event_message> decode_all(std::string_view bytes, std::string* rest = nullptr) {
  std::vector<wire::event_message> out;
  while (!bytes.empty()) {
    std::size_t used = 0;
    auto m = wire::decode_event(bytes, used);
    EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
    if (!m.ok() || !m->has_value()) break;
    out.push_back(std::move(**m));
    bytes.remove_prefix(used);
  }
  if (rest) *rest = std::string(bytes);
  return out;
}

json payload_of(const wire::event_message& m) {
  const std::string* ct = m.header(":content-type");
  auto f = ct && *ct == "application/x-amz-cbor-1.1" ? body_format::cbor : body_format::json;
  auto t = wire::parse_body(m.payload, f);
  return t ? *t : json("<unparseable>");
}

std::string type_of(const wire::event_message& m) {
  if (const std::string* e = m.header(":event-type")) return *e;
  if (const std::string* e = m.header(":exception-type")) return "!" + *e;
  return "?";
}

// A stream with one shard and an ACTIVE consumer, through the wire operations.
struct fanout_fixture : wire_fixture {
  explicit fanout_fixture(body_format fmt = body_format::json) : f(fmt) {
    EXPECT_TRUE(engine->create_stream({.stream_name = "s", .shard_count = 1}).ok());
    stream_arn = ok("DescribeStreamSummary", {{"StreamName", "s"}}, f)["StreamDescriptionSummary"]["StreamARN"];
    auto c = ok("RegisterStreamConsumer", {{"StreamARN", stream_arn}, {"ConsumerName", "app"}}, f);
    consumer_arn = c["Consumer"]["ConsumerARN"];
  }

  wire::response subscribe(json position = {{"Type", "TRIM_HORIZON"}}) const {
    return call("SubscribeToShard",
                {{"ConsumerARN", consumer_arn}, {"ShardId", "shardId-000000000000"}, {"StartingPosition", position}},
                f);
  }

  void put(int n, int first = 0, std::size_t size = 8) const {
    for (int i = first; i < first + n; ++i) {
      std::string data = "r" + std::to_string(i);
      data.resize(std::max(size, data.size()), '.');
      ASSERT_TRUE(engine->put_record({.stream_name = "s", .data = data, .partition_key = "k"}).ok());
    }
  }

  body_format f;
  std::string stream_arn;
  std::string consumer_arn;
};

// Everything the pipe has now, as frames.
std::vector<wire::event_message> drain(wire::event_pipe& p, bool* ended = nullptr) {
  bool e = false;
  std::string bytes = p.take(e);
  p.written(bytes.size());
  if (ended) *ended = e;
  return decode_all(bytes);
}

// The records' data across SubscribeToShardEvent frames.
std::vector<std::string> record_data(const std::vector<wire::event_message>& frames) {
  std::vector<std::string> out;
  for (const auto& m : frames) {
    if (type_of(m) != "SubscribeToShardEvent") continue;
    const json payload = payload_of(m);
    for (const auto& r : payload["Records"]) out.push_back(blob_bytes(r["Data"]));
  }
  return out;
}

TEST(ConsumerOperations, RegisterDescribeListDeregisterInJsonAndCbor) {
  for (auto f : {body_format::json, body_format::cbor}) {
    fanout_fixture x(f);
    EXPECT_TRUE(x.consumer_arn.starts_with(x.stream_arn + "/consumer/app:")) << x.consumer_arn;
    auto d = x.ok("DescribeStreamConsumer", {{"ConsumerARN", x.consumer_arn}}, f)["ConsumerDescription"];
    EXPECT_EQ(d["ConsumerName"], "app");
    EXPECT_EQ(d["ConsumerStatus"], "ACTIVE");
    EXPECT_EQ(d["StreamARN"], x.stream_arn);
    EXPECT_TRUE(d["ConsumerCreationTimestamp"].is_number());
    auto by_name = x.ok("DescribeStreamConsumer", {{"StreamARN", x.stream_arn}, {"ConsumerName", "app"}},
                        f)["ConsumerDescription"];
    EXPECT_EQ(by_name["ConsumerARN"], x.consumer_arn);
    auto list = x.ok("ListStreamConsumers", {{"StreamARN", x.stream_arn}}, f);
    ASSERT_EQ(list["Consumers"].size(), 1u);
    EXPECT_EQ(list["Consumers"][0]["ConsumerARN"], x.consumer_arn);
    auto dup = x.call("RegisterStreamConsumer", {{"StreamARN", x.stream_arn}, {"ConsumerName", "app"}}, f);
    EXPECT_EQ(dup.status, 400u);
    EXPECT_EQ(wire_fixture::tree(dup)["__type"], "ResourceInUseException");
    auto missing = x.call("RegisterStreamConsumer", {{"ConsumerName", "b"}}, f);
    EXPECT_EQ(wire_fixture::tree(missing)["__type"], "ValidationException");
    EXPECT_EQ(wire_fixture::tree(missing)["message"],
              "1 validation error detected: Value null at 'streamARN' failed to satisfy constraint: Member must not "
              "be null");
    auto gone = x.call("DeregisterStreamConsumer", {{"ConsumerARN", x.consumer_arn}}, f);
    EXPECT_EQ(gone.status, 200u);
    EXPECT_TRUE(gone.body.empty());
    auto after = x.call("DescribeStreamConsumer", {{"ConsumerARN", x.consumer_arn}}, f);
    EXPECT_EQ(wire_fixture::tree(after)["__type"], "ResourceNotFoundException");
  }
}

TEST(SubscribeToShard, RefusalsAreOrdinaryErrorResponses) {
  fanout_fixture x;
  auto no_pos = x.call("SubscribeToShard", {{"ConsumerARN", x.consumer_arn}, {"ShardId", "shardId-000000000000"}});
  EXPECT_EQ(no_pos.status, 400u);
  EXPECT_FALSE(no_pos.stream);
  EXPECT_EQ(wire_fixture::tree(no_pos)["message"],
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must "
            "not be null");
  auto bad_type = x.subscribe({{"Type", "OLDEST"}});
  EXPECT_EQ(wire_fixture::tree(bad_type)["__type"], "ValidationException");
  auto unknown = x.call("SubscribeToShard", {{"ConsumerARN", x.stream_arn + "/consumer/other:1700000000"},
                                             {"ShardId", "shardId-000000000000"},
                                             {"StartingPosition", {{"Type", "LATEST"}}}});
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_EQ(wire_fixture::tree(unknown)["__type"], "ResourceNotFoundException");
}

TEST(SubscribeToShard, FramesCarryEveryRecordInOrderInTheRequestsFormat) {
  for (auto f : {body_format::json, body_format::cbor}) {
    fanout_fixture x(f);
    x.put(3);
    auto r = x.subscribe();
    ASSERT_EQ(r.status, 200u) << wire_fixture::tree(r).dump();
    ASSERT_TRUE(r.stream);
    EXPECT_EQ(r.content_type, "application/vnd.amazon.eventstream");
    x.clock->advance(1ms);
    x.put(4, 3);
    x.clock->advance(1ms);
    auto frames = drain(*r.stream);
    ASSERT_GE(frames.size(), 2u);
    EXPECT_EQ(type_of(frames[0]), "initial-response");
    EXPECT_EQ(*frames[0].header(":message-type"), "event");
    const std::string ct = f == body_format::cbor ? "application/x-amz-cbor-1.1" : "application/json";
    EXPECT_EQ(*frames[1].header(":content-type"), ct);
    EXPECT_EQ(record_data(frames), (std::vector<std::string>{"r0......", "r1......", "r2......", "r3......", "r4......",
                                                             "r5......", "r6......"}))
        << [&] {
             std::string all;
             for (const auto& m : frames) all += type_of(m) + " " + payload_of(m).dump() + "\n";
             return all;
           }();
    auto last = payload_of(frames.back());
    EXPECT_TRUE(last["ContinuationSequenceNumber"].is_string());
    EXPECT_EQ(last["MillisBehindLatest"], 0);
    auto rec = payload_of(frames[1])["Records"][0];
    EXPECT_EQ(rec["PartitionKey"], "k");
    EXPECT_EQ(rec["SequenceNumber"].get<std::string>().size(), 56u);
    if (f == body_format::cbor) {
      EXPECT_TRUE(rec["Data"].is_binary());
      EXPECT_TRUE(rec["ApproximateArrivalTimestamp"].is_number_integer());  // tag 1 + epoch millis
    } else {
      EXPECT_TRUE(rec["Data"].is_string());
      EXPECT_TRUE(rec["ApproximateArrivalTimestamp"].is_number());
    }
    // Heartbeats advance the continuation without data.
    auto before = last["ContinuationSequenceNumber"].get<std::string>();
    x.clock->advance(1100ms);
    auto beat = drain(*r.stream);
    ASSERT_FALSE(beat.empty());
    EXPECT_TRUE(payload_of(beat.back())["Records"].empty());
    EXPECT_NE(payload_of(beat.back())["ContinuationSequenceNumber"], before);
    r.stream->close();
  }
}

TEST(SubscribeToShard, TakeoverAfterFiveSecondsEndsTheOldStreamWithResourceInUse) {
  fanout_fixture x;
  auto first = x.subscribe({{"Type", "LATEST"}});
  ASSERT_TRUE(first.stream);
  x.clock->advance(2s);
  auto early = x.subscribe({{"Type", "LATEST"}});
  EXPECT_EQ(early.status, 400u);
  EXPECT_EQ(wire_fixture::tree(early)["__type"], "ResourceInUseException");
  x.clock->advance(3s);
  auto second = x.subscribe({{"Type", "LATEST"}});
  ASSERT_EQ(second.status, 200u);
  x.clock->advance(1ms);
  bool ended = false;
  auto frames = drain(*first.stream, &ended);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(type_of(frames.back()), "!ResourceInUseException");
  EXPECT_EQ(*frames.back().header(":message-type"), "exception");
  EXPECT_TRUE(payload_of(frames.back())["message"].is_string());
  EXPECT_TRUE(ended);
  first.stream->close();
  second.stream->close();
}

TEST(SubscribeToShard, EndsNormallyAfterFiveMinutesAndWithResourceNotFoundOnDeregister) {
  fanout_fixture x;
  auto r = x.subscribe({{"Type", "LATEST"}});
  ASSERT_TRUE(r.stream);
  x.clock->advance(5min);
  bool ended = false;
  auto frames = drain(*r.stream, &ended);
  EXPECT_TRUE(ended);
  for (const auto& m : frames) EXPECT_EQ(m.header(":exception-type"), nullptr);
  r.stream->close();

  auto again = x.subscribe({{"Type", "LATEST"}});
  ASSERT_TRUE(again.stream);
  ASSERT_EQ(x.call("DeregisterStreamConsumer", {{"ConsumerARN", x.consumer_arn}}).status, 200u);
  x.clock->advance(1ms);
  frames = drain(*again.stream, &ended);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(type_of(frames.back()), "!ResourceNotFoundException");
  EXPECT_TRUE(ended);
  again.stream->close();
}

TEST(SubscribeToShard, ChildShardsAndNoContinuationAtTheEndOfASplitShard) {
  fanout_fixture x;
  x.put(2);
  auto r = x.subscribe();
  ASSERT_TRUE(r.stream);
  ASSERT_EQ(x.call("SplitShard", {{"StreamName", "s"},
                                  {"ShardToSplit", "shardId-000000000000"},
                                  {"NewStartingHashKey", "170141183460469231731687303715884105728"}})
                .status,
            200u);
  x.clock->advance(1ms);
  bool ended = false;
  auto frames = drain(*r.stream, &ended);
  EXPECT_TRUE(ended);
  EXPECT_EQ(record_data(frames), (std::vector<std::string>{"r0......", "r1......"}));
  auto last = payload_of(frames.back());
  EXPECT_FALSE(last.contains("ContinuationSequenceNumber"));
  ASSERT_EQ(last["ChildShards"].size(), 2u);
  EXPECT_EQ(last["ChildShards"][0]["ParentShards"], json::array({"shardId-000000000000"}));
  r.stream->close();
}

TEST(SubscribeToShard, ASlowReaderPausesTheSubscriptionAndLosesNothing) {
  fanout_fixture x;
  auto r = x.subscribe();
  ASSERT_TRUE(r.stream);
  constexpr int n = 40;
  x.put(n, 0, 100 << 10);  // 4 MB: four events of at most 1 MiB of records each
  x.clock->advance(1ms);
  // One event (about 1.3 MiB framed) is over the high-water mark: delivery pauses.
  EXPECT_TRUE(r.stream->paused());
  EXPECT_LT(r.stream->outstanding(), wire::event_pipe::high_water + (3u << 19));
  std::vector<std::string> got;
  for (int round = 0; round < 20 && static_cast<int>(got.size()) < n; ++round) {
    x.put(0);
    auto part = record_data(drain(*r.stream));  // written: resumes below the low-water mark
    got.insert(got.end(), part.begin(), part.end());
    x.clock->advance(1ms);
  }
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_TRUE(got[i].starts_with("r" + std::to_string(i) + ".")) << i;
  r.stream->close();
}

// --- subscription::pause / resume (the engine's, which the pipe relies on) -------

// A callback subscription's record and heartbeat events, and its end.
struct paused_probe {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> data;
  int heartbeats = 0;
  int completes = 0;
  std::vector<std::string> errors;

  subscription_options options() {
    subscription_options o;
    o.handler = [this](result<subscribe_to_shard_event> ev) {
      std::lock_guard lock(mu);
      if (!ev) {
        errors.emplace_back(ev.error().name());
      } else if (ev->records.empty()) {
        ++heartbeats;
      } else {
        for (const auto& r : ev->records) data.emplace_back(r.data);
      }
      cv.notify_all();
    };
    o.on_complete = [this] {
      std::lock_guard lock(mu);
      ++completes;
      cv.notify_all();
    };
    return o;
  }
  template <class P>
  bool wait(P p) {  // a wall-clock bound only against a hang
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 20s, [&] { return p(); });
  }
};

// On a manual clock delivery is a task inside advance(): paused, neither records
// nor heartbeats are handed over however far time moves; resume() delivers what
// waited, in order. A paused subscription that is cancelled still completes.
TEST(SubscriptionPause, OnAManualClockRecordsAndHeartbeatsWaitForResumeButAnEndDoesNot) {
  fanout_fixture x;
  paused_probe p;
  auto sub = x.engine->subscribe_to_shard(
      {.consumer_arn = x.consumer_arn, .shard_id = "shardId-000000000000", .options = p.options()});
  ASSERT_TRUE(sub.ok()) << sub.error();
  x.put(2, 0);
  x.clock->advance(1ms);
  EXPECT_EQ(p.data.size(), 2u);
  (*sub)->pause();
  x.clock->advance(3s);
  EXPECT_EQ(p.heartbeats, 0);
  (*sub)->resume();
  x.clock->run_due();
  EXPECT_EQ(p.heartbeats, 1) << "the heartbeat that came due while paused, once";
  (*sub)->pause();
  x.put(3, 2);
  x.clock->advance(10ms);
  EXPECT_EQ(p.data.size(), 2u);
  (*sub)->resume();
  x.clock->run_due();
  ASSERT_EQ(p.data.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(p.data[i].starts_with("r" + std::to_string(i))) << i;
  (*sub)->pause();
  x.put(1, 5);
  (*sub)->cancel();  // an end while paused is delivered without a resume()
  x.clock->run_due();
  EXPECT_EQ(p.completes, 1);
  EXPECT_EQ(p.data.size(), 5u) << "the record put while paused waits in the shard";
  EXPECT_TRUE(p.errors.empty());
}

// Off a manual clock the subscription's delivery thread sleeps while paused and
// resume() wakes it; a paused subscription whose handle is dropped completes and
// its thread returns, and an engine destroyed under a paused one ends it with
// InternalFailure instead of waiting for a resume().
TEST(SubscriptionPause, OnItsDeliveryThreadAPausedPipeResumesAndEndsWhenDroppedOrDetached) {
  auto clock = std::make_shared<system_clock>();
  auto e = std::make_unique<rill::engine>(engine_options{.clock = clock});
  ASSERT_TRUE(e->create_stream({.stream_name = "s", .shard_count = 1}).ok());
  const auto arn = e->describe_stream_summary({.stream_name = "s"})->stream_description_summary.stream_arn;
  const auto consumer = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "c"})->consumer.consumer_arn;
  const auto put = [&](const std::string& d) {
    ASSERT_TRUE(e->put_record({.stream_name = "s", .data = d, .partition_key = "k"}).ok());
  };
  paused_probe p;
  auto sub = e->subscribe_to_shard({.consumer_arn = consumer,
                                    .shard_id = "shardId-000000000000",
                                    .starting_position = {.type = shard_iterator_type::trim_horizon},
                                    .options = p.options()});
  ASSERT_TRUE(sub.ok()) << sub.error();
  put("a");
  ASSERT_TRUE(p.wait([&] { return p.data.size() == 1; }));
  (*sub)->pause();
  put("b");
  put("c");
  {
    // Held back: nothing arrives within a while (a wake per put, no event).
    std::unique_lock lock(p.mu);
    EXPECT_FALSE(p.cv.wait_for(lock, 200ms, [&] { return p.data.size() > 1; }));
  }
  (*sub)->resume();
  ASSERT_TRUE(p.wait([&] { return p.data.size() == 3; }));
  EXPECT_EQ(p.data, (std::vector<std::string>{"a", "b", "c"}));
  (*sub)->pause();
  sub->reset();
  ASSERT_TRUE(p.wait([&] { return p.completes == 1; })) << "a dropped paused pipe completes";

  paused_probe q;  // another consumer (the first one's lease holds for 5 s)
  const auto consumer2 = e->register_stream_consumer({.stream_arn = arn, .consumer_name = "d"})->consumer.consumer_arn;
  auto held = e->subscribe_to_shard({.consumer_arn = consumer2,
                                     .shard_id = "shardId-000000000000",
                                     .starting_position = {.type = shard_iterator_type::latest},
                                     .options = q.options()});
  ASSERT_TRUE(held.ok()) << held.error();
  (*held)->pause();
  put("d");
  e.reset();  // joins the delivery thread: it must not wait for a resume()
  std::lock_guard lock(q.mu);
  EXPECT_EQ(q.errors, std::vector<std::string>{"InternalFailure"});
  EXPECT_TRUE(q.data.empty());
}

// --- over the transports ---------------------------------------------------------

struct served_fanout {
  served_fanout() {
    engine = std::make_unique<rill::engine>(engine_options{.clock = clock});
    auto s = server::start(*engine, {.tls = true});  // the server's own timeouts on the system clock
    if (!s) throw std::runtime_error(s.error().to_string());
    srv = std::move(*s);
    EXPECT_TRUE(engine->create_stream({.stream_name = "s", .shard_count = 1}).ok());
    auto d = engine->describe_stream_summary({.stream_name = "s"});
    stream_arn = d->stream_description_summary.stream_arn;
    consumer_arn =
        engine->register_stream_consumer({.stream_arn = stream_arn, .consumer_name = "app"})->consumer.consumer_arn;
  }
  ~served_fanout() { srv.reset(); }

  wire::request subscribe_request() const {
    return make_request("SubscribeToShard", wire::write_body({{"ConsumerARN", consumer_arn},
                                                              {"ShardId", "shardId-000000000000"},
                                                              {"StartingPosition", {{"Type", "TRIM_HORIZON"}}}},
                                                             body_format::json));
  }
  void put(int n, int first) const {
    for (int i = first; i < first + n; ++i) {
      std::string data = "w" + std::to_string(i);
      ASSERT_TRUE(engine->put_record({.stream_name = "s", .data = data, .partition_key = "k"}).ok());
    }
  }

  std::shared_ptr<manual_clock> clock = std::make_shared<manual_clock>();
  std::unique_ptr<rill::engine> engine;
  std::unique_ptr<server> srv;
  std::string stream_arn;
  std::string consumer_arn;
};

// Reads an HTTP/1.1 chunked response incrementally.
struct chunked_reader {
  explicit chunked_reader(client_socket& s) : sock(s) {}
  // The response head (status line and headers).
  std::string head() {
    while (buf.find("\r\n\r\n") == std::string::npos) {
      auto more = sock.read_some();
      if (more.empty()) return {};
      buf += more;
    }
    auto end = buf.find("\r\n\r\n") + 4;
    std::string h = buf.substr(0, end);
    buf.erase(0, end);
    return h;
  }
  // Reads chunks until `done(frames)`, or the terminal chunk (sets `finished`).
  template <class Pred>
  void until(Pred done) {
    while (!finished && !done(frames)) {
      std::size_t eol = buf.find("\r\n");
      if (eol != std::string::npos) {
        std::size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
        if (buf.size() >= eol + 2 + size + 2) {
          if (size == 0) {
            finished = true;
            buf.erase(0, eol + 4);
            break;
          }
          body += buf.substr(eol + 2, size);
          buf.erase(0, eol + 2 + size + 2);
          auto got = decode_all(body, &body);
          frames.insert(frames.end(), got.begin(), got.end());
          continue;
        }
      }
      auto more = sock.read_some();
      if (more.empty()) break;
      buf += more;
    }
  }
  client_socket& sock;
  std::string buf, body;
  std::vector<wire::event_message> frames;
  bool finished = false;
};

std::size_t count_records(const std::vector<wire::event_message>& frames) { return record_data(frames).size(); }

TEST(SubscribeOverHttp1, ChunkedEventStreamThenKeepAlive) {
  served_fanout s;
  s.put(3, 0);
  client_socket sock(s.srv->port());
  auto req = s.subscribe_request();
  bhttp::request<bhttp::string_body> r{bhttp::verb::post, "/", 11};
  for (const auto& h : req.headers) r.set(h.name, h.value);
  r.body() = req.body;
  r.prepare_payload();
  std::ostringstream os;
  os << r;
  sock.write(os.str());
  chunked_reader in(sock);
  std::string head = in.head();
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n")) << head;
  EXPECT_NE(head.find("Content-Type: application/vnd.amazon.eventstream"), std::string::npos);
  EXPECT_NE(head.find("Transfer-Encoding: chunked"), std::string::npos);
  s.clock->advance(1ms);
  in.until([](const auto& f) { return count_records(f) >= 3; });
  s.put(2, 3);
  s.clock->advance(1ms);
  in.until([](const auto& f) { return count_records(f) >= 5; });
  EXPECT_EQ(type_of(in.frames[0]), "initial-response");
  EXPECT_EQ(record_data(in.frames), (std::vector<std::string>{"w0", "w1", "w2", "w3", "w4"}));
  s.clock->advance(5min);  // the session ends: terminal chunk, connection kept
  in.until([](const auto&) { return false; });
  EXPECT_TRUE(in.finished);
  auto list = sock.http1(make_request("ListStreams", "{}"));
  EXPECT_EQ(list.status, 200u);
}

// A streaming HTTP/2 exchange: one request, frames read as they come.
struct h2_stream_client {
  explicit h2_stream_client(client_socket& s) : sock(s) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs,
        [](nghttp2_session*, const nghttp2_frame*, const std::uint8_t* name, std::size_t namelen,
           const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) -> int {
          static_cast<h2_stream_client*>(user)->headers[std::string(reinterpret_cast<const char*>(name), namelen)] =
              std::string(reinterpret_cast<const char*>(value), valuelen);
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs,
        [](nghttp2_session*, std::uint8_t, std::int32_t, const std::uint8_t* data, std::size_t len, void* user) -> int {
          auto* c = static_cast<h2_stream_client*>(user);
          c->body.append(reinterpret_cast<const char*>(data), len);
          auto got = decode_all(c->body, &c->body);
          c->frames.insert(c->frames.end(), got.begin(), got.end());
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, std::int32_t, std::uint32_t, void* user) -> int {
          static_cast<h2_stream_client*>(user)->closed = true;
          return 0;
        });
    nghttp2_session_client_new(&session, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~h2_stream_client() { nghttp2_session_del(session); }

  void start(const wire::request& r, std::string scheme) {
    body_out = r.body;
    std::vector<std::pair<std::string, std::string>> hs = {
        {":method", "POST"}, {":scheme", scheme}, {":path", "/"}, {":authority", "localhost"}};
    for (const auto& h : r.headers) {
      if (h.name != "host") hs.emplace_back(h.name, h.value);
    }
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : hs) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(n.data()), reinterpret_cast<std::uint8_t*>(v.data()), n.size(),
                     v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider prov{};
    prov.source.ptr = this;
    prov.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len, std::uint32_t* flags,
                            nghttp2_data_source* src, void*) -> ssize_t {
      auto* c = static_cast<h2_stream_client*>(src->ptr);
      std::size_t n = std::min(len, c->body_out.size() - c->sent);
      std::memcpy(buf, c->body_out.data() + c->sent, n);
      c->sent += n;
      if (c->sent == c->body_out.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    };
    nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), &prov, nullptr);
    flush();
  }
  template <class Pred>
  void until(Pred done) {
    while (!closed && !done(frames)) {
      flush();
      std::string in = sock.read_some();
      if (in.empty()) {
        std::fprintf(stderr, "h2 client: EOF\n");
        break;
      }
      auto rv = nghttp2_session_mem_recv(session, reinterpret_cast<const std::uint8_t*>(in.data()), in.size());
      if (rv < 0) {
        std::fprintf(stderr, "h2 client: %s\n", nghttp2_strerror(static_cast<int>(rv)));
        break;
      }
    }
    flush();
  }
  void flush() {
    for (;;) {
      const std::uint8_t* data = nullptr;
      auto n = nghttp2_session_mem_send(session, &data);
      if (n <= 0) break;
      sock.write(std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)));
    }
  }

  client_socket& sock;
  nghttp2_session* session = nullptr;
  std::map<std::string, std::string> headers;
  std::string body_out, body;
  std::size_t sent = 0;
  std::vector<wire::event_message> frames;
  bool closed = false;
};

TEST(SubscribeOverHttp2, H2cAndTlsStreamsAndATakeoverEndsTheOldOne) {
  served_fanout s;
  s.put(2, 0);
  client_socket plain(s.srv->port());
  h2_stream_client a(plain);
  a.start(s.subscribe_request(), "http");
  a.until([](const auto& f) { return !f.empty(); });  // subscribed: the initial response is there
  s.clock->advance(1ms);
  a.until([](const auto& f) { return count_records(f) >= 2; });
  EXPECT_EQ(a.headers[":status"], "200");
  EXPECT_EQ(a.headers["content-type"], "application/vnd.amazon.eventstream");
  EXPECT_EQ(a.headers.count("content-length"), 0u);
  ASSERT_FALSE(a.frames.empty());
  EXPECT_EQ(type_of(a.frames[0]), "initial-response");
  EXPECT_EQ(record_data(a.frames), (std::vector<std::string>{"w0", "w1"}));

  s.clock->advance(5s);  // a newer subscription over TLS takes the pipe over
  client_socket secure(s.srv->tls_port(), "h2", s.srv->tls_certificate_pem());
  h2_stream_client b(secure);
  b.start(s.subscribe_request(), "https");
  b.until([](const auto& f) { return !f.empty(); });
  s.clock->advance(1ms);
  b.until([](const auto& f) { return count_records(f) >= 2; });
  EXPECT_EQ(record_data(b.frames), (std::vector<std::string>{"w0", "w1"}));
  a.until([](const auto&) { return false; });
  EXPECT_TRUE(a.closed);
  ASSERT_FALSE(a.frames.empty());
  EXPECT_EQ(type_of(a.frames.back()), "!ResourceInUseException");
  s.put(1, 2);
  s.clock->advance(1ms);
  b.until([](const auto& f) { return count_records(f) >= 3; });
  EXPECT_EQ(record_data(b.frames).back(), "w2");
}

}  // namespace
}  // namespace rill::testing
