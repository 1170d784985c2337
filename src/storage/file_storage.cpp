// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file storage: per shard, a folder of append-only segment files
//
//   <directory>/streams/<stream name>@<uid>/<shard index, 10 digits>/
//       00000000000000000000.seg   batches of records, from offset 0
//       00000000000000001234.idx   the sparse index of a sealed segment
//       00000000000000001234.seg   the active segment (the last), from offset 1234
//
// (docs/storage-format.md has the bytes). A log keeps, per segment, its offset
// range, arrival range and a sparse index (one entry per index_interval_bytes)
// in memory, and reads records with positional reads. Appends write one batch
// per call; the sync point (`sync`) implements the policies, with group commit
// for every_batch: a writer that finds another's fdatasync in progress waits
// for the mutex and then usually finds its records already durable.
#include <algorithm>
#include <atomic>
#include <cassert>
#include <charconv>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>

#include <spdlog/spdlog.h>

#include "rill/logging.hpp"
#include "rill/storage.hpp"
#include "storage/aead.hpp"
#include "storage/segment_format.hpp"

namespace rill {
namespace {

using segfmt::batch_header;
using segfmt::batch_kind;
using segfmt::index_entry;
using segfmt::kBatchHeader;
using segfmt::kFileHeader;

constexpr std::size_t kReadChunk = 256 << 10;

std::string fmt_base(std::uint64_t base) {
  char buf[21];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(base));
  return buf;
}

std::string shard_dir_name(std::uint32_t index) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "%010u", index);
  return buf;
}

bool parse_u64(std::string_view s, std::uint64_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

error corrupt(const std::string& path, std::uint64_t at, std::string_view what) {
  return error(error_code::internal_failure,
               "storage: " + path + " is corrupt at byte " + std::to_string(at) + ": " + std::string(what));
}

class file_log;

// What the logs of one storage share; outlives the storage object while logs live.
struct shared_state {
  file_storage_options opt;
  std::shared_ptr<file_system> fs;
  std::mutex logs_mu;
  std::set<file_log*> logs;  // guarded by logs_mu
};

// Reads a segment: get(pos, n) returns n bytes at pos, straight from the
// segment's mapping when there is one, else from a thread-local buffer filled
// by positional reads of kReadChunk bytes.
class chunk_reader {
 public:
  chunk_reader(const random_access_file& f, std::uint64_t limit, const char* mapped = nullptr)
      : f_(f), limit_(limit), mapped_(mapped) {}
  // nullptr with `err` set on an I/O error, or when [pos, pos+n) passes the limit.
  const char* get(std::uint64_t pos, std::size_t n, std::optional<error>& err) {
    if (pos + n > limit_ || pos + n < pos) return nullptr;
    if (mapped_) return mapped_ + pos;
    if (pos >= start_ && pos + n <= start_ + len_) return buf().data() + (pos - start_);
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(std::max(n, kReadChunk), limit_ - pos));
    auto& b = buf();
    if (b.size() < want) b.resize(want);
    auto r = f_.read(pos, want, b.data());
    if (!r) {
      err = r.error();
      len_ = 0;
      return nullptr;
    }
    start_ = pos;
    len_ = *r;
    if (len_ < n) return nullptr;
    return b.data();
  }

 private:
  static std::string& buf() {
    thread_local std::string b;
    return b;
  }
  const random_access_file& f_;
  std::uint64_t limit_;
  const char* mapped_;
  std::uint64_t start_ = 0;
  std::size_t len_ = 0;
};

// How far a segment's batches had their CRC checked in this process: bytes
// [kFileHeader, value) are whole batches that passed (by the scan at open or
// by a read). It only grows, and only over bytes just checked next to it.
// Atomic: readers share the shard lock. Copyable for the segment list.
struct verified_mark {
  std::atomic<std::uint64_t> value{kFileHeader};
  verified_mark() = default;
  verified_mark(const verified_mark& o) : value(o.value.load(std::memory_order_acquire)) {}
  verified_mark& operator=(const verified_mark& o) {
    value.store(o.value.load(std::memory_order_acquire), std::memory_order_release);
    return *this;
  }
  // [pos, next) has just been checked: extends the mark if it reaches pos.
  void extend(std::uint64_t pos, std::uint64_t next) {
    std::uint64_t cur = value.load(std::memory_order_acquire);
    while (cur >= pos && cur < next && !value.compare_exchange_weak(cur, next, std::memory_order_acq_rel)) {
    }
  }
};

