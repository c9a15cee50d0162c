// TensorWrap: a JS object owning one at::Tensor. Cheap math is synchronous
// (on CUDA it only enqueues kernels); reading data back and moving between
// devices are async TorchWorkers.
#pragma once

#include "common.h"

#include <memory>

namespace animatorch {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Wraps `t` in a new JS object (takes a reference; no copy of the data).
  static Napi::Object New(Napi::Env env, at::Tensor t);
  static bool Is(Napi::Env env, const Napi::Value& v);
  // The tensor behind a JS value; `what` names the argument in errors.
  static at::Tensor From(Napi::Env env, const Napi::Value& v, const char* what);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  const at::Tensor& Get(Napi::Env env) const;

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value ToArray(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Apply(const Napi::CallbackInfo& info);

  void Release();

  at::Tensor tensor_;
  std::shared_ptr<HostMemory> host_;
};

// Free functions the addon exports: factories, cat/stack, from-data.
void RegisterTensorFunctions(Napi::Env env, Napi::Object exports);

// A JS number/boolean as a "wrapped number" 0-dim tensor, so type promotion
// follows PyTorch's rules for Python scalars (int tensor + 1 stays int).
at::Tensor ScalarTensor(Napi::Env env, const Napi::Value& v, const char* what);
// A tensor argument, or a number/boolean taken as a Python scalar.
at::Tensor TensorOrScalar(Napi::Env env, const Napi::Value& v, const char* what);

}  // namespace animatorch
