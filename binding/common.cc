#include "common.h"

#include <cmath>

namespace animatorch {

void HostMemory::Retain(Napi::Env env, const at::Tensor& t) {
  if (!t.defined() || !t.device().is_cpu() || !t.has_storage()) return;
  const void* key = t.storage().unsafeGetStorageImpl();
  auto it = storages_.find(key);
  if (it != storages_.end()) {
    it->second.refs++;
    return;
  }
  int64_t bytes = static_cast<int64_t>(t.storage().nbytes());
  storages_.emplace(key, Entry{bytes, 1});
  bytes_ += bytes;
  AdjustExternalMemory(env, bytes);
}

void HostMemory::Release(Napi::Env env, const at::Tensor& t) {
  if (!t.defined() || !t.device().is_cpu() || !t.has_storage()) return;
  auto it = storages_.find(t.storage().unsafeGetStorageImpl());
  if (it == storages_.end()) return;
  if (--it->second.refs > 0) return;
  bytes_ -= it->second.bytes;
  AdjustExternalMemory(env, -it->second.bytes);
  storages_.erase(it);
}

void AdjustExternalMemory(napi_env env, int64_t delta) {
  int64_t total = 0;
  napi_adjust_external_memory(env, delta, &total);  // status ignored on purpose
}

// dtypes cross the boundary under libtorch's own names ("Float", "BFloat16", ...): lib/tensor-options.ts
// holds the list animatorch supports and its names for them; here is only the conversion.
at::ScalarType ParseDtype(Napi::Env env, const std::string& name) {
  for (int k = 0; k < static_cast<int>(at::ScalarType::NumOptions); k++)
    if (name == c10::toString(static_cast<at::ScalarType>(k))) return static_cast<at::ScalarType>(k);
  ThrowType(env, "dtype: expected a libtorch scalar type name such as 'Float'; got '" + name + "'");
}

std::string DtypeName(at::ScalarType type) { return c10::toString(type); }

namespace {
// One message for every way of asking for CUDA where there is none: a CPU libtorch says
// "Could not run 'aten::empty' ... 'CUDA' backend", a CUDA one without a GPU "Found no NVIDIA driver".
at::Device Cuda(Napi::Env env, c10::DeviceIndex index) {
  if (!at::hasCUDA())
    throw Napi::Error::New(env, "device: CUDA was requested but is not available (this libtorch has no CUDA, or no GPU is visible)");
  return at::Device(at::kCUDA, index);
}
}  // namespace

at::Device ParseDevice(Napi::Env env, const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (name.size() == 4) return Cuda(env, 0);
    if (name[4] == ':' && name.size() > 5) {
      std::string idx = name.substr(5);
      bool digits = idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4;
      if (digits) return Cuda(env, static_cast<c10::DeviceIndex>(std::stoi(idx)));
    }
  }
  ThrowType(env, "device: expected 'cpu', 'cuda' or 'cuda:N'; got '" + name + "'");
}

std::string DeviceName(const at::Device& device) {
  if (device.is_cpu()) return "cpu";
  if (device.is_cuda()) return "cuda:" + std::to_string(device.has_index() ? device.index() : 0);
  return device.str();
}

bool IsMissing(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() <= i || info[i].IsUndefined() || info[i].IsNull();
}

int64_t ArgInt(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), std::string(what) + ": expected an integer");
  double v = info[i].As<Napi::Number>().DoubleValue();
  if (std::floor(v) != v || std::abs(v) > 9007199254740991.0) ThrowType(info.Env(), std::string(what) + ": expected an integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

double ArgDouble(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), std::string(what) + ": expected a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

std::optional<double> ArgOptDouble(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (IsMissing(info, i)) return std::nullopt;
  return ArgDouble(info, i, what);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (IsMissing(info, i)) return false;
  if (!info[i].IsBoolean()) ThrowType(info.Env(), std::string(what) + ": expected a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) ThrowType(info.Env(), std::string(what) + ": expected a string");
  return info[i].As<Napi::String>().Utf8Value();
}

std::vector<int64_t> ToInts(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::floor(d) != d) ThrowType(env, std::string(what) + ": expected integers");
    return {static_cast<int64_t>(d)};
  }
  if (!v.IsArray()) ThrowType(env, std::string(what) + ": expected an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value e = arr.Get(k);
    if (!e.IsNumber()) ThrowType(env, std::string(what) + ": expected an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (std::floor(d) != d) ThrowType(env, std::string(what) + ": expected an array of integers");
    out[k] = static_cast<int64_t>(d);
  }
  return out;
}

std::vector<int64_t> ArgInts(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i) ThrowType(info.Env(), std::string(what) + ": expected an array of integers");
  return ToInts(info.Env(), info[i], what);
}

std::optional<std::vector<int64_t>> ArgOptInts(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (IsMissing(info, i)) return std::nullopt;
  return ArgInts(info, i, what);
}

at::TensorOptions ArgTensorOptions(const Napi::CallbackInfo& info, size_t i) {
  auto options = at::TensorOptions();  // lib/ always names the dtype
  if (IsMissing(info, i)) return options;
  if (!info[i].IsObject()) ThrowType(info.Env(), "options: expected an object");
  auto o = info[i].As<Napi::Object>();
  Napi::Value dtype = o.Get("dtype");
  if (dtype.IsString()) options = options.dtype(ParseDtype(info.Env(), dtype.As<Napi::String>().Utf8Value()));
  Napi::Value device = o.Get("device");
  if (device.IsString()) options = options.device(ParseDevice(info.Env(), device.As<Napi::String>().Utf8Value()));
  return options;
}

uint64_t ArgSeed(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() > i && info[i].IsBigInt()) {
    bool lossless = false;
    auto big = info[i].As<Napi::BigInt>();
    uint64_t u = big.Uint64Value(&lossless);
    if (lossless) return u;
    int64_t s = big.Int64Value(&lossless);
    if (lossless) return static_cast<uint64_t>(s);  // negative seeds wrap, as torch.manual_seed does
    ThrowType(info.Env(), std::string(what) + ": must fit in 64 bits");
  }
  int64_t v = ArgInt(info, i, what);
  return static_cast<uint64_t>(v);
}

}  // namespace animatorch
