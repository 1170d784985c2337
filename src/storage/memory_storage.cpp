// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// In-memory shard logs. Records are packed back to back into segments
//
//   segment bytes:  [u16 key_len][key][data] [u16 key_len][key][data] …
//   segment index:  one {byte position, arrival − segment base time} per record
//
// A record's data runs to the next record's position (or to the segment's end
// of use), so its length is not stored: a stored record costs its key and
// data, two length bytes and an 8-byte index entry, and no allocation. A segment is sealed when its
// bytes are full or when an arrival no longer fits its 32-bit time delta;
// sealing shrinks its index to fit. A shard's segments start small and double
// up to the full size, so a quiet shard holds little. Trimming drops whole
// segments from the front once every record in them has expired; full-size
// ones go to the storage's pool and are reused by the next segment of any
// shard.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cassert>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "rill/storage.hpp"
#include "storage/pinnable_log.hpp"

namespace rill {
namespace {

constexpr std::size_t kHeader = 2;  // the key length, u16 little-endian
constexpr std::size_t kMaxKey = 0xFFFF;
constexpr std::size_t kPrefetch = 16;  // records read ahead of the one being decoded

std::size_t encoded_size(const log_entry& e) { return kHeader + e.partition_key.size() + e.data.size(); }

// Full-size segment buffers released by trimming and by dropped shards, kept
// for reuse up to a byte budget: a stream in its steady state (as much expiring
// as arriving) then writes into memory it already has instead of faulting in
// fresh pages. Shared by the logs of one storage.
//
// With `prefault` > 0 the pool also provisions fresh memory ahead of need: once
// the storage has used a first full-size segment (so an engine that stays small
// never pays for it), a helper thread of the pool keeps `prefault` buffers
// ready, allocated and with every page touched, so a writer that needs a new
// segment takes memory the kernel has already provided instead of taking a page
// fault every 4 KiB on its own thread. The helper reads no clock and never
// sleeps on time: it waits on a condition variable for a buffer to be taken.
class segment_pool {
 public:
  segment_pool(std::size_t segment_bytes, std::size_t max_bytes, std::size_t prefault)
      : segment_bytes_(segment_bytes),
        max_buffers_(std::max<std::size_t>(max_bytes / segment_bytes, prefault)),
        prefault_(prefault) {
    free_.reserve(std::min<std::size_t>(max_buffers_, 1024));  // (usually) no allocation under the lock
  }
  ~segment_pool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (helper_.joinable()) helper_.join();
  }
  segment_pool(const segment_pool&) = delete;
  segment_pool& operator=(const segment_pool&) = delete;

  [[nodiscard]] std::size_t segment_bytes() const noexcept { return segment_bytes_; }

  /// A buffer of segment_bytes(): pooled (recycled or prefaulted) if one is
  /// free, else new. Never waits for the helper: the pool's lock is only
  /// tried (the helper runs at idle priority and could be descheduled while
  /// holding it), and a writer that finds it taken allocates its own buffer.
  std::unique_ptr<char[]> take() {
    {
      std::unique_lock lock(mu_, std::try_to_lock);
      if (lock.owns_lock()) {
        if (prefault_ > 0 && !helper_.joinable() && !stop_) helper_ = std::thread([this] { provision(); });
        if (!free_.empty()) {
          auto b = std::move(free_.back());
          free_.pop_back();
          if (free_.size() < prefault_) cv_.notify_one();
          return b;
        }
      }
    }
    cv_.notify_one();
    return std::make_unique_for_overwrite<char[]>(segment_bytes_);
  }
  /// Returns a buffer of segment_bytes(); freed if the pool is full (or, as in
  /// take(), if its lock is taken at this moment).
  void give(std::unique_ptr<char[]> b) {
    std::unique_lock lock(mu_, std::try_to_lock);
    if (lock.owns_lock() && free_.size() < max_buffers_) free_.push_back(std::move(b));
  }

 private:
  // The helper: keeps `prefault_` buffers free, touching every page of each
  // new one before it is offered. It runs at the lowest CPU priority
  // (SCHED_IDLE on Linux), so page provisioning uses CPU time nothing else
  // wants: on a busy machine it never delays a writer, a network thread or a
  // subscriber (on 2 vCPUs it did, at its normal priority: docs/performance.md,
  // "the storage's helper"), and when it falls behind, a writer faults in its
  // own pages as with prefault 0.
  void provision() {
#ifdef __linux__
    sched_param idle{};
    (void)::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &idle);  // lowering needs no privilege
#endif
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || free_.size() < prefault_; });
      if (stop_) return;
      lock.unlock();
      auto b = std::make_unique_for_overwrite<char[]>(segment_bytes_);
      for (std::size_t i = 0; i < segment_bytes_; i += kPage) b[i] = 0;
      b[segment_bytes_ - 1] = 0;
      lock.lock();
      if (free_.size() < max_buffers_) free_.push_back(std::move(b));
    }
  }

  static constexpr std::size_t kPage = 4096;
  const std::size_t segment_bytes_;
  const std::size_t max_buffers_;
  const std::size_t prefault_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                          // guarded by mu_
  std::vector<std::unique_ptr<char[]>> free_;  // guarded by mu_
  std::thread helper_;                         // started under mu_ by the first take()
};

