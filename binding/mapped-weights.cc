#include "mapped-weights.h"

#include <c10/core/CPUAllocator.h>
#include <torch/library.h>

#include <cstdio>
#include <unordered_map>

#if defined(__unix__) || defined(__APPLE__)
#define ANIMATORCH_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace animatorch {

namespace {

thread_local const MappedWeights* current = nullptr;

[[noreturn]] void Fail(const std::string& file, const std::string& what) {
  throw std::runtime_error("mapped weights '" + file + "': " + what);
}

at::Tensor ReleaseWeights(const at::Tensor& x, int64_t segment) {
  if (current) current->Release(segment);
  return x;
}

}  // namespace

TORCH_LIBRARY(animatorch, m) { m.def("release_weights(Tensor(a) x, int segment) -> Tensor(a)", &ReleaseWeights); }

std::shared_ptr<MappedWeights> MappedWeights::Map(torch::jit::Module& module, const std::string& file,
                                                  const std::vector<MappedTensor>& tensors, std::vector<MappedSegment> segments) {
  std::shared_ptr<MappedWeights> self(new MappedWeights());
  self->segments_ = std::move(segments);
#ifdef ANIMATORCH_MMAP
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(file, "cannot open it");
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    close(fd);
    Fail(file, "cannot stat it");
  }
  self->size_ = static_cast<size_t>(st.st_size);
  if (self->size_ > 0) {
    void* p = mmap(nullptr, self->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      close(fd);
      Fail(file, "mmap failed");
    }
    self->base_ = static_cast<char*>(p);
    self->mmapped_ = true;
#ifdef MADV_HUGEPAGE
    // A fault then reads and maps a whole 2 MiB folio: a full-size UNet call took ~2 thousand faults
    // instead of ~52 thousand (0.5 s less system time a step), and a cold page cache fills in 2 MiB
    // reads. Advice only: where the kernel has no large folios for the file it changes nothing.
    madvise(p, self->size_, MADV_HUGEPAGE);
#endif
  }
  close(fd);
#else
  FILE* f = std::fopen(file.c_str(), "rb");
  if (!f) Fail(file, "cannot open it");
#ifdef _WIN32  // long is 32 bits there; the weights file is larger than 2 GB
  _fseeki64(f, 0, SEEK_END);
  self->size_ = static_cast<size_t>(_ftelli64(f));
  _fseeki64(f, 0, SEEK_SET);
#else
  std::fseek(f, 0, SEEK_END);
  self->size_ = static_cast<size_t>(std::ftell(f));
  std::fseek(f, 0, SEEK_SET);
#endif
  self->base_ = static_cast<char*>(c10::alloc_cpu(self->size_ ? self->size_ : 1));
  bool ok = std::fread(self->base_, 1, self->size_, f) == self->size_;
  std::fclose(f);
  if (!ok) Fail(file, "cannot read it");
#endif
  for (const auto& s : self->segments_)
    if (s.offset < 0 || s.bytes < 0 || static_cast<size_t>(s.offset + s.bytes) > self->size_) Fail(file, "a segment lies outside the file");

  std::unordered_map<std::string, at::Tensor> params;
  for (const auto& p : module.named_parameters(true)) params.emplace(p.name, p.value);
  std::shared_ptr<MappedWeights> keep = self;
  for (const auto& t : tensors) {
    auto it = params.find(t.name);
    if (it == params.end()) Fail(file, "the module has no parameter '" + t.name + "'");
    at::Tensor& p = it->second;
    int64_t want = p.numel() * static_cast<int64_t>(p.element_size());
    if (t.bytes != want) Fail(file, "'" + t.name + "' has " + std::to_string(t.bytes) + " bytes, the module expects " + std::to_string(want));
    if (t.offset < 0 || static_cast<size_t>(t.offset + t.bytes) > self->size_ || t.offset % p.element_size() != 0)
      Fail(file, "'" + t.name + "' lies outside the file or is misaligned");
    at::Tensor mapped = at::from_blob(self->base_ + t.offset, p.sizes(), [keep](void*) {}, p.options().requires_grad(false));
    p.set_data(mapped);
  }
  // What the index left out is still a placeholder (one value broadcast to the shape): refuse it here
  // rather than render NaN.
  for (const auto& [name, p] : params) {
    bool broadcast = p.numel() > 1;
    for (int64_t d = 0; d < p.dim() && broadcast; d++) broadcast = p.size(d) == 1 || p.stride(d) == 0;
    if (broadcast) Fail(file, "the index has no entry for parameter '" + name + "'");
  }
  return self;
}

MappedWeights::~MappedWeights() {
#ifdef ANIMATORCH_MMAP
  if (mmapped_) munmap(base_, size_);
#else
  c10::free_cpu(base_);
#endif
}

void MappedWeights::Release(int64_t segment) const {
#ifdef ANIMATORCH_MMAP
  if (!mmapped_ || segment < 0 || segment >= static_cast<int64_t>(segments_.size())) return;
  // Faulting them back in costs ~0.07 s per GB here (5.3 GB: 0.35 s, and 0.15 s to drop them);
  // MADV_POPULATE_READ of the next segment measured no faster, so the pages fault in as read.
  Advise(segment, MADV_DONTNEED);
#else
  (void)segment;
#endif
}

void MappedWeights::Advise(int64_t segment, int advice) const {
#ifdef ANIMATORCH_MMAP
  const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  auto start = reinterpret_cast<uintptr_t>(base_ + segments_[segment].offset);
  auto end = start + static_cast<uintptr_t>(segments_[segment].bytes);
  start = (start + page - 1) / page * page;  // whole pages of this segment only
  end = end / page * page;
  if (end > start) madvise(reinterpret_cast<void*>(start), end - start, advice);
#else
  (void)segment;
  (void)advice;
#endif
}

ReleaseScope::ReleaseScope(const MappedWeights* weights) : previous_(current) { current = weights; }
ReleaseScope::~ReleaseScope() { current = previous_; }

}  // namespace animatorch
