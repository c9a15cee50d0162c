// Shared pieces of the binding: per-environment addon state, the error guard
// that turns every torch/c10 error into a JS Error, and JS <-> torch argument
// conversion. The binding holds no policy: lib/ validates and decides.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace animatorch {

// Bytes of host (CPU) storage held by live TensorWraps, counted once per
// storage, reported to V8 so the GC sees what it keeps alive.
class HostMemory {
 public:
  void Retain(Napi::Env env, const at::Tensor& t);
  void Release(Napi::Env env, const at::Tensor& t);
  int64_t Bytes() const { return bytes_; }

 private:
  struct Entry {
    int64_t bytes;
    int64_t refs;
  };
  std::unordered_map<const void*, Entry> storages_;
  int64_t bytes_ = 0;
};

// Per-environment state (main thread, worker_threads, Electron renderers each
// get their own), reached through env.GetInstanceData<AddonData>().
struct AddonData {
  Napi::FunctionReference tensorCtor;
  Napi::FunctionReference moduleCtor;
  Napi::FunctionReference generatorCtor;
  // Shared with every TensorWrap: finalizers may run after the addon data is
  // gone when an environment (a worker) is torn down.
  std::shared_ptr<HostMemory> host = std::make_shared<HostMemory>();
};

// napi_adjust_external_memory without throwing: it runs in finalizers, where
// an exception would terminate the process, and may fail during teardown.
void AdjustExternalMemory(napi_env env, int64_t delta);

AddonData& Data(Napi::Env env);  // defined with the Addon class in addon.cc

// Runs f with autograd off (inference mode is thread-local, so every call
// sets it) and converts c10/std errors into JS Errors without C++ backtraces.
template <typename F>
auto Guarded(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    c10::InferenceMode inference;
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

[[noreturn]] inline void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

// dtype names as libtorch spells them ('Float', 'Half', ...); device names as lib/ does ('cuda:1').
at::ScalarType ParseDtype(Napi::Env env, const std::string& name);
std::string DtypeName(at::ScalarType type);
at::Device ParseDevice(Napi::Env env, const std::string& name);
std::string DeviceName(const at::Device& device);

// Argument readers: `what` names the argument in error messages.
int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what);
double ArgDouble(const Napi::CallbackInfo& info, size_t i, const char* what);
bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* what);
std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what);
std::vector<int64_t> ArgInts(const Napi::CallbackInfo& info, size_t i, const char* what);
std::optional<std::vector<int64_t>> ArgOptInts(const Napi::CallbackInfo& info, size_t i, const char* what);
std::optional<double> ArgOptDouble(const Napi::CallbackInfo& info, size_t i, const char* what);
bool IsMissing(const Napi::CallbackInfo& info, size_t i);
std::vector<int64_t> ToInts(Napi::Env env, const Napi::Value& v, const char* what);

// Options { dtype?, device? } for factories (lib/ passes both).
at::TensorOptions ArgTensorOptions(const Napi::CallbackInfo& info, size_t i);

// A JS number or bigint as a 64-bit seed (bigints in [-2^63, 2^64) wrap as torch does).
uint64_t ArgSeed(const Napi::CallbackInfo& info, size_t i, const char* what);

// missingKernels(device, dtype) (kernel-probe.cc).
Napi::Value MissingKernelsJs(const Napi::CallbackInfo& info);

}  // namespace animatorch
