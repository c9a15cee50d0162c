// ReadIntoPageCache: reads a file into the kernel's page cache ahead of use, skipping what is cached
// already, without mapping it into the process (its resident set does not grow). lib/ calls it for a
// UNet's mapped weights before the first step (mapped-weights.ts), and decides when.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace animatorch {

struct PageCacheRead {
  int64_t bytes = 0;     // the file's size
  int64_t uncached = 0;  // bytes not in the page cache before (in whole chunks that were not fully cached)
  int64_t read = 0;      // bytes read: 0 when `uncached` was over the limit
};

// Reads the chunks of `file` that are not fully cached, when they add up to at most `maxBytes`; stops
// between chunks once `cancelled` is set. Where mapped weights are not mmap'd (no mmap on the system)
// there is nothing to read ahead.
PageCacheRead ReadIntoPageCache(const std::string& file, int64_t maxBytes, const std::atomic<bool>& cancelled);

}  // namespace animatorch
