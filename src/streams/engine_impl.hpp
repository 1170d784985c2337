// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The engine's internal state. See docs/architecture.md for the picture.
//
// Locks, always taken in this order (never the reverse):
//   0. stream_state::control_mu  serializes the control-plane mutations of one
//                          stream (delete, reshard, retention, tags, mode, the
//                          scheduler's status transitions): its topology and
//                          control state change only under it. A long change
//                          (UpdateShardCount of thousands of shards) holds
//                          only this lock, and its stream's lock only to swap.
//   1. impl::control_mu   guards the engine-wide control state (which streams
//                          exist, the quota counters); held briefly, never for
//                          per-shard work, so no stream's change waits for
//                          another's. Never taken on the data path.
//   2. impl::streams_mu   guards the name -> stream map.
//   3. stream_state::mu   guards a stream's metadata and shard topology. Writers
//                          and readers of records take it shared; resharding
//                          takes it exclusive, so it waits for in-flight puts.
//   4. shard_state::mu    guards one shard's log: appends and trims exclusive,
//                          reads shared. Puts to different shards never share it.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/shared_mutex.hpp"
#include "common/token.hpp"
#include "rill/engine.hpp"
#include "streams/fanout.hpp"
#include "streams/faults.hpp"
#include "streams/messages.hpp"
#include "streams/metrics_store.hpp"
#include "streams/persistence.hpp"
#include "streams/rate.hpp"

namespace rill::detail {

/// Whole seconds since the epoch (the unit of the sequence-number layout).
inline std::uint64_t seconds_of(timestamp t) {
  return static_cast<std::uint64_t>(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count());
}

/// True if a token issued at `issued_ms` (ms since 1970, as sealed in the
/// token) has outlived `lifetime` at `now`. Safe for any issue time: a sealed
/// time near INT64_MIN or INT64_MAX cannot overflow the check.
inline bool token_expired(std::int64_t issued_ms, timestamp now, duration lifetime) {
  std::int64_t age = 0;
  if (__builtin_sub_overflow(now.time_since_epoch().count(), issued_ms, &age)) return issued_ms < 0;
  return age > lifetime.count();
}

struct shard_state {
  shard_state(rill::shard_id id, hash_key start, hash_key end, std::optional<rill::shard_id> parent,
              std::optional<rill::shard_id> adjacent_parent, std::uint64_t create_s, timestamp created_at,
              std::unique_ptr<shard_log> log)
      : id(id),
        start(start),
        end(end),
        parent(parent),
        adjacent_parent(adjacent_parent),
        create_s(create_s),
        created_at(created_at),
        log(std::move(log)) {}

  const rill::shard_id id;
  const hash_key start;
  const hash_key end;
  const std::optional<rill::shard_id> parent;
  const std::optional<rill::shard_id> adjacent_parent;
  /// Creation second encoded in the shard's sequence numbers.
  const std::uint64_t create_s;
  /// When the shard opened.
  const timestamp created_at;

  mutable shared_mutex mu;
  std::unique_ptr<shard_log> log;  // guarded by mu
  timestamp last_arrival{};        // guarded by mu; arrivals never go back
  shard_subscribers fanout;        // enhanced fan-out subscribers (fanout.hpp)

  // Write limits, checked and charged under mu (exclusive) as records append.
  token_bucket write_bytes;    // guarded by mu
  token_bucket write_records;  // guarded by mu

  // Read limits: readers hold mu shared, so these have their own lock.
  struct read_limits {
    std::mutex mu;
    token_bucket calls;      // GetRecords calls
    token_bucket bytes;      // GetRecords bytes; may go into debt
    token_bucket iterators;  // GetShardIterator calls
    timestamp blocked_until{};
  };
  mutable read_limits reads;

  // Bytes and records appended per minute over the last hour (for the
  // on-demand scaler), guarded by mu.
  static constexpr std::size_t kRateMinutes = 64;
  std::array<std::int64_t, kRateMinutes> rate_minute{};
  std::array<std::int64_t, kRateMinutes> rate_bytes{};
  std::array<std::int64_t, kRateMinutes> rate_records{};
  void count_write(timestamp t, std::int64_t bytes, std::int64_t records) {
    const std::int64_t m = minute_of(t);
    const std::size_t i = static_cast<std::size_t>(m) % kRateMinutes;
    if (rate_minute[i] != m) {
      rate_minute[i] = m;
      rate_bytes[i] = 0;
      rate_records[i] = 0;
    }
    rate_bytes[i] += bytes;
    rate_records[i] += records;
  }
  /// {bytes, records} appended in minute m (0 if unknown).
  [[nodiscard]] std::pair<std::int64_t, std::int64_t> written_in(std::int64_t m) const {
    const std::size_t i = static_cast<std::size_t>(m) % kRateMinutes;
    if (rate_minute[i] != m) return {0, 0};
    return {rate_bytes[i], rate_records[i]};
  }

