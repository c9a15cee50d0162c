#include "generator.h"

#include "tensor.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace animatorch {

Napi::Function GeneratorWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeGenerator",
                     {
                         InstanceAccessor<&GeneratorWrap::Device>("device"),
                         InstanceAccessor<&GeneratorWrap::InitialSeed>("initialSeed"),
                         InstanceMethod<&GeneratorWrap::ManualSeed>("manualSeed"),
                         InstanceMethod<&GeneratorWrap::GetState>("getState"),
                         InstanceMethod<&GeneratorWrap::SetState>("setState"),
                     });
}

at::Generator GeneratorWrap::From(Napi::Env env, const Napi::Value& v) {
  Napi::Value handle = v;
  auto& ctor = Data(env).generatorCtor;
  if (v.IsObject() && !v.As<Napi::Object>().InstanceOf(ctor.Value())) handle = v.As<Napi::Object>().Get("native");
  if (!handle.IsObject() || !handle.As<Napi::Object>().InstanceOf(ctor.Value()))
    ThrowType(env, "generator: expected a Generator from createGenerator()");
  return Unwrap(handle.As<Napi::Object>())->generator_;
}

// new NativeGenerator(seed: bigint, device: string)
GeneratorWrap::GeneratorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GeneratorWrap>(info) {
  Napi::Env env = info.Env();
  uint64_t seed = ArgSeed(info, 0, "seed");
  at::Device device = IsMissing(info, 1) ? at::Device(at::kCPU) : ParseDevice(env, ArgString(info, 1, "device"));
  Guarded(env, [&] {
    if (device.is_cpu()) {
      generator_ = at::make_generator<at::CPUGeneratorImpl>(seed);
    } else {
      // A fresh generator of the device's kind: the default one, cloned, then seeded,
      // which is what torch.manual_seed(seed) does to the CUDA default generator.
      const at::Generator& base = at::globalContext().defaultGenerator(device);
      std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(base).mutex());
      generator_ = base.clone();
    }
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_current_seed(seed);
    return 0;
  });
}

Napi::Value GeneratorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DeviceName(generator_.device()));
}

Napi::Value GeneratorWrap::InitialSeed(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(generator_.mutex());
  return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(generator_.current_seed()));
}

Napi::Value GeneratorWrap::ManualSeed(const Napi::CallbackInfo& info) {
  uint64_t seed = ArgSeed(info, 0, "seed");
  std::lock_guard<std::mutex> lock(generator_.mutex());
  generator_.set_current_seed(seed);
  return info.This();
}

// The generator's full state as a uint8 tensor, as torch.Generator.get_state().
Napi::Value GeneratorWrap::GetState(const Napi::CallbackInfo& info) {
  return Guarded(info.Env(), [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    return TensorWrap::New(info.Env(), at::Tensor(generator_.get_state()));
  });
}

Napi::Value GeneratorWrap::SetState(const Napi::CallbackInfo& info) {
  at::Tensor state = TensorWrap::From(info.Env(), info[0], "state");
  return Guarded(info.Env(), [&]() -> Napi::Value {
    std::lock_guard<std::mutex> lock(generator_.mutex());
    generator_.set_state(state);
    return info.This();
  });
}

}  // namespace animatorch
