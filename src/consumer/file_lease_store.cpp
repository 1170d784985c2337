// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file-backed lease table, written through rill::file_system (the one
// file-system interface of rill's durable parts).
//
// Layout: `<dir>/LOCK` and one `<escaped leaseKey>.lease` per lease (JSON, the
// DynamoDB attribute names). Every operation holds flock(LOCK) — shared for
// reads, exclusive for writes — around its read-check-write, and a lease file is
// only ever replaced by rename(2) of a fully written temporary file, so:
//   * writers in this process and in other processes serialize on the lock
//     (flock locks belong to the open file description: two descriptors of one
//     process exclude each other like two processes do);
//   * a crash at any point leaves each lease wholly old or wholly new; a stray
//     temporary file (`*.tmp`) is ignored and overwritten later.
#include <algorithm>
#include <cctype>

#include "consumer/lease_ops.hpp"
#include "rill/file_system.hpp"
#include "rill/lease.hpp"

namespace rill::kcl {

namespace {

constexpr std::string_view lease_suffix = ".lease";

// Keys are shard ids in practice; anything outside [A-Za-z0-9_.:-] is %XX-escaped
// (so '/' and a leading '.' cannot escape or hide in the directory).
std::string escape_key(std::string_view key) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    const bool plain = std::isalnum(c) || c == '_' || c == '-' || c == ':' || (c == '.' && i > 0);
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xF]);
    }
  }
  return out;
}

class file_lease_store final : public lease_store {
 public:
  file_lease_store(std::string dir, file_lease_store_options o) : dir_(std::move(dir)), options_(std::move(o)) {}

  result<write_status> create_lease_if_not_exists(const lease& l) override {
    auto lock = fs().lock_file_waiting(lock_path(), /*shared=*/false);
    if (!lock) return lock.error();
    auto current = read(l.lease_key);
    if (!current) return current.error();
    if (*current) return write_status::condition_failed;
    if (auto w = replace(path_of(l.lease_key), detail::to_json(l)); !w) return w.error();
    return write_status::applied;
  }

  result<std::optional<lease>> get_lease(std::string_view key) override {
    auto lock = fs().lock_file_waiting(lock_path(), /*shared=*/true);
    if (!lock) return lock.error();
    return read(key);
  }

  result<std::vector<lease>> list_leases() override {
    auto lock = fs().lock_file_waiting(lock_path(), /*shared=*/true);
    if (!lock) return lock.error();
    auto names = fs().list_dir(dir_);
    if (!names) return names.error();
    std::vector<lease> out;
    for (const auto& name : *names) {
      if (name.size() <= lease_suffix.size() || !name.ends_with(lease_suffix)) continue;
      auto text = read_whole_file(fs(), dir_ + "/" + name);
      if (!text) return text.error();
      auto l = detail::from_json(*text);
      if (!l) return error(error_code::internal_failure, "Corrupt lease file " + dir_ + "/" + name);
      out.push_back(std::move(*l));
    }
    std::sort(out.begin(), out.end(), [](const lease& a, const lease& b) { return a.lease_key < b.lease_key; });
    return out;
  }

  result<write_status> renew_lease(lease& local) override { return write(detail::op_kind::renew, local, {}); }
  result<write_status> take_lease(lease& local, std::string_view owner) override {
    return write(detail::op_kind::take, local, owner);
  }
  result<write_status> initiate_handoff(lease& local, std::string_view next) override {
    return write(detail::op_kind::initiate_handoff, local, next);
  }
  result<write_status> evict_lease(lease& local, std::string_view worker) override {
    return write(detail::op_kind::evict, local, worker);
  }
  result<write_status> update_lease(lease& local, std::string_view writer) override {
    return write(detail::op_kind::update, local, writer);
  }
  result<void> delete_lease(std::string_view key) override {
    auto lock = fs().lock_file_waiting(lock_path(), /*shared=*/false);
    if (!lock) return lock.error();
    return fs().remove(path_of(key));
  }

 private:
  std::string lock_path() const { return dir_ + "/LOCK"; }
  std::string path_of(std::string_view key) const { return dir_ + "/" + escape_key(key) + std::string(lease_suffix); }

  rill::file_system& fs() { return *options_.file_system; }

  // Replaces a lease file atomically (the exclusive lock is held, so one
  // temporary name suffices): write `<file>.tmp`, sync it, rename it over the
  // file, sync the directory (the syncs when options_.sync). A crash leaves the
  // old or the new file, and at worst a stray `.tmp` (ignored, overwritten).
  result<void> replace(const std::string& path, std::string_view contents) {
    const std::string tmp = path + ".tmp";
    if (auto r = fs().remove(tmp); !r) return r;
    {
      auto f = fs().open_append(tmp);
      if (!f) return f.error();
      if (auto r = (*f)->append(contents); !r) return r;
      if (options_.sync) {
        if (auto r = (*f)->sync(); !r) return r;
      }
    }
    if (auto r = fs().rename(tmp, path); !r) {
      (void)fs().remove(tmp);
      return r;
    }
    if (options_.sync) return fs().sync_dir(dir_);
    return {};
  }

  result<std::optional<lease>> read(std::string_view key) {
    const std::string path = path_of(key);
    if (!fs().exists(path)) return std::optional<lease>{};
    auto text = read_whole_file(fs(), path);
    if (!text) return text.error();
    auto l = detail::from_json(*text);
    if (!l) return error(error_code::internal_failure, "Corrupt lease file " + path_of(key));
    return std::optional<lease>{std::move(*l)};
  }

  result<write_status> write(detail::op_kind kind, lease& local, std::string_view who) {
    auto lock = fs().lock_file_waiting(lock_path(), /*shared=*/false);
    if (!lock) return lock.error();
    auto current = read(local.lease_key);
    if (!current) return current.error();
    if (!*current || !detail::apply(kind, **current, local, who)) return write_status::condition_failed;
    if (auto w = replace(path_of(local.lease_key), detail::to_json(**current)); !w) return w.error();
    local = std::move(**current);
    return write_status::applied;
  }

  std::string dir_;
  file_lease_store_options options_;
};

}  // namespace

result<std::shared_ptr<lease_store>> make_file_lease_store(const std::string& directory,
                                                           file_lease_store_options options) {
  if (!options.file_system) options.file_system = posix_file_system();
  if (auto r = options.file_system->create_dirs(directory); !r) return r.error();
  return std::shared_ptr<lease_store>(std::make_shared<file_lease_store>(directory, std::move(options)));
}

}  // namespace rill::kcl
