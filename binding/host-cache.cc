#include "host-cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define ANIMATORCH_HOST_CACHE 1
#endif
#ifdef MAP_POPULATE
constexpr int kPopulate = MAP_POPULATE;  // Linux
#else
constexpr int kPopulate = 0;
#endif

namespace animatorch {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kMinCached = 256 * 1024;  // smaller blocks stay in malloc's arenas, which reuse them well

thread_local int bypassDepth = 0;  // HostCacheBypass scopes open on this thread

class HostCache final : public c10::Allocator {
 public:
  // Both signatures: torch 1.13 declares allocate const, 2.x not; whichever the base has is overridden.
  c10::DataPtr allocate(size_t n) const { return Allocate(n); }
  c10::DataPtr allocate(size_t n) { return Allocate(n); }
  c10::DeleterFnPtr raw_deleter() const override { return &Free; }
  // torch 2.x's pure virtual (a plain member on 1.13).
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  static HostCache& Get() {
    static HostCache* const cache = new HostCache();  // never destroyed: tensors may outlive static teardown
    return *cache;
  }

  void Configure(bool enabled, int64_t maxFreeBytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!installed_) {
        // Torch keeps the allocator of the highest priority; the default one registers at 0.
        c10::SetCPUAllocator(this, /*priority=*/100);
        installed_ = true;
      }
      enabled_ = enabled;
      maxFree_ = static_cast<size_t>(std::max<int64_t>(0, maxFreeBytes));
    }
    if (!enabled) Release();
  }

  int64_t Release() {
    std::vector<std::pair<void*, size_t>> unmap;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& [start, length] : freeByStart_) unmap.emplace_back(start, length);
      freeByStart_.clear();
      freeByLength_.clear();
      freeBytes_ = 0;
    }
    int64_t bytes = 0;
    for (auto& [p, size] : unmap) {
      Unmap(p, size);
      bytes += static_cast<int64_t>(size);
    }
    return bytes;
  }

  HostCacheStats Stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    HostCacheStats s;
    s.enabled = enabled_;
    s.liveBytes = static_cast<int64_t>(liveBytes_);
    s.freeBytes = static_cast<int64_t>(freeBytes_);
    s.peakBytes = static_cast<int64_t>(peakBytes_);
    s.maxFreeBytes = static_cast<int64_t>(maxFree_);
    s.hits = hits_;
    s.misses = misses_;
    return s;
  }

  void ResetPeak() {
    std::lock_guard<std::mutex> lock(mutex_);
    peakBytes_ = liveBytes_ + freeBytes_;
  }

 private:
  c10::DataPtr Allocate(size_t n) const { return const_cast<HostCache*>(this)->AllocateBlock(n); }

  c10::DataPtr AllocateBlock(size_t n) {
    void* p = nullptr;
    if (n >= kMinCached && bypassDepth == 0) p = TakeOrMap((n + kPage - 1) / kPage * kPage);
    if (p == nullptr) p = c10::alloc_cpu(n);  // small blocks, or no mmap here: torch's own allocation
    return {p, p, &Free, c10::Device(c10::DeviceType::CPU)};
  }

  // Best fit: the shortest free range that holds the block, split when longer (the rest stays free). Free
  // ranges are joined with their neighbours, so memory freed in one size serves any other: the text
  // encoder's weights the UNet's activations, the UNet's the VAE's, a step's large tensors the next
  // one's small ones.
  void* TakeOrMap(size_t size) {
    std::vector<std::pair<char*, size_t>> unmap;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!enabled_) return nullptr;
      auto fit = freeByLength_.lower_bound({size, nullptr});
      if (fit != freeByLength_.end()) {
        auto [length, start] = *fit;
        RemoveFree(start, length);
        if (length > size) AddFree(start + size, length - size);
        live_[start] = size;
        liveBytes_ += size;
        ++hits_;
        return start;
      }
      ++misses_;
      // Make room for this block once it is freed: unmap the longest free ranges first (which sizes come
      // next is unknowable; the longest give back the most pages for the fewest calls).
      while (!freeByLength_.empty() && freeBytes_ + size > maxFree_) {
        auto [length, start] = *std::prev(freeByLength_.end());
        RemoveFree(start, length);
        unmap.emplace_back(start, length);
      }
    }
    for (auto& [q, s] : unmap) Unmap(q, s);
    void* p = Map(size);
    if (p == nullptr) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    live_[p] = size;
    liveBytes_ += size;
    peakBytes_ = std::max(peakBytes_, liveBytes_ + freeBytes_);
    return p;
  }

  // Under mutex_: a free range into both indexes, joined with the free ranges just before and after it
  // (mappings placed next to each other join too: a range may span several, which munmap takes).
  void AddFree(char* start, size_t length) {
    freeBytes_ += length;
    auto next = freeByStart_.lower_bound(start);
    if (next != freeByStart_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == start) {
        start = prev->first;
        length += prev->second;
        freeByLength_.erase({prev->second, prev->first});
        freeByStart_.erase(prev);
      }
    }
    if (next != freeByStart_.end() && start + length == next->first) {
      length += next->second;
      freeByLength_.erase({next->second, next->first});
      freeByStart_.erase(next);
    }
    freeByStart_.emplace(start, length);
    freeByLength_.emplace(length, start);
  }

  void RemoveFree(char* start, size_t length) {
    freeByStart_.erase(start);
    freeByLength_.erase({length, start});
    freeBytes_ -= length;
  }

  static void Free(void* p) {
    if (p == nullptr) return;
    HostCache& cache = Get();
    size_t size = 0;
    bool keep = false;
    {
      std::lock_guard<std::mutex> lock(cache.mutex_);
      auto it = cache.live_.find(p);
      if (it != cache.live_.end()) {
        size = it->second;
        cache.live_.erase(it);
        cache.liveBytes_ -= size;
        keep = cache.enabled_ && cache.freeBytes_ + size <= cache.maxFree_;
        if (keep) cache.AddFree(static_cast<char*>(p), size);
      }
    }
    if (size == 0) {
      c10::free_cpu(p);  // not one of ours: a small block, or one made while the cache was off
    } else if (!keep) {
      Unmap(p, size);
    }
  }

  static void* Map(size_t size) {
#ifdef ANIMATORCH_HOST_CACHE
    // Populated at once: one call faults the block in, not a trap per page (a render's first UNet call took
    // 0.98-1.10x a later one with it, 1.11-1.18x without; three runs each). Blocks are whole pages.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | kPopulate, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
#else
    (void)size;
    return nullptr;
#endif
  }

  static void Unmap(void* p, size_t size) {
#ifdef ANIMATORCH_HOST_CACHE
    munmap(p, size);
#else
    (void)p;
    (void)size;
#endif
  }

  std::mutex mutex_;
  bool installed_ = false;
  bool enabled_ = false;
  size_t maxFree_ = 0;
  std::unordered_map<void*, size_t> live_;
  std::map<char*, size_t> freeByStart_;             // free ranges: start -> length
  std::set<std::pair<size_t, char*>> freeByLength_;  // the same, by length (best fit)
  size_t liveBytes_ = 0;
  size_t freeBytes_ = 0;
  size_t peakBytes_ = 0;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
};

}  // namespace

void SetHostCache(bool enabled, int64_t maxFreeBytes) {
  HostCache::Get().Configure(enabled, maxFreeBytes);
}

int64_t ReleaseHostCache() { return HostCache::Get().Release(); }

HostCacheStats GetHostCacheStats() { return HostCache::Get().Stats(); }

void ResetHostCachePeak() { HostCache::Get().ResetPeak(); }

HostCacheBypass::HostCacheBypass() { ++bypassDepth; }
HostCacheBypass::~HostCacheBypass() { --bypassDepth; }

}  // namespace animatorch
