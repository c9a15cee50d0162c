// The addon's export table. Per-environment state lives in the Addon instance
// (Napi::Addon), so worker_threads and Electron each get their own.
#include "common.h"
#include "generator.h"
#include "host-cache.h"
#include "module.h"
#include "page-cache.h"
#include "tensor.h"
#include "torch-thread.h"
#include "worker.h"

#include <ATen/Parallel.h>
#include <torch/version.h>

#ifdef ANIMATORCH_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#ifndef ANIMATORCH_TORCH_SOURCE
#define ANIMATORCH_TORCH_SOURCE ""
#endif

#ifdef __GLIBC__
#include <malloc.h>
#endif

// OpenBLAS (the BLAS of Debian's libtorch) keeps a thread pool of its own beside torch's OpenMP team,
// sized by OPENBLAS_NUM_THREADS or the CPU count. Weak: null where the process has no OpenBLAS (PyPI's
// torch uses MKL, whose threads at::set_num_threads sets already).
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads(void) __attribute__((weak));

namespace animatorch {

class Addon : public Napi::Addon<Addon> {
 public:
  Addon(Napi::Env env, Napi::Object exports) {
    data.tensorCtor = Napi::Persistent(TensorWrap::Init(env));
    data.moduleCtor = Napi::Persistent(ModuleWrap::Init(env));
    Napi::Function generator = GeneratorWrap::Init(env);
    data.generatorCtor = Napi::Persistent(generator);
    exports.Set("NativeTensor", data.tensorCtor.Value());
    exports.Set("NativeModule", data.moduleCtor.Value());
    exports.Set("NativeGenerator", generator);
    RegisterTensorFunctions(env, exports);
    DefineAddon(exports, {
                             InstanceMethod<&Addon::LoadModule>("loadModule"),
                             InstanceMethod<&Addon::CudaIsAvailable>("cudaIsAvailable"),
                             InstanceMethod<&Addon::CudaDeviceCount>("cudaDeviceCount"),
                             InstanceMethod<&Addon::MemoryStats>("memoryStats"),
                             InstanceMethod<&Addon::ResetPeakMemoryStats>("resetPeakMemoryStats"),
                             InstanceMethod<&Addon::EmptyCache>("emptyCache"),
                             InstanceMethod<&Addon::Synchronize>("synchronize"),
                             InstanceMethod<&Addon::SetNumThreads>("setNumThreads"),
                             InstanceMethod<&Addon::GetNumThreads>("getNumThreads"),
                             InstanceMethod<&Addon::SetBlasNumThreads>("setBlasNumThreads"),
                             InstanceMethod<&Addon::GetBlasNumThreads>("getBlasNumThreads"),
                             InstanceMethod<&Addon::MissingKernels>("missingKernels"),
                             InstanceMethod<&Addon::ReleaseHostMemory>("releaseHostMemory"),
                             InstanceMethod<&Addon::SetHostAllocator>("setHostAllocator"),
                             InstanceMethod<&Addon::SetHostCache>("setHostCache"),
                             InstanceMethod<&Addon::HostCacheStats>("hostCacheStats"),
                             InstanceMethod<&Addon::ReleaseHostCache>("releaseHostCache"),
                             InstanceMethod<&Addon::ReadIntoPageCache>("readIntoPageCache"),
                             InstanceValue("versions", Versions(env), napi_enumerable),
                         });
  }

  AddonData data;

 private:
  static Napi::Object Versions(Napi::Env env) {
    auto v = Napi::Object::New(env);
    v.Set("libtorch", TORCH_VERSION);
    v.Set("libtorchSource", ANIMATORCH_TORCH_SOURCE);
#ifdef ANIMATORCH_WITH_CUDA
    v.Set("cudaBuild", true);
#else
    v.Set("cudaBuild", false);
#endif
    v.Set("cxx11Abi", static_cast<bool>(_GLIBCXX_USE_CXX11_ABI));
    return v;
  }

  Napi::Value LoadModule(const Napi::CallbackInfo& info) { return ModuleWrap::Load(info); }

  Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), Guarded(info.Env(), [] { return at::hasCUDA(); }));
  }

  Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), Guarded(info.Env(), [] {
      return at::hasCUDA() ? static_cast<double>(at::detail::getCUDAHooks().getNumGPUs()) : 0.0;
    }));
  }

  // memoryStats(cudaIndex?) -> { hostBytes, cuda?: { allocated, reserved, peakAllocated, peakReserved } }
  Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto out = Napi::Object::New(env);
    out.Set("hostBytes", Napi::Number::New(env, static_cast<double>(data.host->Bytes())));