struct segment {
  std::uint64_t base = 0;
  std::uint64_t end = 0;  // one past the last offset
  std::int64_t first_arrival = 0;
  std::int64_t last_arrival = 0;
  std::uint64_t size = kFileHeader;  // valid bytes
  std::uint64_t last_indexed_pos = 0;
  std::vector<index_entry> index;
  std::string path;
  mutable std::shared_ptr<random_access_file> reader;  // opened on first read, under readers_mu
  // The file mapped (bytes [0, mapped_len)), or null: set with `reader`. An
  // active segment is mapped for segment_bytes, so the mapping serves it as it
  // grows; bytes past mapped_len are read with pread.
  mutable const char* mapped = nullptr;
  mutable std::uint64_t mapped_len = 0;
  // Batches below it are not checked again by reads (see docs/storage.md, "Checksums").
  mutable verified_mark verified{};
  [[nodiscard]] bool empty() const { return end == base; }
};

// The result of scanning a segment's batches.
struct scan_result {
  std::uint64_t valid_size = kFileHeader;
  bool torn = false;  // bytes after valid_size are not a whole, valid batch
  std::string why;
};

class file_log final : public shard_log {
 public:
  file_log(std::shared_ptr<shared_state> st, std::string dir, std::string aad_prefix)
      : st_(std::move(st)), dir_(std::move(dir)), aad_prefix_(std::move(aad_prefix)) {}

  ~file_log() override {
    {
      std::lock_guard lock(st_->logs_mu);
      st_->logs.erase(this);
    }
    (void)flush();  // a clean close leaves nothing unsynced
  }
  file_log(const file_log&) = delete;
  file_log& operator=(const file_log&) = delete;

  // Recovers the log from its folder (creating it if missing).
  result<void> open(bool fresh) {
    auto& fs = *st_->fs;
    if (fresh) {
      if (auto r = fs.remove_all(dir_); !r) return r;
    }
    if (auto r = fs.create_dirs(dir_); !r) return r;
    auto names = fs.list_dir(dir_);
    if (!names) return names.error();
    std::vector<std::uint64_t> bases;
    std::set<std::uint64_t> idx;
    for (const auto& n : *names) {
      std::uint64_t b = 0;
      if (n.size() == 24 && n.ends_with(".seg") && parse_u64(std::string_view(n).substr(0, 20), b)) {
        bases.push_back(b);
      } else if (n.size() == 24 && n.ends_with(".idx") && parse_u64(std::string_view(n).substr(0, 20), b)) {
        idx.insert(b);
      } else if (n.ends_with(".tmp")) {
        (void)fs.remove(dir_ + "/" + n);
      }
    }
    std::sort(bases.begin(), bases.end());
    for (auto b : idx) {  // indexes of segments retention already deleted
      if (!std::binary_search(bases.begin(), bases.end(), b)) (void)fs.remove(idx_path(b));
    }
    if (bases.empty()) {
      if (auto r = new_segment(0); !r) return r;
      if (auto r = fs.sync_dir(dir_); !r) return r;
    } else {
      for (std::size_t i = 0; i < bases.size(); ++i) {
        const bool last = i + 1 == bases.size();
        if (auto r = recover_segment(bases[i], last, idx.contains(bases[i])); !r) return r;
        if (i > 0 && segs_[i - 1].end != segs_[i].base) {
          return error(error_code::internal_failure, "storage: " + segs_[i].path + " starts at offset " +
                                                         std::to_string(segs_[i].base) + " but the segment before " +
                                                         "ends at " + std::to_string(segs_[i - 1].end) +
                                                         " (a segment is missing)");
        }
      }
      auto f = fs.open_append(segs_.back().path);
      if (!f) return f.error();
      active_ = std::move(*f);
    }
    start_ = segs_.front().base;
    end_ = segs_.back().end;
    written_ = durable_ = end_;
    return {};
  }

  void registered() {
    std::lock_guard lock(st_->logs_mu);
    st_->logs.insert(this);
  }

  // --- writes ------------------------------------------------------------------

