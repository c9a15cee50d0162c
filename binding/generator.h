// GeneratorWrap: a libtorch random generator. A CPU generator seeded with s
// produces exactly the stream of torch.Generator().manual_seed(s) in Python.
#pragma once

#include "common.h"

namespace animatorch {

class GeneratorWrap : public Napi::ObjectWrap<GeneratorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static at::Generator From(Napi::Env env, const Napi::Value& v);

  explicit GeneratorWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value InitialSeed(const Napi::CallbackInfo& info);
  Napi::Value ManualSeed(const Napi::CallbackInfo& info);
  Napi::Value GetState(const Napi::CallbackInfo& info);
  Napi::Value SetState(const Napi::CallbackInfo& info);

  at::Generator generator_;
};

}  // namespace animatorch