  /// (Re)arms the buckets with `l`, full. Caller holds mu exclusive.
  void arm(const throughput_limits& l, timestamp now) {
    write_bytes = token_bucket(l.write_bytes_per_second, l.write_bytes_per_second, now);
    write_records = token_bucket(l.write_records_per_second, l.write_records_per_second, now);
    std::lock_guard lock(reads.mu);
    reads.calls = token_bucket(l.read_calls_per_second, l.read_calls_per_second, now);
    reads.bytes = token_bucket(l.read_bytes_per_second, l.read_bytes_per_second, now);
    reads.iterators = token_bucket(l.get_shard_iterator_per_second, l.get_shard_iterator_per_second, now);
    reads.blocked_until = timestamp{};
  }

  // Set once, when the shard closes, under both the stream lock and mu (exclusive).
  bool closed = false;
  timestamp closed_at{};
  std::uint64_t close_offset = 0;        // end offset at close
  std::vector<rill::shard_id> children;  // filled at close

  [[nodiscard]] sequence_number starting_sequence_number() const { return {create_s, id.index(), 0, create_s}; }
  [[nodiscard]] sequence_number ending_sequence_number() const {
    return {create_s, id.index(), sequence_number::max_index, seconds_of(closed_at)};
  }
  [[nodiscard]] sequence_number record_sequence_number(std::uint64_t offset, timestamp arrival) const {
    return {create_s, id.index(), offset + 1, seconds_of(arrival)};
  }
  [[nodiscard]] rill::hash_key_range range() const { return {start, end}; }
  /// Closed at or before the stream's expiry horizon (stream_state::horizon):
  /// gone from listings and reads.
  [[nodiscard]] bool expired(timestamp horizon) const { return closed && closed_at <= horizon; }
};

struct stream_state {
  std::uint64_t uid = 0;
  std::string name;
  std::string arn;
  timestamp created{};

  /// Serializes this stream's control-plane mutations (lock 0 of the order).
  std::mutex control_mu;
  mutable shared_mutex mu;
  // Everything below is guarded by mu.
  stream_status status = stream_status::creating;
  stream_mode mode = stream_mode::provisioned;
  std::int32_t retention_hours = 24;
  std::map<std::string, std::string> tags;
  std::set<std::string> shard_level_metrics;
  /// The same as a bit set over shard_metric, for the hot paths.
  std::uint32_t shard_metric_mask = 0;
  /// This stream's per-shard limits.
  throughput_limits limits;
  encryption_type encryption = encryption_type::none;
  std::optional<std::string> key_id;
  /// MaxRecordSizeInKiB (1024..10240). Written under mu; atomic because the
  /// put path reads it without the lock.
  std::atomic<std::int32_t> max_record_kib{1024};
  /// The resource policy (PutResourcePolicy), as given.
  std::optional<std::string> policy;
  /// Shards by index; null once expired and released.
  std::vector<std::shared_ptr<shard_state>> shards;
  /// Open shards sorted by starting hash key: they tile [0, 2^128 - 1].
  std::vector<shard_state*> open;
  /// The starting hash keys of `open`, in the same order, side by side:
  /// routing searches them without touching a shard per step (a search over
  /// 10,000 shard states cost up to 14 cache misses). index_open() rebuilds
  /// it; call it after every change of `open`.
  std::vector<hash_key> open_starts;
  void index_open() {
    open_starts.clear();
    open_starts.reserve(open.size());
    for (const shard_state* sh : open) open_starts.push_back(sh->start);
  }
  /// The position in `open` of the shard whose range holds `h`: a branchless
  /// binary search (the compiler selects with a conditional move, so a step
  /// costs no mispredicted branch), over starts that tile from 0.
  [[nodiscard]] std::size_t route(hash_key h) const {
    using u128 = hash_key::value_type;
    const hash_key* first = open_starts.data();
    const hash_key* base = first;
    std::size_t n = open_starts.size();
    const u128 key = h.value();
    while (n > 1) {
      const std::size_t half = n / 2;
      const u128 probe = base[half].value();
      base = probe <= key ? base + half : base;  // the last start <= h stays in [base, base + n)
      n -= half;
    }
    return static_cast<std::size_t>(base - first);
  }
  std::uint32_t next_index = 0;
  /// Shards asked for at creation (attached when the stream turns ACTIVE).
  std::int32_t initial_shards = 0;
  /// When the first shards opened (the stream turned ACTIVE).
  std::optional<timestamp> activated_at;
  /// Work to do when an UPDATING period ends (an accepted reshard or mode switch).
  std::function<void(std::unique_lock<detail::shared_mutex>&)> on_updated;
  /// The request of that change, for the manifest (a restart issues it again).
  std::map<std::string, std::string> pending;

