// A caching allocator for torch's CPU tensors: freed blocks of 256 KiB and more stay mapped, in size
// classes, for the next allocation of their class. A UNet step frees and allocates the same activation
// sizes thousands of times; glibc maps most of them afresh (and its per-thread arenas cap their heaps at
// 64 MiB), so every step faulted in and zeroed gigabytes of new pages. The policy (when to turn it on,
// how much to keep) is lib/'s; this file only does what it is told.
#pragma once

#include <cstdint>

namespace animatorch {

struct HostCacheStats {
  bool enabled = false;
  int64_t liveBytes = 0;      // blocks handed out now
  int64_t freeBytes = 0;      // blocks kept for reuse
  int64_t peakBytes = 0;      // largest live + free so far (ResetPeak starts again)
  int64_t maxFreeBytes = 0;   // free bytes kept at most before the largest free blocks are unmapped
  int64_t hits = 0;           // allocations served from the cache
  int64_t misses = 0;         // allocations that mapped a new block
};

// Installs the allocator as torch's CPU allocator on first use (it then stays installed: torch keeps the
// highest-priority one) and turns caching on or off. Off, large blocks are released when freed, as
// before. At most maxFreeBytes of free blocks are kept.
void SetHostCache(bool enabled, int64_t maxFreeBytes);
// Unmaps every free block; returns the bytes unmapped.
int64_t ReleaseHostCache();
HostCacheStats GetHostCacheStats();
void ResetHostCachePeak();

}  // namespace animatorch
