// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The file-backed lease table and the POSIX file system it writes through.
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
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "consumer/lease_ops.hpp"
#include "rill/lease.hpp"

namespace rill::kcl {

namespace {

error io_error(const std::string& what, const std::string& path, int err) {
  return error(error_code::internal_failure, what + " " + path + ": " + std::strerror(err));
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

class posix_lease_file_system final : public lease_file_system {
 public:
  result<void> create_dir(const std::string& path) override {
    std::string partial;
    for (std::size_t i = 0; i <= path.size(); ++i) {
      if (i == path.size() || (path[i] == '/' && i > 0)) {
        partial = path.substr(0, i);
        if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) return io_error("mkdir", partial, errno);
      }
    }
    return {};
  }

  result<std::optional<std::string>> read_file(const std::string& path) override {
    fd_guard f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (f.fd < 0) {
      if (errno == ENOENT) return std::optional<std::string>{};
      return io_error("open", path, errno);
    }
    std::string out;
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(f.fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("read", path, errno);
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return std::optional<std::string>{std::move(out)};
  }

  result<void> write_file_atomic(const std::string& path, std::string_view contents, bool sync) override {
    static std::atomic<std::uint64_t> unique{0};
    const std::string tmp = path + "." + std::to_string(::getpid()) + "." + std::to_string(unique++) + ".tmp";
    {
      fd_guard f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
      if (f.fd < 0) return io_error("open", tmp, errno);
      std::size_t done = 0;
      while (done < contents.size()) {
        ssize_t n = ::write(f.fd, contents.data() + done, contents.size() - done);
        if (n < 0) {
          if (errno == EINTR) continue;
          const int err = errno;
          ::unlink(tmp.c_str());
          return io_error("write", tmp, err);
        }
        done += static_cast<std::size_t>(n);
      }
      if (sync && ::fdatasync(f.fd) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        return io_error("fdatasync", tmp, err);
      }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return io_error("rename", path, err);
    }
    if (sync) {
      const auto slash = path.find_last_of('/');
      const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
      fd_guard d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
      if (d.fd < 0) return io_error("open", dir, errno);
      if (::fsync(d.fd) != 0) return io_error("fsync", dir, errno);
    }
    return {};
  }

  result<void> remove_file(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("unlink", path, errno);
    return {};
  }

  result<std::vector<std::string>> list_dir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (!d) return io_error("opendir", path, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    return names;
  }

  result<std::shared_ptr<void>> lock_file(const std::string& path, bool exclusive) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("open", path, errno);
    while (::flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return io_error("flock", path, err);
    }
    // Closing the descriptor releases the lock.
    return std::shared_ptr<void>(new int(fd), [](void* p) {
      auto* f = static_cast<int*>(p);
      ::close(*f);
      delete f;
    });
  }
};

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
    auto lock = options_.file_system->lock_file(lock_path(), true);
    if (!lock) return lock.error();
    auto current = read(l.lease_key);
    if (!current) return current.error();
    if (*current) return write_status::condition_failed;
    if (auto w = options_.file_system->write_file_atomic(path_of(l.lease_key), detail::to_json(l), options_.sync); !w)
      return w.error();
    return write_status::applied;
  }

  result<std::optional<lease>> get_lease(std::string_view key) override {
    auto lock = options_.file_system->lock_file(lock_path(), false);
    if (!lock) return lock.error();
    return read(key);
  }

  result<std::vector<lease>> list_leases() override {
    auto lock = options_.file_system->lock_file(lock_path(), false);
    if (!lock) return lock.error();
    auto names = options_.file_system->list_dir(dir_);
    if (!names) return names.error();
    std::vector<lease> out;
    for (const auto& name : *names) {
      if (name.size() <= lease_suffix.size() || !name.ends_with(lease_suffix)) continue;
      auto text = options_.file_system->read_file(dir_ + "/" + name);
      if (!text) return text.error();
      if (!*text) continue;  // removed meanwhile (cannot happen under the lock, but harmless)
      auto l = detail::from_json(**text);
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
    auto lock = options_.file_system->lock_file(lock_path(), true);
    if (!lock) return lock.error();
    return options_.file_system->remove_file(path_of(key));
  }

 private:
  std::string lock_path() const { return dir_ + "/LOCK"; }
  std::string path_of(std::string_view key) const { return dir_ + "/" + escape_key(key) + std::string(lease_suffix); }

  result<std::optional<lease>> read(std::string_view key) {
    auto text = options_.file_system->read_file(path_of(key));
    if (!text) return text.error();
    if (!*text) return std::optional<lease>{};
    auto l = detail::from_json(**text);
    if (!l) return error(error_code::internal_failure, "Corrupt lease file " + path_of(key));
    return std::optional<lease>{std::move(*l)};
  }

  result<write_status> write(detail::op_kind kind, lease& local, std::string_view who) {
    auto lock = options_.file_system->lock_file(lock_path(), true);
    if (!lock) return lock.error();
    auto current = read(local.lease_key);
    if (!current) return current.error();
    auto next = detail::apply(kind, *current, local, who);
    if (!next) return write_status::condition_failed;
    if (auto w =
            options_.file_system->write_file_atomic(path_of(local.lease_key), detail::to_json(*next), options_.sync);
        !w)
      return w.error();
    local = std::move(*next);
    return write_status::applied;
  }

  std::string dir_;
  file_lease_store_options options_;
};

}  // namespace

std::shared_ptr<lease_file_system> make_posix_lease_file_system() {
  return std::make_shared<posix_lease_file_system>();
}

result<std::shared_ptr<lease_store>> make_file_lease_store(const std::string& directory,
                                                           file_lease_store_options options) {
  if (!options.file_system) options.file_system = make_posix_lease_file_system();
  if (auto r = options.file_system->create_dir(directory); !r) return r.error();
  return std::shared_ptr<lease_store>(std::make_shared<file_lease_store>(directory, std::move(options)));
}

}  // namespace rill::kcl