  // Rolling 24-hour histories for the control-plane quotas; guarded by this
  // stream's control_mu.
  rolling_window scalings;
  rolling_window mode_switches;
  rolling_window retention_changes;

  /// Per-minute metrics; has its own lock.
  mutable stream_metrics metrics;

  /// Everything at or before this time has expired for good, whatever the
  /// retention period says now: a retention change raises it to the horizon
  /// of the old period, so an increase never makes expired data readable again.
  timestamp expired_through = timestamp::min();
  /// Leading entries of `shards` known to be null (released), where scans start.
  std::size_t released_prefix = 0;

  // What this stream contributes to the engine's quota counters (engine::impl::recount);
  // guarded by control_mu.
  std::int64_t counted_open_shards = 0;
  bool counted_on_demand = false;
  bool counted_creating = false;
  /// Shards reserved against the shard quota by a change in progress (an
  /// UpdateShardCount's peak of extra open shards until it is applied).
  std::int64_t reserved_shards = 0;
  bool removed = false;

  [[nodiscard]] duration retention() const { return std::chrono::hours(retention_hours); }
  /// The expiry horizon at `now`: records that arrived at or before it, and
  /// shards closed at or before it, have expired.
  [[nodiscard]] timestamp horizon(timestamp now) const { return std::max(expired_through, now - retention()); }
  /// The shard `id` names if it exists and has not expired, else null.
  [[nodiscard]] shard_state* live_shard(std::optional<shard_id> id, timestamp now) const {
    if (!id || id->index() >= shards.size() || !shards[id->index()]) return nullptr;
    shard_state* sh = shards[id->index()].get();
    return sh->expired(horizon(now)) ? nullptr : sh;
  }
  [[nodiscard]] where at(std::string_view account) const { return {name, account}; }
};

}  // namespace rill::detail

namespace rill {

struct engine::impl {
  explicit impl(engine_options o);

  engine_options opt;
  std::shared_ptr<rill::clock> clock;
  std::shared_ptr<rill::storage> storage;
  detail::token_codec tokens;
  std::shared_ptr<metrics_registry> registry;  // the components' metrics

  std::mutex control_mu;
  mutable detail::shared_mutex streams_mu;
  struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  // The streams by name: ordered for ListStreams, hashed for the O(1) lookup
  // of every call. Both guarded by streams_mu and always holding the same streams.
  std::map<std::string, std::shared_ptr<detail::stream_state>, std::less<>> streams;
  std::unordered_map<std::string, std::shared_ptr<detail::stream_state>, name_hash, std::equal_to<>> by_name;
  std::uint64_t next_uid = 1;  // guarded by control_mu

  // Quota counters, kept up to date by recount() so that no call scans every
  // stream; guarded by control_mu.
  std::int64_t open_shards_total = 0;      // open shards of PROVISIONED streams (CREATING: the shards asked for)
  std::int64_t reserved_shards_total = 0;  // the sum of stream_state::reserved_shards
  std::int32_t on_demand_streams = 0;      // ON_DEMAND streams
  std::int32_t creating_streams = 0;       // streams in CREATING
  /// ON_DEMAND streams by uid, for the scaler; guarded by control_mu.
  std::map<std::uint64_t, std::weak_ptr<detail::stream_state>> on_demand_set;

  detail::fault_injector faults;

  std::mutex control_rate_mu;
  std::map<std::string, detail::token_bucket, std::less<>> control_rates;  // guarded by control_rate_mu

