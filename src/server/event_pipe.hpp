// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The streaming body of a SubscribeToShard response: a subscription of
// `rill::kinesis` in callback mode whose events are framed
// (application/vnd.amazon.eventstream) into a byte queue the transport drains.
//
//   subscription handler (delivery thread) ──frames──► queue ──take/read──► socket (io thread)
//
// Back-pressure: the bytes queued or taken but not yet written are counted;
// above `high_water` the subscription is paused (records wait in the shard, no
// thread blocks, writers never wait), below `low_water` it resumes. So a slow
// socket holds at most high_water plus one event (≤ 1 MiB of records, framed)
// in the server.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "rill/kinesis.hpp"
#include "server/codec.hpp"

namespace rill::wire {

class event_pipe : public std::enable_shared_from_this<event_pipe> {
 public:
  static constexpr std::size_t high_water = 1u << 20;
  static constexpr std::size_t low_water = 256u << 10;

  /// Subscribes (the request's handler options are replaced). On success the
  /// initial-response frame is queued and SubscribeToShardEvent frames follow;
  /// the subscription's errors (ResourceNotFound, ResourceInUse, …) are returned
  /// as they are, to be answered as an ordinary error response.
  static result<std::shared_ptr<event_pipe>> subscribe(rill::kinesis& k, subscribe_to_shard_request req, body_format f);

  explicit event_pipe(body_format f);
  ~event_pipe();
  event_pipe(const event_pipe&) = delete;
  event_pipe& operator=(const event_pipe&) = delete;

  /// Transport: `notify` is called (from any thread, possibly at once) whenever
  /// bytes are queued or the stream ends. It must not call back into the pipe
  /// synchronously with a lock held by the caller (post it instead).
  void attach(std::function<void()> notify);
  /// Takes every queued byte (HTTP/1.1). `ended`: nothing follows these bytes.
  std::string take(bool& ended);
  /// Copies up to `n` queued bytes to `buf` (HTTP/2) and counts them written.
  /// `ended`: the stream is over and everything has been read.
  std::size_t read(char* buf, std::size_t n, bool& ended);
  /// `n` bytes given out by take() have been written to the socket.
  void written(std::size_t n);
  /// The client is gone or the server stops: cancels the subscription. Call it
  /// from the transport (never from the handler). Idempotent.
  void close();

  /// Bytes queued or taken but not yet written (tests).
  [[nodiscard]] std::size_t outstanding() const;
  [[nodiscard]] bool paused() const;

 private:
  void push(std::string frame, bool last);
  void on_event(result<subscribe_to_shard_event> r);
  void on_complete();

  const body_format format_;
  mutable std::mutex mu_;
  std::string queue_;
  std::size_t head_ = 0;         // bytes of queue_ already given out
  std::size_t outstanding_ = 0;  // queued + taken, not yet written
  bool ended_ = false;           // no frame follows
  bool closed_ = false;
  bool paused_ = false;
  bool pause_wanted_ = false;  // a pause requested before the subscription was set
  std::shared_ptr<subscription> sub_;
  std::function<void()> notify_;
};

/// The payload of one SubscribeToShardEvent in a body format.
std::string write_subscribe_event(const subscribe_to_shard_event& ev, body_format f);

}  // namespace rill::wire
