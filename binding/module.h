// ModuleWrap: a TorchScript module. load, forward and to() run on the thread
// pool; forwards may overlap each other, while to()/dispose wait for them.
#pragma once

#include "common.h"
#include "mapped-weights.h"

#include <torch/script.h>

#include <atomic>
#include <memory>
#include <shared_mutex>

namespace animatorch {

struct LoadedModule {
  torch::jit::Module module;
  std::string path;
  std::shared_mutex lock;  // shared for calls, exclusive for to()
  // TorchScript's graph optimisations for this module's calls (setGraphOptimize); unset: torch's
  // setting. Off, the profiling executor runs the graph as scripted, without its profiling runs.
  std::atomic<int> optimize{-1};
  // Its parameters' mapped file, while any parameter still points into it (none after a to() that copies them).
  std::weak_ptr<MappedWeights> mapped;
};

class ModuleWrap : public Napi::ObjectWrap<ModuleWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // loadModule(path, device?, dtype?, mapped?, bypassHostCache?) -> Promise<NativeModule>; bypassHostCache:
  // its weights are allocated outside the host cache (host-cache.h HostCacheBypass)
  static Napi::Value Load(const Napi::CallbackInfo& info);

  explicit ModuleWrap(const Napi::CallbackInfo& info);
  ~ModuleWrap() override;

 private:
  Napi::Value Path(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Call(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Methods(const Napi::CallbackInfo& info);
  Napi::Value Parameters(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value SetGraphOptimize(const Napi::CallbackInfo& info);

  std::shared_ptr<LoadedModule> Get(Napi::Env env) const;
  void ReportMemory(Napi::Env env);

  std::shared_ptr<LoadedModule> module_;
  int64_t reportedBytes_ = 0;
};

}  // namespace animatorch