  result<std::uint64_t> append(std::span<const log_entry> entries, timestamp arrival) override {
    if (broken_) return *broken_;
    if (entries.empty()) return end_;
    for (const auto& e : entries) {
      if (e.partition_key.size() > 0xFFFF || e.data.size() > 0xFFFFFFFFu) {
        return error(error_code::internal_failure, "file storage: a record too large for the segment format");
      }
    }
    const std::int64_t t = arrival.time_since_epoch().count();
    batch_header h;
    h.first_offset = end_;
    h.arrival_ms = t;
    h.count = static_cast<std::uint32_t>(entries.size());
    std::string& buf = scratch();
    buf.assign(kBatchHeader, '\0');
    if (key_id_.empty()) {
      segfmt::encode_plain(entries, buf);
      h.kind = batch_kind::plain;
    } else {
      auto sealed = seal(entries, h, buf);
      if (!sealed) return sealed.error();
    }
    if (buf.size() - kBatchHeader > segfmt::kMaxPayload) {
      return error(error_code::internal_failure, "file storage: a batch larger than 256 MiB");
    }
    h.payload_len = static_cast<std::uint32_t>(buf.size() - kBatchHeader);
    segfmt::seal_batch_header(buf.data(), h);

    segment* seg = &segs_.back();
    if (!seg->empty() &&
        (seg->size + buf.size() > st_->opt.segment_bytes || t - seg->first_arrival >= st_->opt.segment_age.count())) {
      if (auto r = roll(); !r) return r.error();
      seg = &segs_.back();
    }
    const std::uint64_t pos = seg->size;
    if (auto r = active_->append(buf); !r) {
      undo_partial_write(*seg);
      return r.error();
    }
    if (seg->empty()) seg->first_arrival = t;
    if (seg->index.empty() || pos - seg->last_indexed_pos >= st_->opt.index_interval_bytes) {
      seg->index.push_back({end_, pos, t});
      seg->last_indexed_pos = pos;
    }
    seg->last_arrival = t;
    seg->size += buf.size();
    const std::uint64_t first = end_;
    end_ += entries.size();
    seg->end = end_;
    written_.store(end_, std::memory_order_release);
    return first;
  }

  result<void> sync(std::uint64_t end_offset) override {
    if (st_->opt.sync != sync_policy::every_batch) return {};
    return sync_to(end_offset);
  }

  // Syncs everything written (interval policy, close).
  result<void> flush() { return sync_to(written_.load(std::memory_order_acquire)); }

  void set_encryption(std::string_view key_id) override { key_id_ = std::string(key_id); }

  // --- reads -------------------------------------------------------------------

  log_read_stats read(std::uint64_t from, std::size_t max_records, std::size_t max_bytes,
                      const std::function<void(std::span<const log_record>)>& visit) const override {
    log_read_stats stats;
    std::uint64_t offset = std::max(from, start_);
    stats.next_offset = offset;
    if (offset >= end_ || max_records == 0) return stats;
    thread_local std::vector<log_record> batch;
    thread_local std::string plain;
    std::string cached_key_id, cached_key;
    for (std::size_t si = segment_of(offset); si < segs_.size(); ++si) {
      const segment& seg = segs_[si];
      if (seg.empty()) continue;
      auto rf = reader(seg);
      if (!rf) {
        stats.failure = rf.error();
        return stats;
      }
      chunk_reader cr(*rf->file, seg.size, seg.size <= rf->mapped_len ? rf->mapped : nullptr);
      std::uint64_t pos = index_before(seg, offset).pos;
      // Ask for the bytes this call will likely read in one go (the index gives the bytes per record),
      // rather than a page fault and a small read-ahead at a time when they are not cached.
      if (seg.size > pos && seg.end > offset) {
        const double per_record = static_cast<double>(seg.size - kFileHeader) /
                                  static_cast<double>(std::max<std::uint64_t>(1, seg.end - seg.base));
        const double want = std::min({per_record * static_cast<double>(max_records - stats.records) + kBatchHeader,
                                      static_cast<double>(max_bytes), static_cast<double>(seg.size - pos)});
        rf->file->will_need(pos, static_cast<std::size_t>(want));
      }
      while (pos < seg.size) {
        std::optional<error> err;
        const char* hp = cr.get(pos, kBatchHeader, err);
        batch_header h;
        if (!hp || !segfmt::decode_batch_header(hp, h)) {
          stats.failure = err ? *err : corrupt(seg.path, pos, "bad batch header");
          return stats;
        }
        const std::uint64_t next_pos = pos + kBatchHeader + h.payload_len;
        if (h.first_offset + h.count <= offset) {  // wholly before the start: skip unread
          pos = next_pos;
          continue;
        }
        const char* whole = cr.get(pos, kBatchHeader + h.payload_len, err);
        if (!whole) {
          stats.failure = err ? *err : corrupt(seg.path, pos, "batch runs past the end of the segment");
          return stats;
        }
        std::string_view payload(whole + kBatchHeader, h.payload_len);
        if (next_pos > seg.verified.value.load(std::memory_order_acquire)) {  // not yet checked in this process
          if (segfmt::batch_crc(whole, payload.data(), payload.size()) != h.crc) {
            stats.failure = corrupt(seg.path, pos, "checksum mismatch");
            return stats;
          }
          seg.verified.extend(pos, next_pos);
        }
        const bool encrypted = h.kind == batch_kind::aes_256_gcm;
        if (encrypted) {
          auto opened = open_sealed(whole, payload, seg.path, pos, plain, cached_key_id, cached_key);
          if (!opened) {
            stats.failure = opened.error();
            return stats;
          }
          payload = plain;
        }
        batch.clear();
        std::uint64_t o = h.first_offset;
        const timestamp arrival{duration(h.arrival_ms)};
        // The CRC matched, so a structure error is a writer's bug or a collision: check it anyway, and
        // hand nothing of a batch that fails.
        const bool ok = segfmt::for_each_plain(payload, h.count, [&](std::string_view k, std::string_view d) {
          if (o >= offset) batch.push_back(log_record{o, arrival, k, d, encrypted});
          ++o;
        });
        if (!ok) {
          stats.failure = corrupt(seg.path, pos, "bad record lengths");
          return stats;
        }
        std::size_t n = 0;
        bool stop = false;
        for (; n < batch.size(); ++n) {
          const std::size_t bytes = batch[n].partition_key.size() + batch[n].data.size();
          if (stats.records > 0 && stats.bytes + bytes > max_bytes) {
            stop = true;
            break;
          }
          ++stats.records;
          stats.bytes += bytes;
          stats.next_offset = batch[n].offset + 1;
          if (stats.records >= max_records) {
            ++n;
            stop = true;
            break;
          }
        }
        if (n > 0) visit(std::span<const log_record>(batch.data(), n));
        if (stop) return stats;
        offset = h.first_offset + h.count;
        pos = next_pos;
      }
    }
    return stats;
  }