  std::unique_ptr<scheduler> sched;  // shut down first in ~engine

  // --- durable engines (persistence.cpp) ---
  std::unique_ptr<detail::persistence> persist;  // null in memory
  /// Opens opt.data_directory: lock, manifest, shard logs, orphans.
  result<void> open_durable();
  /// Issues again the changes that UPDATING streams were waiting for when the
  /// engine stopped (collected by open_durable); a change refused now is
  /// logged, and its stream stays ACTIVE.
  void resume_pending(engine& e);
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> resume;
  /// Writes s's control state to the manifest (no-op in memory). Caller holds
  /// s.mu (either mode); call it before releasing s.mu after a change.
  /// Errors: InternalFailure (the manifest could not be written; it keeps the
  /// stream's last durable state, and the error is logged).
  result<void> persist_locked(const detail::stream_state& s);
  /// Drops a stream from the manifest (before its files go). Errors as above.
  result<void> persist_erase(const detail::stream_state& s);
  /// Puts s back to its state in the manifest on disk (after a failed
  /// manifest write): fields, shards a change made (removed with their files)
  /// and shards it closed (opened again). Caller holds s's control_mu and
  /// s.mu exclusive; then, with control_mu, recount(s) (and clears s's shard
  /// reservation unless s is still UPDATING).
  void restore_durable(detail::stream_state& s);
  /// Persists a stream when a control call ends (see control_call).
  struct persist_on_exit {
    impl* d = nullptr;
    std::shared_ptr<detail::stream_state> s;
    persist_on_exit() = default;
    persist_on_exit(impl* d, std::shared_ptr<detail::stream_state> s) : d(d), s(std::move(s)) {}
    persist_on_exit(persist_on_exit&& o) noexcept : d(std::exchange(o.d, nullptr)), s(std::move(o.s)) {}
    persist_on_exit& operator=(persist_on_exit&&) = delete;
    ~persist_on_exit();
  };
  result<void> change_encryption(const stream_encryption_request& req, bool start);

  [[nodiscard]] timestamp now() const { return clock->now(); }
  [[nodiscard]] detail::where at(std::string_view stream) const { return {stream, opt.account_id}; }
  [[nodiscard]] std::string arn_of(std::string_view name) const;

  /// Validates stream_name / stream_arn and returns the stream name they name.
  result<std::string> resolve(const std::optional<std::string>& name, const std::optional<std::string>& arn) const;
  /// Adds the model-constraint failures of StreamName and StreamARN to `v`
  /// (what resolve() checks first), so an operation reports them together
  /// with its other members' failures in one ValidationException.
  static void validate_ref(detail::validation& v, const std::optional<std::string>& name,
                           const std::optional<std::string>& arn);

  /// Tags and the resource policy of registered consumers (TagResource and
  /// PutResourcePolicy on a consumer ARN), by consumer ARN. Guarded by consumer_extras_mu.
  struct resource_extras {
    std::map<std::string, std::string> tags;
    std::optional<std::string> policy;
  };
  mutable std::mutex consumer_extras_mu;
  std::map<std::string, resource_extras, std::less<>> consumer_extras;
  /// The stream, or ResourceNotFoundException.
  result<std::shared_ptr<detail::stream_state>> find(std::string_view name) const;
  /// resolve() then find().
  result<std::shared_ptr<detail::stream_state>> lookup(const std::optional<std::string>& name,
                                                       const std::optional<std::string>& arn) const;

