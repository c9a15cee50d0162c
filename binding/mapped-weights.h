// MappedWeights: a TorchScript module's parameters read through a read-only
// mmap of its <name>.weights.bin (scripts/animatorch_export/mapped_weights.py),
// and the animatorch::release_weights op its scripted forward calls after each
// segment (a UNet block) to drop that segment's pages from the process. The
// file stays in the kernel's page cache, so the next step reads it back
// without touching the disk. Which tensors and segments: lib/ reads the index.
#pragma once

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace animatorch {

struct MappedTensor {
  std::string name;
  int64_t offset;
  int64_t bytes;
};

struct MappedSegment {
  int64_t offset;
  int64_t bytes;
};

class MappedWeights {
 public:
  // Maps `file` and points each named parameter of `module` at its bytes. The
  // parameters keep the mapping alive; it is unmapped when the last one goes.
  static std::shared_ptr<MappedWeights> Map(torch::jit::Module& module, const std::string& file,
                                            const std::vector<MappedTensor>& tensors, std::vector<MappedSegment> segments);
  ~MappedWeights();
  MappedWeights(const MappedWeights&) = delete;
  MappedWeights& operator=(const MappedWeights&) = delete;

  // Drops the segment's pages from this process (they are read again on use).
  void Release(int64_t segment) const;
  // Whether `p` points into the mapped file (a mapped parameter's data).
  bool Contains(const void* p) const { return p >= base_ && p < base_ + size_; }

 private:
  MappedWeights() = default;
  void Advise(int64_t segment, int advice) const;
  char* base_ = nullptr;
  size_t size_ = 0;
  bool mmapped_ = false;  // false: read into memory (no mmap on this system); Release does nothing
  std::vector<MappedSegment> segments_;
};

// While one lives, release_weights calls on this thread release `weights`' segments.
class ReleaseScope {
 public:
  explicit ReleaseScope(const MappedWeights* weights);
  ~ReleaseScope();
  ReleaseScope(const ReleaseScope&) = delete;
  ReleaseScope& operator=(const ReleaseScope&) = delete;

 private:
  const MappedWeights* previous_;
};

}  // namespace animatorch
