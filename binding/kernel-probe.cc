// missingKernels(device, dtype) -> string[]: the ops the exported models use that this
// libtorch cannot run in `dtype` on `device` (libtorch 1.13 has no float16 LayerNorm or
// convolution on CPU). Tried on tiny tensors; lib/ decides what to do about the answer.
#include "common.h"

#include <ATen/ATen.h>

#include <functional>
#include <utility>
#include <vector>

namespace animatorch {

std::vector<std::string> MissingKernels(at::Device device, at::ScalarType dtype) {
  auto o = at::TensorOptions().device(device).dtype(dtype);
  at::Tensor image = at::ones({1, 4, 4, 4}, o), rows = at::ones({2, 4}, o), vec = at::ones({4}, o);
  const std::vector<std::pair<const char*, std::function<void()>>> ops = {
      {"conv2d", [&] { at::conv2d(image, at::ones({4, 4, 3, 3}, o), vec, 1, 1); }},
      {"group_norm", [&] { at::group_norm(image, 2, vec, vec); }},
      {"layer_norm", [&] { at::layer_norm(rows, {4}, vec, vec); }},
      {"linear", [&] { at::linear(rows, at::ones({4, 4}, o), vec); }},
      {"baddbmm", [&] { at::baddbmm(at::ones({1, 2, 2}, o), at::ones({1, 2, 4}, o), at::ones({1, 4, 2}, o)); }},
      {"softmax", [&] { at::softmax(rows, -1); }},
      {"gelu", [&] { at::gelu(rows); }},
      {"silu", [&] { at::silu(rows); }},
      {"upsample_nearest2d", [&] { at::upsample_nearest2d(image, {8, 8}); }},
  };
  std::vector<std::string> missing;
  for (const auto& [name, run] : ops) {
    try {
      run();
    } catch (const c10::Error&) {
      missing.emplace_back(name);
    }
  }
  return missing;
}

Napi::Value MissingKernelsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Device device = ParseDevice(env, ArgString(info, 0, "device"));
  at::ScalarType dtype = ParseDtype(env, ArgString(info, 1, "dtype"));
  return Guarded(env, [&]() -> Napi::Value {
    auto names = MissingKernels(device, dtype);
    auto arr = Napi::Array::New(env, names.size());
    for (size_t k = 0; k < names.size(); k++) arr.Set(static_cast<uint32_t>(k), names[k]);
    return arr;
  });
}

}  // namespace animatorch