  std::uint64_t start_offset() const noexcept override { return start_; }
  std::uint64_t end_offset() const noexcept override { return end_; }

  timestamp arrival_time(std::uint64_t offset) const override {
    assert(offset >= start_ && offset < end_);
    const segment& seg = segs_[segment_of(offset)];
    const index_entry e = index_before(seg, offset);
    std::int64_t found = e.arrival_ms;
    walk_headers(seg, e.pos, [&](const batch_header& h, std::uint64_t) {
      if (h.first_offset > offset) return false;
      found = h.arrival_ms;
      return h.first_offset + h.count <= offset;
    });
    return timestamp(duration(found));
  }

  std::uint64_t offset_at_or_after(timestamp when) const override {
    const std::int64_t t = when.time_since_epoch().count();
    if (start_ == end_) return end_;
    // Only the active (last) segment can be empty; it holds nothing to find.
    auto it = std::partition_point(segs_.begin(), segs_.end(),
                                   [t](const segment& s) { return !s.empty() && s.last_arrival < t; });
    if (it == segs_.end() || it->empty()) return end_;
    const segment& seg = *it;
    if (seg.first_arrival >= t) return std::max(seg.base, start_);
    // The last index entry that arrived before t; the answer is after it.
    auto e = std::partition_point(seg.index.begin(), seg.index.end(),
                                  [t](const index_entry& x) { return x.arrival_ms < t; });
    const index_entry& from = *(e - 1);  // exists: first_arrival < t
    std::uint64_t found = e == seg.index.end() ? seg.end : e->offset;
    walk_headers(seg, from.pos, [&](const batch_header& h, std::uint64_t) {
      if (h.arrival_ms >= t) {
        found = h.first_offset;
        return false;
      }
      return h.first_offset + h.count < found;
    });
    return std::max(found, start_);
  }

  std::uint64_t trim_before(timestamp cutoff) override {
    start_ = std::max(start_, offset_at_or_after(cutoff));
    // A log whose every record expired seals its active segment so that it can go too.
    if (start_ == end_ && !segs_.back().empty() && !broken_) (void)roll();
    while (segs_.size() > 1 && segs_.front().end <= start_) {
      const segment& s = segs_.front();
      if (auto r = st_->fs->remove(s.path); !r) {
        logger()->warn("storage: could not delete an expired segment: {}", r.error().to_string());
        break;
      }
      (void)st_->fs->remove(idx_path(s.base));
      segs_.pop_front();
    }
    return start_;
  }

  std::size_t memory_bytes() const noexcept override {
    std::size_t n = sizeof(*this);
    for (const auto& s : segs_) n += sizeof(s) + s.index.capacity() * sizeof(index_entry);
    return n;
  }

  // For tests and the storage: the segment files, oldest first.
  std::size_t segment_count() const { return segs_.size(); }

 private:
  static std::string& scratch() {
    thread_local std::string s;
    return s;
  }

  std::string seg_path(std::uint64_t base) const { return dir_ + "/" + fmt_base(base) + ".seg"; }
  std::string idx_path(std::uint64_t base) const { return dir_ + "/" + fmt_base(base) + ".idx"; }

  struct segment_reader {
    std::shared_ptr<random_access_file> file;
    const char* mapped = nullptr;
    std::uint64_t mapped_len = 0;
  };

