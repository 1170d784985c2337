// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "delivery/file_system.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace rill::delivery {
namespace {

error os_error(std::string_view what, const std::filesystem::path& path, int err) {
  return error(error_code::internal_failure,
               std::string(what) + " " + path.string() + ": " + std::generic_category().message(err));
}

class posix_writable_file final : public writable_file {
 public:
  posix_writable_file(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~posix_writable_file() override {
    if (fd_ >= 0) ::close(fd_);
  }
  result<void> append(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return os_error("write", path_, errno);
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
  }
  result<void> sync() override {
    if (::fdatasync(fd_) != 0) return os_error("fsync", path_, errno);
    return {};
  }
  result<void> close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return os_error("close", path_, errno);
    return {};
  }

 private:
  int fd_;
  std::filesystem::path path_;
};

class posix_file_system final : public file_system {
 public:
  result<void> create_directories(const std::filesystem::path& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return os_error("mkdir", dir, ec.value());
    return {};
  }
  result<std::unique_ptr<writable_file>> new_writable_file(const std::filesystem::path& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return os_error("open", path, errno);
    return std::unique_ptr<writable_file>(std::make_unique<posix_writable_file>(fd, path));
  }
  result<void> rename(const std::filesystem::path& from, const std::filesystem::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return os_error("rename", from, errno);
    return {};
  }
  result<void> sync_directory(const std::filesystem::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return os_error("open", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return os_error("fsync", dir, err);
    return {};
  }
  result<void> remove(const std::filesystem::path& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return os_error("unlink", path, errno);
    return {};
  }
  result<std::string> read_file(const std::filesystem::path& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return error(error_code::resource_not_found_exception, path.string() + " not found");
      return os_error("open", path, errno);
    }
    std::string out;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return os_error("read", path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return out;
  }
};

}  // namespace

std::shared_ptr<file_system> make_posix_file_system() { return std::make_shared<posix_file_system>(); }

result<void> write_file_atomically(file_system& fs, const std::filesystem::path& path, std::string_view bytes) {
  static std::atomic<std::uint64_t> counter{0};
  const auto dir = path.parent_path();
  if (!dir.empty())
    if (auto r = fs.create_directories(dir); !r) return r;
  // Built by appending: g++ 12 -O2 warns (-Wrestrict, a false positive) on "." + string.
  std::string name(1, '.');
  name += path.filename().string();
  name += ".tmp-";
  name += std::to_string(counter.fetch_add(1));
  const auto tmp = dir / name;
  auto file = fs.new_writable_file(tmp);
  if (!file) return file.error();
  auto fail = [&](const error& e) -> result<void> {
    (void)(*file)->close();
    (void)fs.remove(tmp);
    return e;
  };
  if (auto r = (*file)->append(bytes); !r) return fail(r.error());
  if (auto r = (*file)->sync(); !r) return fail(r.error());
  if (auto r = (*file)->close(); !r) {
    (void)fs.remove(tmp);
    return r;
  }
  if (auto r = fs.rename(tmp, path); !r) {
    (void)fs.remove(tmp);
    return r;
  }
  if (auto r = fs.sync_directory(dir.empty() ? std::filesystem::path(".") : dir); !r) return r;
  return {};
}

}  // namespace rill::delivery