  /// Open shards of PROVISIONED streams (the shard quota's count). Caller
  /// holds control_mu.
  std::int64_t open_shard_total() const;
  /// open_shard_total() plus the shards reserved by changes in progress: what
  /// a new shard is checked against. Caller holds control_mu.
  std::int64_t committed_shard_total() const { return open_shards_total + reserved_shards_total; }
  /// Sets s's reservation to `n` shards. Caller holds control_mu and s's control_mu.
  void reserve_shards(detail::stream_state& s, std::int64_t n) {
    reserved_shards_total += n - s.reserved_shards;
    s.reserved_shards = n;
  }
  /// ON_DEMAND streams, and the check of their quota. Caller holds control_mu.
  std::int32_t on_demand_stream_total() const;
  /// Brings the quota counters up to date with `s` after a change of its
  /// status, mode or open shards. Caller holds control_mu and s's control_mu
  /// (or s is not yet reachable). O(log streams).
  void recount(const std::shared_ptr<detail::stream_state>& s);
  result<void> check_on_demand_quota() const;
  /// Creates the initial shards of a stream and makes it ACTIVE. Caller holds
  /// control_mu and s.mu exclusive.
  void activate(detail::stream_state& s);
  /// A new shard of `s` with its log and armed limits, not yet in the stream.
  /// Caller holds s's control_mu (s.limits, s.encryption do not change under it).
  std::shared_ptr<detail::shard_state> make_shard(detail::stream_state& s, shard_id id, hash_key start, hash_key end,
                                                  std::optional<shard_id> parent, std::optional<shard_id> adjacent,
                                                  std::uint64_t create_s, timestamp now);
  /// Appends a new shard to s.shards (not to s.open). Caller holds s.mu exclusive.
  detail::shard_state* add_shard(detail::stream_state& s, hash_key start, hash_key end, std::optional<shard_id> parent,
                                 std::optional<shard_id> adjacent, std::uint64_t create_s, timestamp now);
  /// Closes `parent`s and opens children; the reshard primitive. Caller holds s.mu exclusive.
  void split(detail::stream_state& s, detail::shard_state& parent, hash_key at, timestamp now);
  void merge(detail::stream_state& s, detail::shard_state& lower, detail::shard_state& upper, timestamp now);
  void close_shard(detail::shard_state& shard, timestamp now);
  /// Replaces the open shards `first .. first + count - 1` (by position in
  /// s.open) with `with`. Caller holds s.mu exclusive. O(open shards) pointer moves.
  void replace_open(detail::stream_state& s, std::size_t first, std::size_t count,
                    std::initializer_list<detail::shard_state*> with);
  /// The position of `sh` in s.open (binary search). Caller holds s.mu.
  std::size_t open_position(const detail::stream_state& s, const detail::shard_state& sh) const;
  /// A change that begin_update runs: called with the stream's control_mu
  /// held and its lock held exclusive through `lock`; control_mu (the
  /// engine's) may or may not be held. A change may release the stream lock
  /// to prepare work that readers and writers need not wait for (the topology
  /// changes only under the stream's control_mu) and must hold it again on return.
  using update_fn = std::function<void(std::unique_lock<detail::shared_mutex>& lock)>;
  /// Runs `change` now (no delay) or after update_stream_delay with the stream
  /// UPDATING meanwhile; then (at once or when the change is applied) clears
  /// s's shard reservation and recounts. Caller holds s's control_mu, s.mu
  /// exclusive (through `lock`, released on return) and control_mu through
  /// `control` or not (taken for the recount). `pending` describes the change
  /// as its request's fields (see stream_state::pending) so that a durable
  /// engine can issue it again after a restart.
  /// Errors: InternalFailure when a change made at once could not be made
  /// durable (it is undone: restore_durable).
  [[nodiscard]] result<void> begin_update(const std::shared_ptr<detail::stream_state>& s,
                                          std::unique_lock<std::mutex>& control,
                                          std::unique_lock<detail::shared_mutex>& lock, update_fn change,
                                          std::map<std::string, std::string> pending = {});
  /// Removes a stream. Caller holds s's control_mu and control_mu (or s is not
  /// yet reachable by others).
  /// Errors: InternalFailure when the manifest could not forget it (then it
  /// stays). `durable` false: it was never in the manifest.
  result<void> remove_stream(const std::shared_ptr<detail::stream_state>& s, bool durable = true);

  result<void> change_retention(const update_retention_period_request& req, bool increase);
  result<enhanced_monitoring_result> change_monitoring(const enhanced_monitoring_request& req, bool enable);