  // The segment's file, opened (and mapped where the file system maps) on first use.
  result<segment_reader> reader(const segment& seg) const {
    std::lock_guard lock(readers_mu_);
    if (!seg.reader) {
      auto f = st_->fs->open_read(seg.path);
      if (!f) return f.error();
      seg.reader = std::shared_ptr<random_access_file>(std::move(*f));
      // A sealed segment never changes; the active one grows up to about segment_bytes.
      const bool active = &seg == &segs_.back();
      const std::uint64_t want = active ? std::max<std::uint64_t>(seg.size, st_->opt.segment_bytes) : seg.size;
      if (want <= std::numeric_limits<std::size_t>::max() / 2) {
        auto m = seg.reader->map(static_cast<std::size_t>(want));
        if (m && *m) {
          seg.mapped = *m;
          seg.mapped_len = want;
        } else if (!m) {  // not fatal: positional reads still work, and report their own errors
          logger()->warn("storage: {} (reading without a mapping)", m.error().message());
        }
      }
    }
    return segment_reader{seg.reader, seg.mapped, seg.mapped_len};
  }

  // The index entry at or before `offset` in `seg` (seg non-empty).
  static index_entry index_before(const segment& seg, std::uint64_t offset) {
    auto it = std::partition_point(seg.index.begin(), seg.index.end(),
                                   [offset](const index_entry& e) { return e.offset <= offset; });
    return it == seg.index.begin() ? seg.index.front() : *(it - 1);
  }

  // Calls fn(header, pos) for each batch from `pos` while it returns true.
  template <class F>
  void walk_headers(const segment& seg, std::uint64_t pos, F&& fn) const {
    auto rf = reader(seg);
    if (!rf) return;
    const char* mapped = seg.size <= rf->mapped_len ? rf->mapped : nullptr;
    char h[kBatchHeader];
    while (pos + kBatchHeader <= seg.size) {
      batch_header bh;
      if (mapped) {
        if (!segfmt::decode_batch_header(mapped + pos, bh)) return;
      } else {
        auto r = rf->file->read(pos, kBatchHeader, h);
        if (!r || *r != kBatchHeader || !segfmt::decode_batch_header(h, bh)) return;
      }
      if (!fn(bh, pos)) return;
      pos += kBatchHeader + bh.payload_len;
    }
  }

  std::size_t segment_of(std::uint64_t offset) const {
    auto it = std::partition_point(segs_.begin(), segs_.end(), [offset](const segment& s) { return s.end <= offset; });
    return static_cast<std::size_t>(it - segs_.begin());
  }

  result<void> seal(std::span<const log_entry> entries, batch_header& h, std::string& buf) {
    if (!st_->opt.keys) {
      return error(error_code::kms_not_found_exception,
                   "Key '" + key_id_ + "' does not exist (the storage has no key provider)");
    }
    auto key = st_->opt.keys->data_key(key_id_);
    if (!key) return key.error();
    thread_local std::string plain;
    plain.clear();
    segfmt::encode_plain(entries, plain);
    h.kind = batch_kind::aes_256_gcm;
    // The header fields the AAD covers are known now (payload_len and crc are not in it).
    segfmt::put_u64(buf.data() + 8, h.first_offset);
    segfmt::put_u64(buf.data() + 16, static_cast<std::uint64_t>(h.arrival_ms));
    segfmt::put_u32(buf.data() + 24, h.count);
    buf[28] = static_cast<char>(h.kind);
    const std::string aad = segfmt::batch_aad(aad_prefix_, buf.data());
    const std::size_t at = buf.size();
    buf.resize(at + 2 + key_id_.size() + aead::kNonceBytes + plain.size() + aead::kTagBytes);
    char* p = buf.data() + at;
    segfmt::put_u16(p, static_cast<std::uint16_t>(key_id_.size()));
    std::memcpy(p + 2, key_id_.data(), key_id_.size());
    auto* nonce = reinterpret_cast<unsigned char*>(p + 2 + key_id_.size());
    char* cipher = p + 2 + key_id_.size() + aead::kNonceBytes;
    auto* tag = reinterpret_cast<unsigned char*>(cipher + plain.size());
    if (!aead::random_nonce(nonce) || !aead::seal(*key, nonce, aad, plain, cipher, tag)) {
      return error(error_code::internal_failure, "file storage: encryption failed");
    }
    return {};
  }