#ifdef ANIMATORCH_WITH_CUDA
    if (at::hasCUDA()) {
      int device = IsMissing(info, 0) ? 0 : static_cast<int>(ArgInt(info, 0, "device"));
      Guarded(env, [&] {
        auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
        // StatType::AGGREGATE is 0 everywhere; the enum moved from c10::cuda::CUDACachingAllocator
        // (1.13) to c10::CachingDeviceAllocator (2.x), so it is not named here.
        const size_t agg = 0;
        auto cuda = Napi::Object::New(env);
        cuda.Set("allocated", static_cast<double>(stats.allocated_bytes[agg].current));
        cuda.Set("reserved", static_cast<double>(stats.reserved_bytes[agg].current));
        cuda.Set("peakAllocated", static_cast<double>(stats.allocated_bytes[agg].peak));
        cuda.Set("peakReserved", static_cast<double>(stats.reserved_bytes[agg].peak));
        out.Set("cuda", cuda);
        return 0;
      });
    }
#endif
    return out;
  }

  Napi::Value ResetPeakMemoryStats(const Napi::CallbackInfo& info) {
#ifdef ANIMATORCH_WITH_CUDA
    if (at::hasCUDA()) {
      int device = IsMissing(info, 0) ? 0 : static_cast<int>(ArgInt(info, 0, "device"));
      Guarded(info.Env(), [&] {
        c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
        return 0;
      });
    }
#endif
    return info.Env().Undefined();
  }

  Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
#ifdef ANIMATORCH_WITH_CUDA
    if (at::hasCUDA()) Guarded(info.Env(), [] {
        c10::cuda::CUDACachingAllocator::emptyCache();
        return 0;
      });