  /// The prologue of a control-plane mutation: look the stream up, admit the
  /// call (enter()), take the stream's control_mu and control_mu, and look
  /// the stream up again under them. A call with long per-shard work releases
  /// `lock` (control_mu) and keeps `stream_lock`.
  struct control_call {
    // Declared first, so destroyed last: the stream (and its control_mu)
    // outlives the locks held on it, even when this is its last reference
    // (a deleted stream). Do not move it out of the call.
    std::shared_ptr<detail::stream_state> stream;
    std::unique_lock<std::mutex> stream_lock;  // stream->control_mu
    std::unique_lock<std::mutex> lock;         // control_mu
    persist_on_exit persisted{};               // destroyed first: writes the manifest under the stream's control_mu
  };
  /// The end of a successful control-plane mutation: writes the manifest now
  /// (instead of persist_on_exit). If that fails, the stream is put back to
  /// its durable state (restore_durable) and the call fails. Errors:
  /// InternalFailure.
  result<void> finish(control_call& call, const std::shared_ptr<detail::stream_state>& s);
  result<control_call> begin_control(std::string_view op, const std::optional<std::string>& name,
                                     const std::optional<std::string>& arn);
  /// A resource named by ARN (TagResource, the resource policies): a stream,
  /// under a control call so changes are persisted, or a registered consumer
  /// (checked through `self`), whose extras live in consumer_extras. (engine_tags.cpp)
  struct resource_ref {
    std::optional<control_call> stream;
    std::string consumer_arn;
  };
  result<resource_ref> open_resource(kinesis& self, std::string_view op, const std::string& arn);
  /// The prologue of every call: the control-plane rate for `op` (when
  /// enabled) and injected faults (fail or delay).
  result<void> enter(std::string_view op, std::string_view stream);
  /// Blocks the calling thread until the clock reaches `t` (fault delays).
  void wait_until(timestamp t);
  /// An injected delay of `d`: waits on a system clock outside scheduled
  /// tasks; on a manual clock or inside a scheduled task it is only recorded.
  void delay(std::string_view op, std::string_view stream, duration d);
  /// True when the engine runs on a manual_clock.
  bool manual = false;
  /// limits_mode::aws_report: limits are checked and reported, not enforced.
  bool report_limits = false;
  /// Whether a limit that would refuse a call is enforced. In report mode it
  /// is not: the refusal is counted (metrics registry, "rill/Limits"
  /// WouldBeThrottled) and logged at most once a minute per limit and stream,
  /// and the caller lets the call through.
  bool enforce(std::string_view limit, std::string_view stream);
  std::mutex report_mu;
  std::map<std::string, std::int64_t, std::less<>> report_logged;  // limit/stream -> minute; guarded by report_mu
  /// Injected delays recorded but not waited (manual clock, scheduled task).
  std::atomic<std::uint64_t> faults_delays_skipped{0};
  /// The last creation second given to shards (claim_create_seconds).
  std::atomic<std::uint64_t> last_create_s{0};
  /// A creation second for new shards: at least `at_least` and after every one
  /// given before, so that a sequence number names one stream incarnation:
  /// two streams (or two incarnations of a name) never share a shard's
  /// (creation second, index). Any thread, no lock.
  std::uint64_t claim_create_seconds(std::uint64_t at_least) {
    std::uint64_t last = last_create_s.load();
    std::uint64_t next = 0;
    do {
      next = std::max(at_least, last + 1);
    } while (!last_create_s.compare_exchange_weak(last, next));
    return next;
  }
  /// InternalFailure-free check that `t` fits the sequence-number layout
  /// (1970 up to the layout's year-2477 cap): else an InvalidArgumentException.
  result<void> check_clock_range(timestamp t) const;
  /// The current minute of metrics for a stream is recorded by `fn(stats&)`
  /// under the stream's metrics lock; a no-op when metrics are off.
  template <class Fn>
  void record(const detail::stream_state& s, timestamp now, Fn&& fn) const {
    if (!opt.metrics.enabled) return;
    std::lock_guard lock(s.metrics.mu);
    fn(s.metrics, detail::minute_of(now), keep_minutes());
  }
  /// A call that failed after its stream was found: Success 0, and its latency.
  void record_failure(const detail::stream_state& st, timestamp start, detail::stream_metric success,
                      detail::stream_metric latency) const;
  [[nodiscard]] std::int64_t keep_minutes() const {
    return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::minutes>(opt.metrics.window).count());
  }
  /// Splits hot shards of ON_DEMAND streams; runs every evaluation_interval.
  void scale_on_demand();
  void schedule_on_demand();

  /// Releases expired records and shards everywhere, and metric datapoints
  /// and series outside the window or of released shards.
  void trim_expired();
  void release_metrics(detail::stream_state& s, timestamp t);
  void schedule_trim();

  // Tokens.
  std::string make_iterator(const detail::stream_state& s, shard_id shard, std::uint64_t position, timestamp now) const;

  /// Enhanced fan-out (fanout.cpp); last, so it is destroyed first.
  detail::fanout_hub fanout{clock, opt.fanout};
};

}  // namespace rill
