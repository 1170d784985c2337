// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Enhanced fan-out inside the engine: registered consumers and the
// subscriptions of SubscribeToShard. See docs/fanout.md.
//
// The put path touches this file through one hook: after a shard's records are
// appended (and its lock released), `if (sh.fanout.armed()) hub.notify(sh)`.
// notify() only bumps each subscriber's signal counter and wakes it (a pull()
// waiter's condition variable; a callback subscriber is queued to the hub's
// delivery pool, or on a manual clock gets a delivery task); records
// are read from the shard by the subscriber, at its own pace. The writer never
// waits for a subscriber.
//
// Locks, in order: engine control_mu / stream and shard locks (engine_impl.hpp)
// → fanout_hub::mu → shard_subscribers::mu → fanout_subscription::mu
// → delivery_pool::mu.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "rill/clock.hpp"
#include "rill/engine.hpp"

namespace rill::detail {

struct shard_state;
struct stream_state;
class fanout_subscription;
class delivery_pool;
class event_buffer_pool;

/// The subscribers of one shard (a member of shard_state).
struct shard_subscribers {
  std::atomic<std::int32_t> count{0};
  std::mutex mu;
  std::vector<fanout_subscription*> subs;  // guarded by mu
  [[nodiscard]] bool armed() const noexcept { return count.load(std::memory_order_acquire) != 0; }
};

struct consumer_state {
  std::string name;
  std::string arn;
  std::string stream_arn;
  std::uint64_t stream_uid = 0;
  consumer_status status = consumer_status::creating;
  timestamp created{};
};

class fanout_hub {
 public:
  fanout_hub(std::shared_ptr<rill::clock> clock, fanout_options opt);
  ~fanout_hub();
  fanout_hub(const fanout_hub&) = delete;
  fanout_hub& operator=(const fanout_hub&) = delete;

  /// The put hook: wakes the shard's subscribers. Never blocks on them.
  static void notify(shard_state& sh);
  /// Consumers registered on a stream (for DescribeStreamSummary).
  std::int32_t consumer_count(std::uint64_t stream_uid) const;
  /// DeleteStream: ResourceInUseException if consumers exist and !enforce;
  /// otherwise drops them (their subscriptions end with ResourceNotFoundException).
  result<void> on_delete_stream(const stream_state& s, bool enforce);
  /// Ends every subscription (InternalFailure) and stops the timers.
  void shutdown();

  // Used by fanout.cpp.
  std::shared_ptr<rill::clock> clock;
  fanout_options opt;
  mutable std::mutex mu;
  // Consumers by stream uid, then name; guarded by mu.
  std::map<std::uint64_t, std::map<std::string, std::shared_ptr<consumer_state>>> consumers;
  struct lease {
    timestamp started{};
    std::weak_ptr<fanout_subscription> sub;
  };
  // The latest subscription per (consumer ARN, shard index); guarded by mu.
  std::map<std::pair<std::string, std::uint32_t>, lease> leases;
  std::shared_ptr<scheduler> sched;  // timers: statuses, expiry, heartbeats, pull timeouts
  bool stopped = false;              // guarded by mu
  // Runs callback subscriptions off a manual clock (made by the first one);
  // guarded by mu. See delivery_pool in fanout.cpp.
  std::shared_ptr<delivery_pool> pool;
  std::shared_ptr<delivery_pool> delivery();
  // The events' byte buffers, shared by all subscriptions (fanout.cpp).
  std::shared_ptr<event_buffer_pool> buffers;

  /// Ends the subscriptions of a consumer with `e`. Caller holds mu.
  void end_consumer_subscriptions(const std::string& consumer_arn, const error& e);
};

}  // namespace rill::detail