  result<void> open_sealed(const char* header, std::string_view payload, const std::string& path, std::uint64_t pos,
                           std::string& plain, std::string& cached_id, std::string& cached_key) const {
    segfmt::sealed_view sv;
    if (!segfmt::parse_sealed(payload, sv)) return corrupt(path, pos, "bad encrypted batch");
    if (cached_key.empty() || cached_id != sv.key_id) {
      if (!st_->opt.keys) {
        return error(error_code::kms_not_found_exception,
                     "Key '" + std::string(sv.key_id) + "' does not exist (the storage has no key provider)");
      }
      auto key = st_->opt.keys->data_key(sv.key_id);
      if (!key) return key.error();
      cached_id = std::string(sv.key_id);
      cached_key = std::move(*key);
    }
    plain.resize(sv.cipher.size());
    if (!aead::open(cached_key, sv.nonce, segfmt::batch_aad(aad_prefix_, header), sv.cipher, plain.data(), sv.tag)) {
      return error(error_code::kms_invalid_state_exception, "The data in " + path + " at byte " + std::to_string(pos) +
                                                                " cannot be decrypted with key '" +
                                                                std::string(sv.key_id) + "'");
    }
    return {};
  }

  // After a failed append: cut the file back to the last whole batch and
  // reopen it; if that fails too, the log refuses writes until reopened.
  void undo_partial_write(const segment& seg) {
    auto& fs = *st_->fs;
    std::lock_guard lock(sync_mu_);
    auto r = fs.truncate(seg.path, seg.size);
    if (r) {
      auto f = fs.open_append(seg.path);
      if (f) {
        active_ = std::move(*f);
        return;
      }
      r = f.error();
    }
    broken_ = error(error_code::internal_failure,
                    "file storage: " + seg.path + " could not be restored after a failed write (" +
                        r.error().message() + "); the shard refuses writes until the engine is reopened");
    logger()->error("{}", broken_->message());
  }

  result<void> sync_to(std::uint64_t end_offset) {
    if (durable_.load(std::memory_order_acquire) >= end_offset) return {};
    std::lock_guard lock(sync_mu_);  // concurrent writers queue here: one fdatasync serves them all
    if (durable_.load(std::memory_order_acquire) >= end_offset) return {};
    const std::uint64_t target = written_.load(std::memory_order_acquire);
    if (!active_) return {};
    if (auto r = active_->sync(); !r) return r;
    durable_.store(std::max(durable_.load(), target), std::memory_order_release);
    return {};
  }

  // Seals the active segment (synced, with its index written) and starts a new one.
  result<void> roll() {
    segment& old = segs_.back();
    {
      std::lock_guard lock(sync_mu_);
      if (auto r = active_->sync(); !r) return r;
      durable_.store(written_.load());
    }
    segfmt::index_file idx{old.base, old.end, old.size, old.first_arrival, old.last_arrival, old.index};
    // The next segment first (durably), then the index: a last segment with an
    // index file therefore means the segment after it went missing.
    if (auto r = new_segment(end_); !r) return r;
    write_index(idx);
    return {};
  }

  void write_index(const segfmt::index_file& idx) {
    auto& fs = *st_->fs;
    const std::string path = idx_path(idx.base_offset), tmp = path + ".tmp";
    (void)fs.remove(tmp);
    auto f = fs.open_append(tmp);
    if (!f || !(*f)->append(segfmt::encode_index(idx))) return;  // only an optimization: rebuilt if missing
    f->reset();
    (void)fs.rename(tmp, path);
  }

  // Creates the segment starting at `base`, durable (file and folder entry), and makes it active.
  result<void> new_segment(std::uint64_t base) {
    auto& fs = *st_->fs;
    const std::string path = seg_path(base);
    auto f = fs.open_append(path);
    if (!f) return f.error();
    auto fail = [&](const error& e) -> result<void> {
      f->reset();
      (void)fs.remove(path);
      return e;
    };
    if ((*f)->size() != 0) {
      f->reset();
      if (auto r = fs.truncate(path, 0); !r) return r;
      f = fs.open_append(path);
      if (!f) return f.error();
    }
    if (auto r = (*f)->append(segfmt::encode_file_header(base)); !r) return fail(r.error());
    if (auto r = (*f)->sync(); !r) return fail(r.error());
    if (auto r = fs.sync_dir(dir_); !r) return fail(r.error());
    segment s;
    s.base = s.end = base;
    s.path = path;
    {
      std::lock_guard lock(sync_mu_);
      active_ = std::move(*f);
    }
    segs_.push_back(std::move(s));
    return {};
  }

