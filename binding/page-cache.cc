#include "page-cache.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#define ANIMATORCH_PAGE_CACHE 1
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#endif

namespace animatorch {

#ifdef ANIMATORCH_PAGE_CACHE
namespace {

// 8 MiB: whole 2 MiB folios, and few enough syscalls (640 for a 5 GB UNet).
constexpr int64_t kChunk = 8 << 20;

class File {
 public:
  explicit File(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("cannot open '" + path + "'");
  }
  ~File() { close(fd_); }
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

// Bytes of [offset, offset + length) in the page cache: cachestat (Linux 6.5) where the kernel has it,
// else mincore on a mapping of the range (never touched). mincore reports every page cached for a file
// the process neither owns nor may write: then nothing is read, as before.
int64_t CachedBytes(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
#ifndef __NR_cachestat
#define __NR_cachestat 451  // the same number on every architecture
#endif
  struct {
    uint64_t off, len;
  } range{static_cast<uint64_t>(offset), static_cast<uint64_t>(length)};
  struct {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  static std::atomic<bool> hasCachestat{true};
  if (hasCachestat) {
    if (syscall(__NR_cachestat, fd, &range, &stat, 0) == 0) return static_cast<int64_t>(stat.nr_cache) * sysconf(_SC_PAGESIZE);
    if (errno == ENOSYS || errno == EPERM) hasCachestat = false;  // an older kernel, or a seccomp filter
  }
#endif
  const int64_t page = sysconf(_SC_PAGESIZE);
  void* p = mmap(nullptr, static_cast<size_t>(length), PROT_READ, MAP_SHARED, fd, offset);
  if (p == MAP_FAILED) return length;  // cannot tell: treat as cached, read nothing
  std::vector<unsigned char> vec(static_cast<size_t>((length + page - 1) / page));
  int64_t cached = length;
#if defined(__APPLE__)
  int ok = mincore(p, static_cast<size_t>(length), reinterpret_cast<char*>(vec.data()));
#else
  int ok = mincore(p, static_cast<size_t>(length), vec.data());
#endif
  if (ok == 0) {
    cached = 0;
    for (unsigned char v : vec) cached += (v & 1) ? page : 0;
  }
  munmap(p, static_cast<size_t>(length));
  return cached;
}

}  // namespace

PageCacheRead ReadIntoPageCache(const std::string& path, int64_t maxBytes, const std::atomic<bool>& cancelled) {
  File file(path);
  struct stat st {};
  if (fstat(file.fd(), &st) != 0) throw std::runtime_error("cannot stat '" + path + "'");
  PageCacheRead out;
  out.bytes = static_cast<int64_t>(st.st_size);
  std::vector<int64_t> missing, partial;  // chunk offsets: not all cached; of those, some
  for (int64_t off = 0; off < out.bytes && !cancelled; off += kChunk) {
    int64_t len = std::min(kChunk, out.bytes - off);
    int64_t cached = CachedBytes(file.fd(), off, len);
    if (cached < len) {
      missing.push_back(off);
      if (cached > 0) partial.push_back(off);
      out.uncached += len;
    }
  }
  if (out.uncached == 0 || out.uncached > maxBytes) return out;
#ifdef POSIX_FADV_DONTNEED
  // Chunks partly cached are dropped first (pages a process maps stay), all before the reads (dropping one
  // later would drop what the reads before it read ahead): read around cached pages, the holes would be
  // filled in small folios, and every later step would fault them in a few pages at a time.
  for (int64_t off : partial) posix_fadvise(file.fd(), off, std::min(kChunk, out.bytes - off), POSIX_FADV_DONTNEED);
#endif
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(file.fd(), 0, 0, POSIX_FADV_SEQUENTIAL);  // a larger readahead window
#endif
  // read(), not a mapping: the kernel's readahead fills the cache in large folios, and nothing is mapped
  std::vector<char> buffer(static_cast<size_t>(kChunk));
  for (int64_t off : missing) {
    if (cancelled) break;
    int64_t len = std::min(kChunk, out.bytes - off);
    for (int64_t done = 0; done < len;) {
      ssize_t n = pread(file.fd(), buffer.data(), static_cast<size_t>(len - done), off + done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw std::runtime_error("cannot read '" + path + "'");
      done += n;
      out.read += n;
    }
  }
  return out;
}
#else
PageCacheRead ReadIntoPageCache(const std::string& path, int64_t, const std::atomic<bool>&) {
  (void)path;
  return {};
}
#endif

}  // namespace animatorch