// The storage contract, checked in debug builds (NDEBUG unset): a log is not
// used after remove_log() for its key, and remove_log() is called once per
// created log. A violation throws std::logic_error (a broken invariant of the
// caller: harmless for memory logs, fatal for file logs).
#ifdef NDEBUG
constexpr bool kCheckContract = false;
#else
constexpr bool kCheckContract = true;
#endif

[[noreturn]] void contract_broken(const std::string& what) {
  throw std::logic_error("rill: storage contract broken: " + what);
}

class memory_log final : public shard_log, public detail::pinnable_log {
 public:
  memory_log(const memory_storage_options& o, std::shared_ptr<segment_pool> pool)
      : first_segment_bytes_(std::min(o.first_segment_bytes, o.segment_bytes)),
        segment_bytes_(o.segment_bytes),
        pool_(std::move(pool)) {}

  /// Set by the storage's remove_log() (debug builds); shared with the storage,
  /// so a log destroyed without remove_log() leaves nothing dangling.
  std::shared_ptr<std::atomic<bool>> removed = std::make_shared<std::atomic<bool>>(false);
  void check_live(const char* op) const {
    if (kCheckContract && removed->load(std::memory_order_relaxed)) {
      contract_broken(std::string(op) + "() on a log after remove_log()");
    }
  }
  ~memory_log() override {
    while (!segments_.empty()) drop_front();
  }
  memory_log(const memory_log&) = delete;
  memory_log& operator=(const memory_log&) = delete;

  result<std::uint64_t> append(std::span<const log_entry> entries, timestamp arrival) override {
    check_live("append");
    const std::int64_t t = arrival.time_since_epoch().count();
    const std::uint64_t first = end_;
    for (const auto& e : entries) {
      if (e.partition_key.size() > kMaxKey) {  // nothing appended: checked before the first write
        return error(error_code::internal_failure, "memory storage: a partition key longer than 65535 bytes");
      }
    }
    for (const auto& e : entries) {
      const std::size_t size = encoded_size(e);
      if (segments_.empty() || !segments_.back().fits(size, t)) start_segment(size, t);
      segments_.back().add(e, t);
      ++end_;
    }
    return first;
  }

  log_read_stats read(std::uint64_t from, std::size_t max_records, std::size_t max_bytes,
                      const std::function<void(std::span<const log_record>)>& visit) const override {
    check_live("read");
    log_read_stats stats;
    std::uint64_t offset = std::max(from, start_);
    stats.next_offset = offset;
    if (offset >= end_ || max_records == 0) return stats;
    // Records go to the visitor in batches, so the call is paid per batch.
    // Uninitialized slots (log_record is trivially destructible): value-
    // initializing 64 of them cost 3.5 KiB of stores per call, most of a
    // one-record read (a fan-out subscriber reading each put as it lands).
    constexpr std::size_t kBatch = 64;
    static_assert(std::is_trivially_destructible_v<log_record>);
    alignas(log_record) unsigned char slots[kBatch * sizeof(log_record)];
    std::size_t n = 0;
    auto flush = [&] {
      if (n > 0) visit(std::span<const log_record>(std::launder(reinterpret_cast<log_record*>(slots)), n));
      n = 0;
    };
    for (std::size_t si = segment_of(offset); si < segments_.size(); ++si) {
      const segment& seg = segments_[si];
      for (std::size_t i = static_cast<std::size_t>(offset - seg.base_offset); i < seg.index.size(); ++i) {
        const std::size_t pos = seg.index[i].pos;
        const std::size_t next = i + 1 < seg.index.size() ? seg.index[i + 1].pos : seg.used;
        // Reads walk memory that is rarely in cache: ask for records ahead.
        if (i + kPrefetch < seg.index.size()) {
          const char* ahead = seg.bytes.get() + seg.index[i + kPrefetch].pos;
          __builtin_prefetch(ahead);
          __builtin_prefetch(ahead + 64);
        }
        const char* p = seg.bytes.get() + pos;
        const std::size_t key_len =
            static_cast<unsigned char>(p[0]) | (static_cast<std::size_t>(static_cast<unsigned char>(p[1])) << 8);
        p += kHeader;
        const std::size_t bytes = next - pos - kHeader;  // key and data
        const std::size_t data_len = bytes - key_len;
        if (stats.records > 0 && stats.bytes + bytes > max_bytes) {
          flush();
          return stats;
        }
        ::new (slots + sizeof(log_record) * n++)
            log_record{offset, timestamp(duration(seg.base_time + seg.index[i].dt)), std::string_view(p, key_len),
                       std::string_view(p + key_len, data_len), !enc_changes_.empty() && encrypted_at(offset)};
        ++stats.records;
        stats.bytes += bytes;
        stats.next_offset = ++offset;
        if (stats.records >= max_records) {
          flush();
          return stats;
        }
        if (n == kBatch) flush();
      }
    }
    flush();
    return stats;
  }

