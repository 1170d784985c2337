// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
//
// The POSIX file system: open/pwrite/pread/fdatasync/rename/flock.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "rill/file_system.hpp"

namespace rill {
namespace {

error io_error(std::string_view op, const std::string& path, int err) {
  std::string m(op);
  m += ' ';
  m += path;
  m += ": ";
  m += std::strerror(err);
  return error(error_code::internal_failure, std::move(m));
}

class posix_writable_file final : public writable_file {
 public:
  posix_writable_file(std::string path, int fd, std::uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}
  ~posix_writable_file() override { ::close(fd_); }
  posix_writable_file(const posix_writable_file&) = delete;
  posix_writable_file& operator=(const posix_writable_file&) = delete;

  result<void> append(std::string_view data) override {
    std::uint64_t pos = size_.load(std::memory_order_relaxed);
    const char* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(pos));
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error("append", path_, errno);
      }
      p += n;
      left -= static_cast<std::size_t>(n);
      pos += static_cast<std::uint64_t>(n);
    }
    size_.store(pos, std::memory_order_release);
    return {};
  }

  result<void> sync() override {
    if (::fdatasync(fd_) != 0) return io_error("fdatasync", path_, errno);
    return {};
  }

  std::uint64_t size() const noexcept override { return size_.load(std::memory_order_acquire); }

 private:
  std::string path_;
  int fd_;
  std::atomic<std::uint64_t> size_;
};

class posix_random_access_file final : public random_access_file {
 public:
  posix_random_access_file(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~posix_random_access_file() override { ::close(fd_); }
  posix_random_access_file(const posix_random_access_file&) = delete;
  posix_random_access_file& operator=(const posix_random_access_file&) = delete;

  result<std::size_t> read(std::uint64_t offset, std::size_t n, char* scratch) const override {
    std::size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, scratch + done, n - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return io_error("read", path_, errno);
      }
      if (r == 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

  result<std::uint64_t> size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return io_error("stat", path_, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  std::string path_;
  int fd_;
};

class posix_lock final : public file_lock {
 public:
  explicit posix_lock(int fd) : fd_(fd) {}
  ~posix_lock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  posix_lock(const posix_lock&) = delete;
  posix_lock& operator=(const posix_lock&) = delete;

 private:
  int fd_;
};

class posix_fs final : public file_system {
 public:
  result<std::unique_ptr<writable_file>> open_append(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("open", path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      return io_error("stat", path, e);
    }
    return std::unique_ptr<writable_file>(
        std::make_unique<posix_writable_file>(path, fd, static_cast<std::uint64_t>(st.st_size)));
  }

  result<std::unique_ptr<random_access_file>> open_read(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return io_error("open", path, errno);
    return std::unique_ptr<random_access_file>(std::make_unique<posix_random_access_file>(path, fd));
  }

  result<void> rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return io_error("rename", from + " to " + to, errno);
    return {};
  }

  result<void> remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return io_error("remove", path, errno);
    return {};
  }

  result<void> remove_all(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) return io_error("remove", dir, ec.value());
    return {};
  }

  result<void> create_dirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return io_error("mkdir", dir, ec.value());
    return {};
  }

  result<std::vector<std::string>> list_dir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return io_error("list", dir, errno);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string_view n(e->d_name);
      if (n == "." || n == "..") continue;
      names.emplace_back(n);
    }
    ::closedir(d);
    return names;
  }

  result<void> sync_dir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_error("open", dir, errno);
    int rc = ::fsync(fd);
    int e = errno;
    ::close(fd);
    if (rc != 0) return io_error("fsync", dir, e);
    return {};
  }

  result<std::uint64_t> file_size(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return io_error("stat", path, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

  result<void> truncate(const std::string& path, std::uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return io_error("truncate", path, errno);
    return {};
  }

  bool exists(const std::string& path) override {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
  }

  result<std::unique_ptr<file_lock>> lock_file(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("open", path, errno);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int e = errno;
      ::close(fd);
      if (e == EWOULDBLOCK) {
        return error(error_code::internal_failure, "lock " + path + ": is locked by another process");
      }
      return io_error("lock", path, e);
    }
    return std::unique_ptr<file_lock>(std::make_unique<posix_lock>(fd));
  }

  result<std::unique_ptr<file_lock>> lock_file_waiting(const std::string& path, bool shared) override {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return io_error("open", path, errno);
    while (::flock(fd, shared ? LOCK_SH : LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return io_error("lock", path, e);
    }
    return std::unique_ptr<file_lock>(std::make_unique<posix_lock>(fd));
  }
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
  static const std::shared_ptr<file_system> fs = std::make_shared<posix_fs>();
  return fs;
}

result<std::string> read_whole_file(file_system& fs, const std::string& path) {
  auto f = fs.open_read(path);
  if (!f) return f.error();
  auto size = (*f)->size();
  if (!size) return size.error();
  std::string out(static_cast<std::size_t>(*size), '\0');
  auto n = (*f)->read(0, out.size(), out.data());
  if (!n) return n.error();
  out.resize(*n);
  return out;
}

result<void> write_file_atomically(file_system& fs, const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  if (auto r = fs.remove(tmp); !r) return r;
  {
    auto f = fs.open_append(tmp);
    if (!f) return f.error();
    if (auto r = (*f)->append(contents); !r) return r;
    if (auto r = (*f)->sync(); !r) return r;
  }
  if (auto r = fs.rename(tmp, path); !r) return r;
  const auto slash = path.find_last_of('/');
  return fs.sync_dir(slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash));
}

}  // namespace rill
