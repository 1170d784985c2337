// Copyright 2026 The rill Authors. Licensed under the Apache License, Version 2.0.
#include "storage/fault_file_system.hpp"

#include <cstring>

namespace rill {
namespace {

error injected_error(std::string_view op, const std::string& path, int err) {
  return error(error_code::internal_failure, std::string(op) + " " + path + ": " + std::strerror(err) + " (injected)");
}

class fault_writable_file final : public writable_file {
 public:
  fault_writable_file(fault_file_system& fs, std::string path, std::unique_ptr<writable_file> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  result<void> append(std::string_view data) override {
    auto hit = fs_.check(fs_op::append, path_);
    if (hit.err != 0) {
      if (hit.short_write && data.size() > 1) {
        (void)base_->append(data.substr(0, data.size() / 2));
        fs_.note_size(path_, base_->size(), false);
      }
      return injected_error("append", path_, hit.err);
    }
    auto r = base_->append(data);
    fs_.note_size(path_, base_->size(), false);
    return r;
  }
  result<void> sync() override {
    // The size to mark synced is the one before the sync began.
    const std::uint64_t size = base_->size();
    auto hit = fs_.check(fs_op::sync, path_);
    if (hit.err != 0) return injected_error("fdatasync", path_, hit.err);
    auto r = base_->sync();
    if (r) fs_.note_size(path_, size, true);
    return r;
  }
  std::uint64_t size() const noexcept override { return base_->size(); }

 private:
  fault_file_system& fs_;
  std::string path_;
  std::unique_ptr<writable_file> base_;
};

class fault_random_access_file final : public random_access_file {
 public:
  fault_random_access_file(fault_file_system& fs, std::string path, std::unique_ptr<random_access_file> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}
  result<std::size_t> read(std::uint64_t offset, std::size_t n, char* scratch) const override {
    auto hit = fs_.check(fs_op::read, path_);
    if (hit.err != 0) return injected_error("read", path_, hit.err);
    return base_->read(offset, n, scratch);
  }
  result<std::uint64_t> size() const override { return base_->size(); }

 private:
  fault_file_system& fs_;
  std::string path_;
  std::unique_ptr<random_access_file> base_;
};

}  // namespace

fault_file_system::fault_file_system(std::shared_ptr<file_system> base) : base_(std::move(base)) {}

void fault_file_system::inject(fs_fault f) {
  std::lock_guard lock(mu_);
  rules_.push_back({std::move(f)});
}

void fault_file_system::clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
}

std::uint64_t fault_file_system::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

std::uint64_t fault_file_system::calls(fs_op op) const {
  std::lock_guard lock(mu_);
  auto it = calls_.find(op);
  return it == calls_.end() ? 0 : it->second;
}

fault_file_system::fault_hit fault_file_system::check(fs_op op, const std::string& path) {
  std::lock_guard lock(mu_);
  ++calls_[op];
  for (auto& r : rules_) {
    if (r.f.op != fs_op::any && r.f.op != op) continue;
    if (!r.f.path_contains.empty() && path.find(r.f.path_contains) == std::string::npos) continue;
    if (r.f.times != 0 && r.failed >= r.f.times) continue;
    if (r.seen++ < r.f.after) continue;
    ++r.failed;
    ++injected_;
    return {r.f.err, r.f.short_write && op == fs_op::append};
  }
  return {};
}

void fault_file_system::note_size(const std::string& path, std::uint64_t size, bool synced) {
  std::lock_guard lock(mu_);
  auto& st = files_[path];
  if (synced) {
    st.synced = std::max(st.synced, size);
  } else {
    st.size = size;
  }
}

result<void> fault_file_system::drop_unsynced() {
  std::lock_guard lock(mu_);
  for (auto& [path, st] : files_) {
    if (!base_->exists(path)) continue;
    auto size = base_->file_size(path);
    if (!size) return size.error();
    if (*size > st.synced) {
      if (auto r = base_->truncate(path, st.synced); !r) return r;
    }
    st.size = st.synced;
  }
  return {};
}

result<std::unique_ptr<writable_file>> fault_file_system::open_append(const std::string& path) {
  if (auto hit = check(fs_op::open, path); hit.err != 0) return injected_error("open", path, hit.err);
  const bool existed = base_->exists(path);
  auto f = base_->open_append(path);
  if (!f) return f.error();
  {
    std::lock_guard lock(mu_);
    if (!files_.contains(path)) {
      // A file that existed before we saw it counts as durable.
      const std::uint64_t size = (*f)->size();
      files_[path] = {existed ? size : 0, size};
    }
  }
  return std::unique_ptr<writable_file>(std::make_unique<fault_writable_file>(*this, path, std::move(*f)));
}

result<std::unique_ptr<random_access_file>> fault_file_system::open_read(const std::string& path) {
  if (auto hit = check(fs_op::open, path); hit.err != 0) return injected_error("open", path, hit.err);
  auto f = base_->open_read(path);
  if (!f) return f.error();
  return std::unique_ptr<random_access_file>(std::make_unique<fault_random_access_file>(*this, path, std::move(*f)));
}

result<void> fault_file_system::rename(const std::string& from, const std::string& to) {
  if (auto hit = check(fs_op::rename, from); hit.err != 0) return injected_error("rename", from, hit.err);
  auto r = base_->rename(from, to);
  if (r) {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(from); it != files_.end()) {
      files_[to] = it->second;
      files_.erase(it);
    } else {
      files_.erase(to);
    }
  }
  return r;
}

result<void> fault_file_system::remove(const std::string& path) {
  if (auto hit = check(fs_op::remove, path); hit.err != 0) return injected_error("remove", path, hit.err);
  auto r = base_->remove(path);
  if (r) {
    std::lock_guard lock(mu_);
    files_.erase(path);
  }
  return r;
}

result<void> fault_file_system::remove_all(const std::string& dir) {
  if (auto hit = check(fs_op::remove, dir); hit.err != 0) return injected_error("remove", dir, hit.err);
  auto r = base_->remove_all(dir);
  if (r) {
    std::lock_guard lock(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      it = it->first.starts_with(dir + "/") ? files_.erase(it) : std::next(it);
    }
  }
  return r;
}

result<void> fault_file_system::create_dirs(const std::string& dir) { return base_->create_dirs(dir); }

result<std::vector<std::string>> fault_file_system::list_dir(const std::string& dir) { return base_->list_dir(dir); }

result<void> fault_file_system::sync_dir(const std::string& dir) {
  if (auto hit = check(fs_op::sync_dir, dir); hit.err != 0) return injected_error("fsync", dir, hit.err);
  return base_->sync_dir(dir);
}

result<std::uint64_t> fault_file_system::file_size(const std::string& path) { return base_->file_size(path); }

result<void> fault_file_system::truncate(const std::string& path, std::uint64_t size) {
  if (auto hit = check(fs_op::truncate, path); hit.err != 0) return injected_error("truncate", path, hit.err);
  auto r = base_->truncate(path, size);
  if (r) {
    std::lock_guard lock(mu_);
    if (auto it = files_.find(path); it != files_.end()) {
      it->second.size = size;
      it->second.synced = std::min(it->second.synced, size);
    }
  }
  return r;
}

bool fault_file_system::exists(const std::string& path) { return base_->exists(path); }

result<std::unique_ptr<file_lock>> fault_file_system::lock_file(const std::string& path) {
  return base_->lock_file(path);
}

result<std::unique_ptr<file_lock>> fault_file_system::lock_file_waiting(const std::string& path, bool shared) {
  return base_->lock_file_waiting(path, shared);
}

}  // namespace rill