  std::uint64_t start_offset() const noexcept override { return start_; }
  std::uint64_t end_offset() const noexcept override { return end_; }

  timestamp arrival_time(std::uint64_t offset) const override {
    assert(offset >= start_ && offset < end_);
    const segment& seg = segments_[segment_of(offset)];
    return timestamp(duration(seg.base_time + seg.index[offset - seg.base_offset].dt));
  }

  std::uint64_t offset_at_or_after(timestamp when) const override {
    const std::int64_t t = when.time_since_epoch().count();
    if (start_ == end_) return end_;
    // The first segment whose last arrival is ≥ t holds the answer.
    auto seg =
        std::partition_point(segments_.begin(), segments_.end(), [t](const segment& s) { return s.last_time() < t; });
    if (seg == segments_.end()) return end_;
    auto it = std::partition_point(seg->index.begin(), seg->index.end(), [&](const index_entry& e) {
      return seg->base_time + static_cast<std::int64_t>(e.dt) < t;
    });
    std::uint64_t offset = seg->base_offset + static_cast<std::uint64_t>(it - seg->index.begin());
    return std::max(offset, start_);
  }

  // pinnable_log: a fan-out reader copying after the shard's lock is released.
  void pin() const noexcept override { pins_.fetch_add(1, std::memory_order_relaxed); }
  void unpin() const noexcept override { pins_.fetch_sub(1, std::memory_order_release); }

  std::uint64_t trim_before(timestamp cutoff) override {
    check_live("trim_before");
    start_ = std::max(start_, offset_at_or_after(cutoff));
    // Drop leading segments that hold no stored record any more, unless a
    // reader still copies from pinned views (then a later trim drops them).
    // (Pins are taken under the shard's lock, which the caller holds exclusively.)
    if (pins_.load(std::memory_order_acquire) != 0) return start_;
    while (!segments_.empty()) {
      const segment& s = segments_.front();
      if (s.base_offset + s.index.size() > start_) break;
      drop_front();
    }
    return start_;
  }

  void set_encryption(std::string_view key_id) override {
    const bool on = !key_id.empty();
    if (on == (!enc_changes_.empty() && enc_changes_.back().second)) return;
    if (!enc_changes_.empty() && enc_changes_.back().first == end_) {
      enc_changes_.back().second = on;
    } else {
      enc_changes_.emplace_back(end_, on);
    }
  }

  std::size_t memory_bytes() const noexcept override {
    std::size_t n = 0;
    for (const auto& s : segments_) n += s.capacity + s.index.capacity() * sizeof(index_entry);
    return n;
  }

 private:
  struct index_entry {
    std::uint32_t pos;  // byte position of the record in the segment
    std::uint32_t dt;   // arrival − base_time, ms
  };

  struct segment {
    std::uint64_t base_offset = 0;
    std::int64_t base_time = 0;
    std::unique_ptr<char[]> bytes;
    std::size_t capacity = 0;
    std::size_t used = 0;
    std::vector<index_entry> index;