  // Loads one segment at open: from its index if that is current, else by scanning.
  result<void> recover_segment(std::uint64_t base, bool last, bool has_idx) {
    auto& fs = *st_->fs;
    segment s;
    s.base = s.end = base;
    s.path = seg_path(base);
    auto size = fs.file_size(s.path);
    if (!size) return size.error();
    if (*size < kFileHeader) {
      if (!last) return corrupt(s.path, 0, "shorter than the segment header");
      // Created by a roll that did not finish: write the header again.
      if (auto r = fs.truncate(s.path, 0); !r) return r;
      auto f = fs.open_append(s.path);
      if (!f) return f.error();
      if (auto r = (*f)->append(segfmt::encode_file_header(base)); !r) return r;
      if (auto r = (*f)->sync(); !r) return r;
      segs_.push_back(std::move(s));
      return {};
    }
    auto rf = fs.open_read(s.path);
    if (!rf) return rf.error();
    char header[kFileHeader];
    auto hr = (*rf)->read(0, kFileHeader, header);
    if (!hr) return hr.error();
    if (*hr != kFileHeader || !segfmt::check_file_header(header, base)) return corrupt(s.path, 0, "bad segment header");
    if (last && has_idx) {
      return error(error_code::internal_failure, "storage: " + s.path +
                                                     " is a sealed segment (it has an index) but the segment "
                                                     "after it is missing");
    }
    if (!last && has_idx) {
      auto bytes = read_whole_file(fs, idx_path(base));
      if (bytes) {
        auto idx = segfmt::decode_index(*bytes);
        if (idx && idx->base_offset == base && idx->segment_size == *size) {
          s.end = idx->end_offset;
          s.size = idx->segment_size;
          s.first_arrival = idx->first_arrival_ms;
          s.last_arrival = idx->last_arrival_ms;
          s.index = std::move(idx->entries);
          s.last_indexed_pos = s.index.empty() ? 0 : s.index.back().pos;
          segs_.push_back(std::move(s));
          return {};
        }
      }
      logger()->info("storage: rebuilding the stale index of {}", s.path);
    }
    auto scanned = scan(**rf, *size, s);
    if (scanned.torn) {
      if (!last) return corrupt(s.path, scanned.valid_size, scanned.why);
      logger()->warn("storage: {}: cutting a torn tail at byte {} ({} bytes: {})", s.path, scanned.valid_size,
                     *size - scanned.valid_size, scanned.why);
      if (auto r = fs.truncate(s.path, scanned.valid_size); !r) return r;
    }
    if (!last) {
      write_index({s.base, s.end, s.size, s.first_arrival, s.last_arrival, s.index});
    }
    segs_.push_back(std::move(s));
    return {};
  }

  // Verifies every batch of a segment, building its in-memory entry.
  scan_result scan(const random_access_file& f, std::uint64_t size, segment& s) const {
    scan_result out;
    chunk_reader cr(f, size);
    std::uint64_t pos = kFileHeader;
    std::int64_t last_arrival = std::numeric_limits<std::int64_t>::min();
    while (pos < size) {
      std::optional<error> err;
      const char* hp = cr.get(pos, kBatchHeader, err);
      batch_header h;
      if (!hp) return torn(out, pos, err ? err->message() : "a partial batch header");
      if (!segfmt::decode_batch_header(hp, h)) return torn(out, pos, "bad batch header");
      if (h.first_offset != s.end) return torn(out, pos, "batch out of sequence");
      if (h.arrival_ms < last_arrival) return torn(out, pos, "arrival goes back");
      const char* whole = cr.get(pos, kBatchHeader + h.payload_len, err);
      if (!whole) return torn(out, pos, err ? err->message() : "a partial batch");
      std::string_view payload(whole + kBatchHeader, h.payload_len);
      if (segfmt::batch_crc(whole, payload.data(), payload.size()) != h.crc) return torn(out, pos, "checksum");
      segfmt::sealed_view sv;
      if (h.kind == batch_kind::plain ? !segfmt::check_plain(payload, h.count) : !segfmt::parse_sealed(payload, sv)) {
        return torn(out, pos, "bad payload");
      }
      if (s.empty()) s.first_arrival = h.arrival_ms;
      if (s.index.empty() || pos - s.last_indexed_pos >= st_->opt.index_interval_bytes) {
        s.index.push_back({h.first_offset, pos, h.arrival_ms});
        s.last_indexed_pos = pos;
      }
      s.last_arrival = last_arrival = h.arrival_ms;
      s.end += h.count;
      pos += kBatchHeader + h.payload_len;
      s.size = pos;
      out.valid_size = pos;
      s.verified.value.store(pos, std::memory_order_relaxed);  // checked just now
    }
    return out;
  }

  static scan_result& torn(scan_result& out, std::uint64_t pos, std::string why) {
    out.valid_size = pos;
    out.torn = true;
    out.why = std::move(why);
    return out;
  }

  std::shared_ptr<shared_state> st_;
  std::string dir_;
  std::string aad_prefix_;                 // "<stream>/<shardId>"
  std::deque<segment> segs_;               // the last is the active one
  std::unique_ptr<writable_file> active_;  // swapped under sync_mu_
  std::uint64_t start_ = 0;
  std::uint64_t end_ = 0;
  std::atomic<std::uint64_t> written_{0};  // end offset of what was written
  std::atomic<std::uint64_t> durable_{0};  // end offset of what was synced
  std::mutex sync_mu_;
  mutable std::mutex readers_mu_;
  std::optional<error> broken_;
  std::string key_id_;
};

