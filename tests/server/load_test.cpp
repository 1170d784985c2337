// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// A bounded load test on loopback: well-behaved clients on keep-alive
// connections (HTTP/1.1 and h2c) alongside slow clients (a partial request and
// then nothing), abusive ones (garbage, oversize bodies, broken HTTP/2) and a
// flood beyond the connection cap. The server must answer every well-behaved
// request, refuse the rest, and shed the slow ones at the read timeout of its
// clock. Labelled `concurrency` (CI runs it under TSan too).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "clients.hpp"
#include "rill/engine.hpp"
#include "rill/server.hpp"
#include "seed.hpp"
#include "wire_fixture.hpp"

namespace rill::testing {
namespace {

using namespace std::chrono_literals;

TEST(Load, ServerStaysUpAndAnswersWellBehavedClientsUnderAbuse) {
  auto clock = std::make_shared<manual_clock>();
  rill::engine engine({.clock = clock});
  ASSERT_TRUE(engine.create_stream({.stream_name = "load", .shard_count = 4}).ok());
  auto metrics = std::make_shared<metrics_registry>(clock);
  auto refused_so_far = [&] {
    double sum = 0;
    for (const auto& d :
         metrics->get("rill/Server", "ConnectionsRefused", {}, timestamp{}, timestamp::max()).datapoints) {
      sum += d.sum;
    }
    return static_cast<int>(sum);
  };
  auto started = server::start(engine, {.io_threads = 2,
                                        .clock = clock,
                                        .limits = {.max_body_bytes = 1u << 20,
                                                   .max_control_body_bytes = 64u << 10,
                                                   .max_connections = 40,
                                                   .idle_timeout = 3600s,
                                                   .read_timeout = 5s},
                                        .metrics = metrics});
  ASSERT_TRUE(started.ok()) << started.error();
  auto& srv = **started;
  const std::uint16_t port = srv.port();

  // Slow clients first: each holds a connection with half a request.
  std::vector<std::unique_ptr<client_socket>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<client_socket>(port));
    slow.back()->write("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Tar");
  }

  // Well-behaved clients.
  constexpr int good_clients = 8, requests_each = 12, records_each = 50;
  std::atomic<int> good_ok{0}, good_failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < good_clients; ++c) {
    threads.emplace_back([&, c] {
      try {
        client_socket sock(port);
        json records = json::array();
        for (int r = 0; r < records_each; ++r) {
          records.push_back({{"Data", wire::base64_encode(std::string(100, 'a' + r % 26))},
                             {"PartitionKey", std::to_string(c * 1000 + r)}});
        }
        auto req = make_request("PutRecords",
                                wire::write_body({{"StreamName", "load"}, {"Records", records}}, body_format::json));
        if (c % 2 == 0) {
          for (int i = 0; i < requests_each; ++i) {
            auto rep = sock.http1(req);
            (rep.status == 200 ? good_ok : good_failed)++;
          }
        } else {
          h2_client h2(sock);
          auto reps = h2.send(std::vector<wire::request>(requests_each, req));
          for (const auto& rep : reps) (rep.status == 200 ? good_ok : good_failed)++;
        }
      } catch (const std::exception&) {
        good_failed += requests_each;
      }
    });
  }

  // Abusive clients, concurrently.
  std::atomic<int> abusive_answered{0};
  for (int a = 0; a < 8; ++a) {
    threads.emplace_back([&, a] {
      try {
        client_socket sock(port);
        switch (a % 4) {
          case 0: sock.write("GARBAGE\r\n\r\n"); break;
          case 1:
            sock.write(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Kinesis_20131202.PutRecords\r\n"
                "Content-Length: 999999999\r\n\r\n");
            break;
          case 2: sock.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff"); break;
          default: sock.write(std::string(70000, 'A'));  // a header line longer than the header limit
        }
        sock.read_to_eof();  // the server answers (or not) and closes
        abusive_answered++;
      } catch (const std::exception&) {
        abusive_answered++;  // reset by the server: also a refusal
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good_failed.load(), 0);
  EXPECT_EQ(good_ok.load(), good_clients * requests_each);
  EXPECT_EQ(abusive_answered.load(), 8);

  // A flood beyond the cap (the slow clients still hold 8 connections): every
  // connection either gets its answer or is closed unanswered, and at least the
  // 8 past the cap are closed.
  // Wait (on the server's state, not on time) until only the slow connections
  // remain, then until the flood has filled the cap.
  while (srv.connection_count() > 8) std::this_thread::yield();
  std::vector<std::unique_ptr<client_socket>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<client_socket>(port));
  while (srv.connection_count() < 40 || refused_so_far() < 8) std::this_thread::yield();
  int refused = 0, answered = 0;
  for (auto& f : flood) {
    std::string reply;
    try {
      f->write("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      reply = f->read_to_eof();
    } catch (const std::exception&) {
    }
    (reply.empty() ? refused : answered)++;
  }
  EXPECT_EQ(refused, 8);
  EXPECT_EQ(refused + answered, 40);
  flood.clear();

  // The slow clients are cut at the read timeout, measured on the server's clock.
  std::atomic<bool> done{false};
  std::thread driver([&] {
    while (!done.load()) {
      clock->advance(1s);
      std::this_thread::yield();
    }
  });
  for (auto& s : slow) EXPECT_EQ(s->read_to_eof(), "");
  done = true;
  driver.join();

  // Still serving.
  client_socket after(port);
  EXPECT_EQ(after.http1(make_request("ListStreams", "{}")).status, 200u);
  auto summary = engine.describe_stream_summary({.stream_name = "load"});
  ASSERT_TRUE(summary.ok());
}

}  // namespace
}  // namespace rill::testing