    bool fits(std::size_t size, std::int64_t t) const {
      return used + size <= capacity &&
             t - base_time <= static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max());
    }
    void add(const log_entry& e, std::int64_t t) {
      char* p = bytes.get() + used;
      index.push_back({static_cast<std::uint32_t>(used), static_cast<std::uint32_t>(t - base_time)});
      const std::size_t k = e.partition_key.size();
      *p++ = static_cast<char>(k & 0xFF);
      *p++ = static_cast<char>(k >> 8);
      if (!e.partition_key.empty()) std::memcpy(p, e.partition_key.data(), e.partition_key.size());
      p += e.partition_key.size();
      if (!e.data.empty()) std::memcpy(p, e.data.data(), e.data.size());
      p += e.data.size();
      used = static_cast<std::size_t>(p - bytes.get());
    }
    std::int64_t last_time() const { return base_time + static_cast<std::int64_t>(index.back().dt); }
  };

  void start_segment(std::size_t first_record_size, std::int64_t t) {
    // A segment doubles the last one only when the last one filled up: a
    // quiet shard (whose segments are sealed by the time delta, or dropped
    // whole by trimming before they fill) stays at first_segment_bytes, and a
    // busy one reaches segment_bytes. Without this rule a quiet shard's
    // segments kept doubling each time one expired.
    bool filled = false;
    if (!segments_.empty()) {
      segment& last = segments_.back();
      filled = last.used + first_record_size > last.capacity;
      last.index.shrink_to_fit();  // seal
    }
    if (next_capacity_ == 0 || segments_.empty()) {
      next_capacity_ = first_segment_bytes_;
    } else if (filled) {
      next_capacity_ = std::min(segment_bytes_, next_capacity_ * 2);
    }
    segment s;
    s.base_offset = end_;
    s.base_time = t;
    s.capacity = std::max(next_capacity_, first_record_size);
    if (s.capacity == pool_->segment_bytes()) {
      s.bytes = pool_->take();
    } else {
      s.bytes = std::make_unique_for_overwrite<char[]>(s.capacity);
    }
    segments_.push_back(std::move(s));
  }

  void drop_front() {
    segment& s = segments_.front();
    if (s.capacity == pool_->segment_bytes()) pool_->give(std::move(s.bytes));
    segments_.pop_front();
  }

  // Index of the segment holding `offset` (start_ ≤ offset < end_).
  std::size_t segment_of(std::uint64_t offset) const {
    auto it = std::partition_point(segments_.begin(), segments_.end(),
                                   [offset](const segment& s) { return s.base_offset + s.index.size() <= offset; });
    return static_cast<std::size_t>(it - segments_.begin());
  }

  // Whether the record at `offset` was appended while encryption was on.
  bool encrypted_at(std::uint64_t offset) const {
    auto it = std::partition_point(enc_changes_.begin(), enc_changes_.end(),
                                   [offset](const auto& c) { return c.first <= offset; });
    return it != enc_changes_.begin() && (it - 1)->second;
  }

  // Offsets where encryption was turned on or off (rare), in order.
  std::vector<std::pair<std::uint64_t, bool>> enc_changes_;
  std::size_t first_segment_bytes_;
  std::size_t segment_bytes_;
  std::size_t next_capacity_ = 0;
  std::shared_ptr<segment_pool> pool_;
  mutable std::atomic<int> pins_{0};  // pinnable_log
  std::deque<segment> segments_;
  std::uint64_t start_ = 0;
  std::uint64_t end_ = 0;
};

class memory_storage final : public storage {
 public:
  explicit memory_storage(memory_storage_options options) : options_(options) {
    options_.segment_bytes = std::max<std::size_t>(options_.segment_bytes, 64);
    options_.first_segment_bytes = std::max<std::size_t>(options_.first_segment_bytes, 64);
    pool_ = std::make_shared<segment_pool>(options_.segment_bytes, options_.pool_bytes, options_.prefault_segments);
  }

  result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) override {
    auto log = std::make_unique<memory_log>(options_, pool_);
    if (kCheckContract) {
      std::lock_guard lock(mu_);
      live_[{key.stream_name, key.stream_uid, key.shard.index()}] = log->removed;
    }
    return std::unique_ptr<shard_log>(std::move(log));
  }
  void remove_log(const shard_log_key& key) override {
    if (!kCheckContract) return;
    std::lock_guard lock(mu_);
    auto it = live_.find({key.stream_name, key.stream_uid, key.shard.index()});
    if (it == live_.end()) {
      contract_broken("remove_log() twice (or never created) for " + key.stream_name + "/" + key.shard.to_string());
    }
    it->second->store(true, std::memory_order_relaxed);
    live_.erase(it);
  }

 private:
  memory_storage_options options_;
  // Debug builds: the logs created and not yet removed, by key (their "removed" flags).
  std::mutex mu_;
  std::map<std::tuple<std::string, std::uint64_t, std::uint32_t>, std::shared_ptr<std::atomic<bool>>> live_;
  std::shared_ptr<segment_pool> pool_;
};

}  // namespace

std::shared_ptr<storage> make_memory_storage(memory_storage_options options) {
  return std::make_shared<memory_storage>(options);
}

}  // namespace rill