class file_storage final : public storage {
 public:
  explicit file_storage(std::shared_ptr<shared_state> st) : st_(std::move(st)) {
    if (st_->opt.sync == sync_policy::interval && st_->opt.sync_interval > duration::zero()) {
      sched_ = st_->opt.clock->make_scheduler();
      schedule_sync();
    }
  }
  ~file_storage() override {
    if (sched_) sched_->shutdown();
  }
  file_storage(const file_storage&) = delete;
  file_storage& operator=(const file_storage&) = delete;

  result<std::unique_ptr<shard_log>> create_log(const shard_log_key& key) override { return make(key, true); }
  result<std::unique_ptr<shard_log>> open_log(const shard_log_key& key) override { return make(key, false); }

  void remove_log(const shard_log_key& key) override {
    auto& fs = *st_->fs;
    if (auto r = fs.remove_all(shard_dir(key)); !r) {
      logger()->warn("storage: could not remove a shard's files: {}", r.error().to_string());
      return;
    }
    auto left = fs.list_dir(stream_dir(key));
    if (left && left->empty()) (void)fs.remove_all(stream_dir(key));
  }

  std::vector<shard_log_key> list_logs() override {
    std::vector<shard_log_key> out;
    auto& fs = *st_->fs;
    auto streams = fs.list_dir(root());
    if (!streams) return out;
    for (const auto& sname : *streams) {
      const auto at = sname.rfind('@');
      std::uint64_t uid = 0;
      if (at == std::string::npos || !parse_u64(std::string_view(sname).substr(at + 1), uid)) continue;
      auto shards = fs.list_dir(root() + "/" + sname);
      if (!shards) continue;
      for (const auto& d : *shards) {
        std::uint64_t index = 0;
        if (d.size() != 10 || !parse_u64(d, index) || index > 0xFFFFFFFFu) continue;
        out.push_back({sname.substr(0, at), uid, shard_id(static_cast<std::uint32_t>(index))});
      }
    }
    return out;
  }

  bool durable() const noexcept override { return true; }

 private:
  std::string root() const { return st_->opt.directory + "/streams"; }
  std::string stream_dir(const shard_log_key& k) const {
    return root() + "/" + k.stream_name + "@" + std::to_string(k.stream_uid);
  }
  std::string shard_dir(const shard_log_key& k) const { return stream_dir(k) + "/" + shard_dir_name(k.shard.index()); }

  result<std::unique_ptr<shard_log>> make(const shard_log_key& key, bool fresh) {
    auto& fs = *st_->fs;
    const bool new_stream_dir = !fs.exists(stream_dir(key));
    auto log = std::make_unique<file_log>(st_, shard_dir(key), key.stream_name + "/" + key.shard.to_string());
    if (auto r = log->open(fresh); !r) return r.error();
    // The new folder entries must be durable before records in them are acknowledged.
    if (auto r = fs.sync_dir(stream_dir(key)); !r) return r.error();
    if (new_stream_dir) {
      if (auto r = fs.sync_dir(root()); !r) return r.error();
    }
    log->registered();
    return std::unique_ptr<shard_log>(std::move(log));
  }

  void schedule_sync() {
    sched_->call_at(st_->opt.clock->now() + st_->opt.sync_interval, [this] {
      {
        std::lock_guard lock(st_->logs_mu);
        for (auto* log : st_->logs) {
          if (auto r = log->flush(); !r) logger()->warn("storage: interval sync failed: {}", r.error().to_string());
        }
      }
      schedule_sync();
    });
  }

  std::shared_ptr<shared_state> st_;
  std::unique_ptr<scheduler> sched_;
};

}  // namespace

result<std::shared_ptr<storage>> open_file_storage(file_storage_options options) {
  if (options.directory.empty()) {
    return error(error_code::invalid_argument_exception, "file storage: no directory given");
  }
  auto st = std::make_shared<shared_state>();
  if (!options.file_system) options.file_system = posix_file_system();
  if (!options.clock) options.clock = std::make_shared<system_clock>();
  options.segment_bytes = std::max<std::size_t>(options.segment_bytes, 4096);
  options.index_interval_bytes = std::max<std::size_t>(options.index_interval_bytes, 1);
  if (options.segment_age <= duration::zero()) options.segment_age = std::chrono::hours(1);
  st->fs = options.file_system;
  st->opt = std::move(options);
  if (auto r = st->fs->create_dirs(st->opt.directory + "/streams"); !r) return r.error();
  return std::shared_ptr<storage>(std::make_shared<file_storage>(std::move(st)));
}

}  // namespace rill
