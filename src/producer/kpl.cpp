// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// Hand-written proto2 codec for the KPL AggregatedRecord (see include/rill/kpl.hpp
// and docs/producer.md). The encoder writes fields in field-number order, as
// protobuf's SerializeToString does; the decoder accepts anything libprotobuf's
// parser accepts for this schema (unknown fields skipped, last value of a
// repeated scalar wins, required fields checked) and nothing it refuses.
#include "rill/kpl.hpp"

#include <cstring>

#include "producer/md5_digest.hpp"

namespace rill::kpl {
namespace {

constexpr unsigned char tag_pk_table = 0x0A;   // field 1, wire type 2
constexpr unsigned char tag_ehk_table = 0x12;  // field 2, wire type 2
constexpr unsigned char tag_record = 0x1A;     // field 3, wire type 2
constexpr unsigned char tag_pk_index = 0x08;   // Record field 1, varint
constexpr unsigned char tag_ehk_index = 0x10;  // Record field 2, varint
constexpr unsigned char tag_data = 0x1A;       // Record field 3, bytes

inline std::size_t len_field_size(std::size_t len) noexcept { return 1 + varint_size(len) + len; }

inline char* write_varint(char* p, std::uint64_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<char>(static_cast<unsigned char>(v) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

inline char* write_len_field(char* p, unsigned char tag, std::string_view bytes) noexcept {
  *p++ = static_cast<char>(tag);
  p = write_varint(p, bytes.size());
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
  return p + bytes.size();
}

inline std::uint32_t record_size(std::uint32_t pk_index, bool has_ehk, std::uint32_t ehk_index,
                                 std::size_t data_len) noexcept {
  std::size_t n = 1 + varint_size(pk_index) + len_field_size(data_len);
  if (has_ehk) n += 1 + varint_size(ehk_index);
  return static_cast<std::uint32_t>(n);
}

}  // namespace

// ---------------------------------------------------------------------------
// Encoder

void aggregated_record_builder::add(std::string_view partition_key, std::optional<std::string_view> explicit_hash_key,
                                    std::string_view data) {
  member m;
  auto [pk_it, pk_new] = pk_index_.try_emplace(partition_key, static_cast<std::uint32_t>(pk_table_.size()));
  if (pk_new) {
    pk_table_.push_back(partition_key);
    body_size_ += len_field_size(partition_key.size());
  }
  m.pk_index = pk_it->second;
  if (explicit_hash_key) {
    auto [it, is_new] = ehk_index_.try_emplace(*explicit_hash_key, static_cast<std::uint32_t>(ehk_table_.size()));
    if (is_new) {
      ehk_table_.push_back(*explicit_hash_key);
      body_size_ += len_field_size(explicit_hash_key->size());
    }
    m.has_ehk = true;
    m.ehk_index = it->second;
  }
  m.data = data;
  m.encoded_size = record_size(m.pk_index, m.has_ehk, m.ehk_index, data.size());
  body_size_ += len_field_size(m.encoded_size);
  records_.push_back(m);
}

std::size_t aggregated_record_builder::size_if_added(std::string_view partition_key,
                                                     std::optional<std::string_view> explicit_hash_key,
                                                     std::string_view data) const {
  std::size_t n = size();
  std::uint32_t pk_index = 0;
  if (auto it = pk_index_.find(partition_key); it != pk_index_.end()) {
    pk_index = it->second;
  } else {
    pk_index = static_cast<std::uint32_t>(pk_table_.size());
    n += len_field_size(partition_key.size());
  }
  std::uint32_t ehk_index = 0;
  if (explicit_hash_key) {
    if (auto it = ehk_index_.find(*explicit_hash_key); it != ehk_index_.end()) {
      ehk_index = it->second;
    } else {
      ehk_index = static_cast<std::uint32_t>(ehk_table_.size());
      n += len_field_size(explicit_hash_key->size());
    }
  }
  return n + len_field_size(record_size(pk_index, explicit_hash_key.has_value(), ehk_index, data.size()));
}

char* aggregated_record_builder::write_body(char* p) const noexcept {
  for (auto k : pk_table_) p = write_len_field(p, tag_pk_table, k);
  for (auto k : ehk_table_) p = write_len_field(p, tag_ehk_table, k);
  for (const member& m : records_) {
    *p++ = static_cast<char>(tag_record);
    p = write_varint(p, m.encoded_size);
    *p++ = static_cast<char>(tag_pk_index);
    p = write_varint(p, m.pk_index);
    if (m.has_ehk) {
      *p++ = static_cast<char>(tag_ehk_index);
      p = write_varint(p, m.ehk_index);
    }
    p = write_len_field(p, tag_data, m.data);
  }
  return p;
}

void aggregated_record_builder::serialize_to(std::string& out) const {
  out.resize(size());
  char* base = out.data();
  std::memcpy(base, magic.data(), magic.size());
  char* body = base + magic.size();
  char* end = write_body(body);
  detail::md5_digest(std::string_view(body, static_cast<std::size_t>(end - body)),
                     reinterpret_cast<unsigned char*>(end));
}

std::string aggregated_record_builder::serialize() const {
  std::string out;
  serialize_to(out);
  return out;
}

std::string aggregated_record_builder::serialize_protobuf() const {
  std::string out(body_size_, '\0');
  (void)write_body(out.data());
  return out;
}

void aggregated_record_builder::clear() noexcept {
  pk_table_.clear();
  ehk_table_.clear();
  pk_index_.clear();
  ehk_index_.clear();
  records_.clear();
  body_size_ = 0;
}

std::string aggregate(std::span<const user_record_view> records) {
  aggregated_record_builder b;
  for (const auto& r : records) b.add(r);
  return b.serialize();
}

// ---------------------------------------------------------------------------
// Decoder

namespace {

struct reader {
  const unsigned char* p;
  const unsigned char* end;

  [[nodiscard]] bool done() const noexcept { return p == end; }

  // Up to 10 bytes, as libprotobuf reads a 64-bit varint; bits beyond 64 are dropped.
  bool varint(std::uint64_t& v) noexcept {
    v = 0;
    for (int i = 0; i < 10; ++i) {
      if (p == end) return false;
      unsigned char b = *p++;
      if (i < 9) {
        v |= static_cast<std::uint64_t>(b & 0x7F) << (7 * i);
      } else {
        v |= static_cast<std::uint64_t>(b & 0x01) << 63;
      }
      if (!(b & 0x80)) return true;
    }
    return false;
  }

  bool bytes(std::string_view& out) noexcept {
    std::uint64_t len = 0;
    if (!varint(len)) return false;
    if (len > static_cast<std::uint64_t>(end - p)) return false;
    out = std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(len));
    p += len;
    return true;
  }

  // Skips a field of `wire_type` (the tag already read). Groups are refused
  // (this schema has none, and a stray group end tag is an error in libprotobuf).
  bool skip(std::uint32_t wire_type) noexcept {
    switch (wire_type) {
      case 0: {
        std::uint64_t v = 0;
        return varint(v);
      }
      case 1:
        if (end - p < 8) return false;
        p += 8;
        return true;
      case 2: {
        std::string_view s;
        return bytes(s);
      }
      case 5:
        if (end - p < 4) return false;
        p += 4;
        return true;
      default: return skip_group_or_fail(wire_type);
    }
  }

  bool skip_group_or_fail(std::uint32_t) noexcept { return false; }

  // Reads a tag; field number 0 is invalid.
  bool tag(std::uint32_t& field, std::uint32_t& wire_type) noexcept {
    std::uint64_t t = 0;
    if (!varint(t)) return false;
    if (t > 0xFFFFFFFFULL) return false;
    field = static_cast<std::uint32_t>(t >> 3);
    wire_type = static_cast<std::uint32_t>(t & 7);
    return field != 0;
  }
};

// Groups (wire types 3, 4) are valid protobuf for unknown fields; libprotobuf
// skips a well-nested group. This schema never writes them, so a skip that
// handles nesting is enough.
bool skip_field(reader& r, std::uint32_t field, std::uint32_t wire_type, int depth = 0) {
  if (wire_type == 3) {
    if (depth > 32) return false;
    for (;;) {
      std::uint32_t f = 0, w = 0;
      if (!r.tag(f, w)) return false;
      if (w == 4) return f == field;
      if (!skip_field(r, f, w, depth + 1)) return false;
    }
  }
  if (wire_type == 4) return false;  // an end group without its start
  return r.skip(wire_type);
}

bool parse_tag(std::string_view bytes) {
  reader r{reinterpret_cast<const unsigned char*>(bytes.data()),
           reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()};
  bool has_key = false;
  while (!r.done()) {
    std::uint32_t field = 0, wt = 0;
    if (!r.tag(field, wt)) return false;
    if ((field == 1 || field == 2) && wt == 2) {
      std::string_view s;
      if (!r.bytes(s)) return false;
      if (field == 1) has_key = true;
    } else if (!skip_field(r, field, wt)) {
      return false;
    }
  }
  return has_key;
}

struct parsed_member {
  std::uint64_t pk_index = 0;
  std::uint64_t ehk_index = 0;
  bool has_pk = false;
  bool has_ehk = false;
  bool has_data = false;
  std::string_view data{};
};

bool parse_record(std::string_view bytes, parsed_member& m) {
  reader r{reinterpret_cast<const unsigned char*>(bytes.data()),
           reinterpret_cast<const unsigned char*>(bytes.data()) + bytes.size()};
  while (!r.done()) {
    std::uint32_t field = 0, wt = 0;
    if (!r.tag(field, wt)) return false;
    if (field == 1 && wt == 0) {
      if (!r.varint(m.pk_index)) return false;
      m.has_pk = true;
    } else if (field == 2 && wt == 0) {
      if (!r.varint(m.ehk_index)) return false;
      m.has_ehk = true;
    } else if (field == 3 && wt == 2) {
      if (!r.bytes(m.data)) return false;
      m.has_data = true;
    } else if (field == 4 && wt == 2) {
      std::string_view t;
      if (!r.bytes(t) || !parse_tag(t)) return false;
    } else if (!skip_field(r, field, wt)) {
      return false;
    }
  }
  return m.has_pk && m.has_data;
}

struct tables {
  std::vector<std::string_view> pk;
  std::vector<std::string_view> ehk;
};

// Two passes over the body: the first collects the tables (records may come
// before table entries in a valid message), the second emits members.
bool parse_tables(std::string_view body, tables& t, std::size_t& record_count) {
  reader r{reinterpret_cast<const unsigned char*>(body.data()),
           reinterpret_cast<const unsigned char*>(body.data()) + body.size()};
  record_count = 0;
  while (!r.done()) {
    std::uint32_t field = 0, wt = 0;
    if (!r.tag(field, wt)) return false;
    if (wt == 2 && (field == 1 || field == 2 || field == 3)) {
      std::string_view s;
      if (!r.bytes(s)) return false;
      if (field == 1) {
        t.pk.push_back(s);
      } else if (field == 2) {
        t.ehk.push_back(s);
      } else {
        ++record_count;
      }
    } else if (!skip_field(r, field, wt)) {
      return false;
    }
  }
  return true;
}

void fill_plain(const rill::record& rec, std::vector<user_record>& out) {
  user_record u;
  u.sequence_number = rec.sequence_number;
  u.approximate_arrival_timestamp = rec.approximate_arrival_timestamp;
  u.partition_key = rec.partition_key;
  u.data = rec.data;
  u.encryption_type = rec.encryption_type;
  out.push_back(u);
}

thread_local tables scratch_tables;

}  // namespace

std::string_view to_string(record_format f) noexcept {
  switch (f) {
    case record_format::aggregated: return "AGGREGATED";
    case record_format::not_aggregated: return "NOT_AGGREGATED";
    case record_format::checksum_mismatch: return "CHECKSUM_MISMATCH";
    case record_format::invalid_protobuf: return "INVALID_PROTOBUF";
  }
  return "UNKNOWN";
}

std::optional<rill::hash_key> user_record::effective_hash_key() const noexcept {
  if (explicit_hash_key) return hash_key::parse(*explicit_hash_key);
  return hash_key::of_partition_key(partition_key);
}

bool has_magic(std::string_view data) noexcept {
  return data.size() > fixed_overhead && std::memcmp(data.data(), magic.data(), magic.size()) == 0;
}

record_format deaggregate_into(const rill::record& rec, const std::optional<hash_key_range>& shard_range,
                               std::vector<user_record>& out, std::vector<user_record>* out_of_range,
                               std::string* detail) {
  std::string_view data = rec.data;
  if (!has_magic(data)) {
    if (detail)
      *detail = data.size() >= 4 && std::memcmp(data.data(), magic.data(), 4) == 0
                    ? "magic present but too short for an aggregated record"
                    : "no KPL magic";
    fill_plain(rec, out);
    return record_format::not_aggregated;
  }
  std::string_view body = data.substr(magic.size(), data.size() - fixed_overhead);
  unsigned char digest[16];
  detail::md5_digest(body, digest);
  if (std::memcmp(digest, data.data() + data.size() - 16, 16) != 0) {
    if (detail) *detail = "MD5 trailer does not match the protobuf bytes";
    fill_plain(rec, out);
    return record_format::checksum_mismatch;
  }
  tables& t = scratch_tables;
  t.pk.clear();
  t.ehk.clear();
  std::size_t record_count = 0;
  auto invalid = [&](const char* why) {
    if (detail) *detail = why;
    fill_plain(rec, out);
    return record_format::invalid_protobuf;
  };
  if (!parse_tables(body, t, record_count)) return invalid("AggregatedRecord does not parse");

  // Validate every member before emitting any, so that a bad record comes back whole.
  std::size_t first_out = out.size();
  std::size_t first_oor = out_of_range ? out_of_range->size() : 0;
  out.reserve(out.size() + record_count);
  reader r{reinterpret_cast<const unsigned char*>(body.data()),
           reinterpret_cast<const unsigned char*>(body.data()) + body.size()};
  std::uint64_t sub = 0;
  auto rollback = [&] {
    out.resize(first_out);
    if (out_of_range) out_of_range->resize(first_oor);
  };
  while (!r.done()) {
    std::uint32_t field = 0, wt = 0;
    (void)r.tag(field, wt);  // validated by parse_tables
    if (!(field == 3 && wt == 2)) {
      (void)skip_field(r, field, wt);
      continue;
    }
    std::string_view bytes;
    (void)r.bytes(bytes);
    parsed_member m;
    if (!parse_record(bytes, m)) {
      rollback();
      return invalid("a Record lacks partition_key_index or data, or does not parse");
    }
    if (m.pk_index >= t.pk.size()) {
      rollback();
      return invalid("partition_key_index outside partition_key_table");
    }
    if (m.has_ehk && m.ehk_index >= t.ehk.size()) {
      rollback();
      return invalid("explicit_hash_key_index outside explicit_hash_key_table");
    }
    user_record u;
    u.sequence_number = rec.sequence_number;
    u.sub_sequence_number = sub++;
    u.approximate_arrival_timestamp = rec.approximate_arrival_timestamp;
    u.partition_key = t.pk[m.pk_index];
    if (m.has_ehk) u.explicit_hash_key = t.ehk[m.ehk_index];
    u.data = m.data;
    u.encryption_type = rec.encryption_type;
    u.aggregated = true;
    if (shard_range) {
      auto h = u.effective_hash_key();
      if (!h || *h < shard_range->starting_hash_key || *h > shard_range->ending_hash_key) {
        if (out_of_range) out_of_range->push_back(u);
        continue;
      }
    }
    out.push_back(u);
  }
  if (detail) detail->clear();
  return record_format::aggregated;
}

deaggregation_result deaggregate(const rill::record& r, const std::optional<hash_key_range>& shard_range) {
  deaggregation_result res;
  res.format = deaggregate_into(r, shard_range, res.records, &res.out_of_range, &res.detail);
  return res;
}

deaggregation_result deaggregate(std::string_view data, std::string_view partition_key,
                                 const std::optional<hash_key_range>& shard_range) {
  rill::record r;
  r.data = data;
  r.partition_key = partition_key;
  return deaggregate(r, shard_range);
}

}  // namespace rill::kpl