#endif
    return info.Env().Undefined();
  }

  // synchronize() -> Promise<void>: waits for queued CUDA work, off the main thread.
  Napi::Value Synchronize(const Napi::CallbackInfo& info) {
    return TorchWorker::Start(
        info.Env(), "synchronize",
        [] {
#ifdef ANIMATORCH_WITH_CUDA
          if (at::hasCUDA()) c10::cuda::device_synchronize();
#endif
        },
        [](Napi::Env env) { return env.Undefined(); });
  }

  Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
    int64_t n = ArgInt(info, 0, "n");
    if (n < 1) ThrowType(info.Env(), "n: expected an integer >= 1");
    Guarded(info.Env(), [&] {
      at::set_num_threads(static_cast<int>(n));  // this thread's (sync tensor math)
      TorchThreadsChanged();                     // and the torch thread's, before its next job
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value MissingKernels(const Napi::CallbackInfo& info) { return MissingKernelsJs(info); }

  // releaseHostMemory(keepHostCache = false) -> boolean: hands the C allocator's free pages back to the
  // OS (glibc's malloc_trim: freed weights otherwise stay in its arenas); false where there is no such
  // call. The host cache's free blocks go first, unless kept.
  Napi::Value ReleaseHostMemory(const Napi::CallbackInfo& info) {
    bool keepCache = info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value();
    bool released = !keepCache && animatorch::ReleaseHostCache() > 0;
#ifdef __GLIBC__
    released = (malloc_trim(0) == 1) || released;
#endif
    return Napi::Boolean::New(info.Env(), released);
  }

  // readIntoPageCache(file, maxBytes) -> { promise: Promise<{ bytes, uncached, read }>, cancel() } (page-cache.h),
  // on the libuv pool; cancel() stops it after the chunk being read
  Napi::Value ReadIntoPageCache(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string file = ArgString(info, 0, "file");
    auto maxBytes = static_cast<int64_t>(ArgDouble(info, 1, "maxBytes"));
    auto result = std::make_shared<PageCacheRead>();
    auto cancelled = std::make_shared<std::atomic<bool>>(false);
    auto out = Napi::Object::New(env);
    out.Set("promise", TorchWorker::Start(
                           env, "cannot read '" + file + "' ahead",
                           [file, maxBytes, result, cancelled] { *result = animatorch::ReadIntoPageCache(file, maxBytes, *cancelled); },
                           [result](Napi::Env env) -> Napi::Value {
                             auto r = Napi::Object::New(env);
                             r.Set("bytes", static_cast<double>(result->bytes));
                             r.Set("uncached", static_cast<double>(result->uncached));
                             r.Set("read", static_cast<double>(result->read));
                             return r;
                           },
                           TorchWorker::On::Pool));
    out.Set("cancel", Napi::Function::New(env, [cancelled](const Napi::CallbackInfo& info) {
              *cancelled = true;
              return info.Env().Undefined();
            }));
    return out;
  }

  // setHostCache(enabled, maxFreeBytes): the caching CPU allocator (host-cache.h).
  Napi::Value SetHostCache(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsBoolean() || !info[1].IsNumber())
      throw Napi::TypeError::New(info.Env(), "setHostCache: expected (enabled, maxFreeBytes)");
    animatorch::SetHostCache(info[0].As<Napi::Boolean>().Value(), info[1].As<Napi::Number>().Int64Value());
    return info.Env().Undefined();
  }

  // releaseHostCache() -> bytes: unmaps the host cache's free blocks (no malloc_trim).
  Napi::Value ReleaseHostCache(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(animatorch::ReleaseHostCache()));
  }

  // hostCacheStats() -> { enabled, liveBytes, freeBytes, peakBytes, maxFreeBytes, hits, misses };
  // hostCacheStats(true) also starts a new peak window.
  Napi::Value HostCacheStats(const Napi::CallbackInfo& info) {
    animatorch::HostCacheStats s = GetHostCacheStats();
    if (info.Length() > 0 && info[0].IsBoolean() && info[0].As<Napi::Boolean>().Value()) ResetHostCachePeak();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("enabled", s.enabled);
    o.Set("liveBytes", static_cast<double>(s.liveBytes));
    o.Set("freeBytes", static_cast<double>(s.freeBytes));
    o.Set("peakBytes", static_cast<double>(s.peakBytes));
    o.Set("maxFreeBytes", static_cast<double>(s.maxFreeBytes));
    o.Set("hits", static_cast<double>(s.hits));
    o.Set("misses", static_cast<double>(s.misses));
    return o;
  }

  // setHostAllocator(option, value) -> boolean: glibc's mallopt for the host allocator's options
  // 'mmapThreshold' (M_MMAP_THRESHOLD), 'mmapMax' (M_MMAP_MAX), 'trimThreshold' (M_TRIM_THRESHOLD);
  // true when set, false where there is no such call or glibc refuses the value.
  Napi::Value SetHostAllocator(const Napi::CallbackInfo& info) {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsNumber())
      throw Napi::TypeError::New(info.Env(), "setHostAllocator: expected an option name and a number");
    std::string option = info[0].As<Napi::String>().Utf8Value();
    int value = info[1].As<Napi::Number>().Int32Value();
#ifdef __GLIBC__
    int param = option == "mmapThreshold" ? M_MMAP_THRESHOLD
                : option == "mmapMax"     ? M_MMAP_MAX
                : option == "trimThreshold" ? M_TRIM_THRESHOLD
                                            : 0;
    if (param == 0) throw Napi::TypeError::New(info.Env(), "setHostAllocator: unknown option '" + option + "'");
    return Napi::Boolean::New(info.Env(), mallopt(param, value) == 1);
#else
    (void)value;
    return Napi::Boolean::New(info.Env(), false);
#endif
  }

  // setBlasNumThreads(n) -> boolean: OpenBLAS's own thread count (openblas_set_num_threads); false
  // where the process has no OpenBLAS.
  Napi::Value SetBlasNumThreads(const Napi::CallbackInfo& info) {
    int64_t n = ArgInt(info, 0, "n");
    if (n < 1) ThrowType(info.Env(), "n: expected an integer >= 1");
    if (openblas_set_num_threads == nullptr) return Napi::Boolean::New(info.Env(), false);
    openblas_set_num_threads(static_cast<int>(n));
    return Napi::Boolean::New(info.Env(), true);
  }

  // getBlasNumThreads() -> number | null: OpenBLAS's thread count; null without OpenBLAS.
  Napi::Value GetBlasNumThreads(const Napi::CallbackInfo& info) {
    if (openblas_get_num_threads == nullptr) return info.Env().Null();
    return Napi::Number::New(info.Env(), openblas_get_num_threads());
  }

  Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), at::get_num_threads());
  }
};

AddonData& Data(Napi::Env env) { return env.GetInstanceData<Addon>()->data; }

}  // namespace animatorch

using animatorch::Addon;
NODE_API_ADDON(Addon)
