// A caching allocator for torch's CPU tensors: freed blocks of 256 KiB and more stay mapped, as free
// ranges joined with their neighbours, and the next allocations of any size are cut out of them (best
// fit). A UNet step frees and allocates the same activation sizes thousands of times; glibc maps most of
// them afresh (and its per-thread arenas cap their heaps at 64 MiB), so every step faulted in and zeroed
// gigabytes of new pages. And a stage's freed memory serves the next stage's other sizes. The policy
// (when to turn it on, how much to keep) is lib/'s; this file only does what it is told.
#pragma once

#include <cstdint>

namespace animatorch {

struct HostCacheStats {
  bool enabled = false;
  int64_t liveBytes = 0;      // blocks handed out now
  int64_t freeBytes = 0;      // free ranges kept for reuse
  int64_t peakBytes = 0;      // largest live + free so far (ResetPeak starts again)
  int64_t maxFreeBytes = 0;   // free bytes kept at most before the longest free ranges are unmapped
  int64_t hits = 0;           // allocations cut out of free ranges
  int64_t misses = 0;         // allocations that mapped a new block
};

// Installs the allocator as torch's CPU allocator on first use (it then stays installed: torch keeps the
// highest-priority one) and turns caching on or off. Off, large blocks are released when freed, as
// before. At most maxFreeBytes of free ranges are kept.
void SetHostCache(bool enabled, int64_t maxFreeBytes);
// Unmaps every free range; returns the bytes unmapped.
int64_t ReleaseHostCache();
HostCacheStats GetHostCacheStats();
void ResetHostCachePeak();

// While one lives, this thread's CPU allocations bypass the cache (torch's own allocation), and go back
// to the OS when freed: a module's weights loaded this way do not take the free memory a stage handed on.
class HostCacheBypass {
 public:
  HostCacheBypass();
  ~HostCacheBypass();
  HostCacheBypass(const HostCacheBypass&) = delete;
  HostCacheBypass& operator=(const HostCacheBypass&) = delete;
};

}  // namespace animatorch
