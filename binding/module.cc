#include "module.h"

#include "host-cache.h"
#include "tensor.h"
#include "worker.h"

#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>

#include <mutex>

namespace animatorch {

namespace {

using Info = Napi::CallbackInfo;

// Bytes of a module's parameters and buffers that live in host memory (mapped
// weights are the page cache's, not the process's: not counted).
int64_t HostBytes(const LoadedModule& loaded) {
  const torch::jit::Module& m = loaded.module;
  auto mapped = loaded.mapped.lock();
  int64_t bytes = 0;
  for (const auto& p : m.parameters())
    if (p.device().is_cpu() && !(mapped && mapped->Contains(p.data_ptr()))) bytes += static_cast<int64_t>(p.nbytes());
  for (const auto& b : m.buffers())
    if (b.device().is_cpu()) bytes += static_cast<int64_t>(b.nbytes());
  return bytes;
}

// The `mapped` argument of loadModule: { file, names[], offsets[], bytes[], segments[] (offset, bytes pairs) }.
struct MappedSpec {
  std::string file;
  std::vector<MappedTensor> tensors;
  std::vector<MappedSegment> segments;
};

std::vector<int64_t> Int64s(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsArray()) ThrowType(env, std::string("mapped.") + key + ": expected an array of numbers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t k = 0; k < arr.Length(); k++) {
    Napi::Value x = arr.Get(k);
    if (!x.IsNumber()) ThrowType(env, std::string("mapped.") + key + ": expected an array of numbers");
    out.push_back(static_cast<int64_t>(x.As<Napi::Number>().DoubleValue()));
  }
  return out;
}

std::optional<MappedSpec> ParseMapped(Napi::Env env, const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsObject()) ThrowType(env, "mapped: expected an object");
  auto o = v.As<Napi::Object>();
  MappedSpec spec;
  if (!o.Get("file").IsString() || !o.Get("names").IsArray()) ThrowType(env, "mapped: expected { file, names, offsets, bytes, segments }");
  spec.file = o.Get("file").As<Napi::String>().Utf8Value();
  auto names = o.Get("names").As<Napi::Array>();
  auto offsets = Int64s(env, o, "offsets"), bytes = Int64s(env, o, "bytes"), segments = Int64s(env, o, "segments");
  if (offsets.size() != names.Length() || bytes.size() != names.Length() || segments.size() % 2 != 0)
    ThrowType(env, "mapped: names, offsets and bytes must have one entry per tensor, segments two per segment");
  for (uint32_t k = 0; k < names.Length(); k++) {
    if (!names.Get(k).IsString()) ThrowType(env, "mapped.names: expected strings");
    spec.tensors.push_back({names.Get(k).As<Napi::String>().Utf8Value(), offsets[k], bytes[k]});
  }
  for (size_t k = 0; k < segments.size(); k += 2) spec.segments.push_back({segments[k], segments[k + 1]});
  return spec;
}

// Moves every parameter and buffer (recursively) in place, casting only the
// floating-point ones, as torch.nn.Module.to does. torch::jit::Module::to casts
// all of them, which turns integer buffers (index tables such as a text
// encoder's token_embedding.id_map) into floats that embedding lookups reject.
void MoveTo(torch::jit::Module& m, std::optional<at::Device> device, std::optional<at::ScalarType> dtype) {
  auto move = [&](at::Tensor t) {
    at::ScalarType target = dtype && t.is_floating_point() ? *dtype : t.scalar_type();
    at::Device where = device.value_or(t.device());
    if (target == t.scalar_type() && where == t.device()) return;
    t.set_data(t.to(where, target));
  };
  for (const auto& p : m.parameters(true)) move(p);
  for (const auto& b : m.buffers(true)) move(b);
}

// JS -> IValue, guided by the TorchScript argument type where there is one, so
// that 1 passed to a float argument stays a float.
c10::IValue ToIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type, const std::string& what) {
  if (v.IsUndefined() || v.IsNull()) return c10::IValue();
  if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
  if (v.IsString()) return c10::IValue(v.As<Napi::String>().Utf8Value());
  c10::TypePtr inner = type;
  if (type && type->kind() == c10::TypeKind::OptionalType) inner = type->expectRef<c10::OptionalType>().getElementType();
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    bool wantFloat = inner && inner->kind() == c10::TypeKind::FloatType;
    bool wantTensor = inner && inner->kind() == c10::TypeKind::TensorType;
    if (wantTensor) return c10::IValue(ScalarTensor(env, v, what.c_str()));
    if (!wantFloat && std::floor(d) == d && std::abs(d) <= 9007199254740991.0) return c10::IValue(static_cast<int64_t>(d));
    return c10::IValue(d);
  }
  if (v.IsArray()) {
    auto arr = v.As<Napi::Array>();
    bool tuple = inner && inner->kind() == c10::TypeKind::TupleType;
    c10::TypePtr elem;
    if (inner && inner->kind() == c10::TypeKind::ListType) elem = inner->expectRef<c10::ListType>().getElementType();
    std::vector<c10::IValue> items;
    for (uint32_t k = 0; k < arr.Length(); k++) {
      c10::TypePtr et = elem;
      if (tuple) {
        const auto& elems = inner->expectRef<c10::TupleType>().elements();
        if (k < elems.size()) et = elems[k];
      }
      items.push_back(ToIValue(env, arr.Get(k), et, what + "[" + std::to_string(k) + "]"));
    }
    if (tuple) return c10::ivalue::Tuple::create(std::move(items));
    bool allTensors = !items.empty(), allInts = !items.empty(), allNumbers = !items.empty();
    for (const auto& it : items) {
      allTensors &= it.isTensor();
      allInts &= it.isInt();
      allNumbers &= it.isInt() || it.isDouble();
    }
    if (allTensors) {
      c10::List<at::Tensor> list;
      for (auto& it : items) list.push_back(it.toTensor());
      return c10::IValue(list);
    }
    if (allInts) {
      c10::List<int64_t> list;
      for (auto& it : items) list.push_back(it.toInt());
      return c10::IValue(list);
    }
    if (allNumbers) {
      c10::List<double> list;
      for (auto& it : items) list.push_back(it.isInt() ? static_cast<double>(it.toInt()) : it.toDouble());
      return c10::IValue(list);
    }
    if (items.empty()) {
      if (elem) return c10::IValue(c10::impl::GenericList(elem));
      return c10::IValue(c10::List<at::Tensor>());
    }
    ThrowType(env, what + ": arrays must hold only Tensors or only numbers");
  }
  if (TensorWrap::Is(env, v) || (v.IsObject() && TensorWrap::Is(env, v.As<Napi::Object>().Get("native"))))
    return c10::IValue(TensorWrap::From(env, v, what.c_str()));
  if (v.IsObject()) {
    auto obj = v.As<Napi::Object>();
    c10::Dict<std::string, at::Tensor> dict;
    auto keys = obj.GetPropertyNames();
    for (uint32_t k = 0; k < keys.Length(); k++) {
      std::string key = keys.Get(k).ToString().Utf8Value();
      dict.insert(key, TensorWrap::From(env, obj.Get(key), (what + "." + key).c_str()));
    }
    return c10::IValue(dict);
  }
  ThrowType(env, what + ": unsupported input type");
}

Napi::Value FromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return TensorWrap::New(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTuple() || v.isList() || v.isTensorList()) {
    std::vector<c10::IValue> items;
    if (v.isTuple()) {
      for (const auto& e : v.toTupleRef().elements()) items.push_back(e);
    } else {
      for (const auto& e : v.toListRef()) items.push_back(e);
    }
    auto arr = Napi::Array::New(env, items.size());
    for (size_t k = 0; k < items.size(); k++) arr.Set(static_cast<uint32_t>(k), FromIValue(env, items[k]));
    return arr;
  }
  if (v.isGenericDict()) {
    auto obj = Napi::Object::New(env);
    for (const auto& kv : v.toGenericDict()) {
      const auto& key = kv.key();
      std::string name = key.isString() ? key.toStringRef() : key.isInt() ? std::to_string(key.toInt()) : "?";
      obj.Set(name, FromIValue(env, kv.value()));
    }
    return obj;
  }
  throw Napi::Error::New(env, "forward returned an unsupported value of type " + v.tagKind());
}

}  // namespace

Napi::Function ModuleWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeModule",
                     {
                         InstanceAccessor<&ModuleWrap::Path>("path"),
                         InstanceAccessor<&ModuleWrap::IsDisposed>("disposed"),
                         InstanceMethod<&ModuleWrap::Call>("call"),
                         InstanceMethod<&ModuleWrap::To>("to"),
                         InstanceMethod<&ModuleWrap::Methods>("methods"),
                         InstanceMethod<&ModuleWrap::Parameters>("parameters"),
                         InstanceMethod<&ModuleWrap::Dispose>("dispose"),
                         InstanceMethod<&ModuleWrap::SetGraphOptimize>("setGraphOptimize"),
                     });
}

Napi::Value ModuleWrap::Load(const Info& info) {
  Napi::Env env = info.Env();
  std::string path = ArgString(info, 0, "path");
  at::Device device = IsMissing(info, 1) ? at::Device(at::kCPU) : ParseDevice(env, ArgString(info, 1, "device"));
  std::optional<at::ScalarType> dtype;
  if (!IsMissing(info, 2)) dtype = ParseDtype(env, ArgString(info, 2, "dtype"));
  std::optional<MappedSpec> mapped = ParseMapped(env, info.Length() > 3 ? info[3] : env.Undefined());
  bool bypassHostCache = info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value();
  auto loaded = std::make_shared<LoadedModule>();
  loaded->path = path;
  return TorchWorker::Start(
      env, "cannot load TorchScript module '" + path + "'",
      [loaded, device, dtype, mapped, bypassHostCache] {
        std::optional<HostCacheBypass> bypass;
        if (bypassHostCache) bypass.emplace();
        if (mapped) {  // its parameters are placeholders until mapped, on the CPU
          loaded->module = torch::jit::load(loaded->path, at::Device(at::kCPU));
          loaded->mapped = MappedWeights::Map(loaded->module, mapped->file, mapped->tensors, mapped->segments);
          if (device != at::Device(at::kCPU) || dtype) MoveTo(loaded->module, device, dtype);
        } else {
          loaded->module = torch::jit::load(loaded->path, device);
          if (dtype) MoveTo(loaded->module, std::nullopt, dtype);
        }
        loaded->module.eval();
      },
      [loaded](Napi::Env env) -> Napi::Value {
        std::shared_ptr<LoadedModule> handle = loaded;
        return Data(env).moduleCtor.New({Napi::External<std::shared_ptr<LoadedModule>>::New(env, &handle)});
      },
      TorchWorker::On::Pool);
}

ModuleWrap::ModuleWrap(const Info& info) : Napi::ObjectWrap<ModuleWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    ThrowType(info.Env(), "NativeModule cannot be constructed directly; use loadModule()");
  module_ = *info[0].As<Napi::External<std::shared_ptr<LoadedModule>>>().Data();
  ReportMemory(info.Env());
}

ModuleWrap::~ModuleWrap() {
  if (reportedBytes_) AdjustExternalMemory(Env(), -reportedBytes_);
}

void ModuleWrap::ReportMemory(Napi::Env env) {
  int64_t bytes = module_ ? HostBytes(*module_) : 0;
  if (bytes != reportedBytes_) AdjustExternalMemory(env, bytes - reportedBytes_);
  reportedBytes_ = bytes;
}

std::shared_ptr<LoadedModule> ModuleWrap::Get(Napi::Env env) const {
  if (!module_) throw Napi::Error::New(env, "Module was disposed; it cannot be used any more");
  return module_;
}

Napi::Value ModuleWrap::Path(const Info& info) { return Napi::String::New(info.Env(), Get(info.Env())->path); }

Napi::Value ModuleWrap::IsDisposed(const Info& info) { return Napi::Boolean::New(info.Env(), !module_); }

// call(method, inputs[]) -> Promise<Tensor | array | record | ...>
Napi::Value ModuleWrap::Call(const Info& info) {
  Napi::Env env = info.Env();
  auto loaded = Get(env);
  std::string method = ArgString(info, 0, "method");
  if (info.Length() < 2 || !info[1].IsArray()) ThrowType(env, "inputs: expected an array");
  auto args = info[1].As<Napi::Array>();
  auto inputs = std::make_shared<std::vector<c10::IValue>>();
  Guarded(env, [&] {
    auto m = loaded->module.find_method(method);
    if (!m) {
      std::string names;
      for (const auto& mm : loaded->module.get_methods()) names += (names.empty() ? "" : ", ") + mm.name();
      throw Napi::Error::New(env, "module '" + loaded->path + "' has no method '" + method + "' (it has: " + names + ")");
    }
    const auto& schema = m->function().getSchema();
    for (uint32_t k = 0; k < args.Length(); k++) {
      // Argument 0 of a method's schema is `self`.
      c10::TypePtr type = k + 1 < schema.arguments().size() ? schema.arguments()[k + 1].type() : nullptr;
      std::string what = k + 1 < schema.arguments().size() ? schema.arguments()[k + 1].name() : "input " + std::to_string(k);
      inputs->push_back(ToIValue(env, args.Get(k), type, what));
    }
    return 0;
  });
  auto output = std::make_shared<c10::IValue>();
  return TorchWorker::Start(
      env, method + " of '" + loaded->path + "' failed",
      [loaded, method, inputs, output] {
        std::shared_lock<std::shared_mutex> lock(loaded->lock);
        int optimize = loaded->optimize.load();
        // torch's flag is per thread (the torch thread's here): set for this call only
        std::optional<torch::jit::GraphOptimizerEnabledGuard> guard;
        if (optimize >= 0) guard.emplace(optimize == 1);
        auto mapped = loaded->mapped.lock();
        ReleaseScope release(mapped.get());
        *output = loaded->module.get_method(method)(std::move(*inputs));
      },
      [output](Napi::Env env) { return FromIValue(env, *output); });
}

// to(device?, dtype?) -> Promise<void>: moves parameters and buffers in place.
Napi::Value ModuleWrap::To(const Info& info) {
  Napi::Env env = info.Env();
  auto loaded = Get(env);
  std::optional<at::Device> device;
  std::optional<at::ScalarType> dtype;
  if (!IsMissing(info, 0)) device = ParseDevice(env, ArgString(info, 0, "device"));
  if (!IsMissing(info, 1)) dtype = ParseDtype(env, ArgString(info, 1, "dtype"));
  auto self = Napi::Persistent(info.This().As<Napi::Object>());
  auto ref = std::make_shared<Napi::ObjectReference>(std::move(self));
  return TorchWorker::Start(
      env, "to() of '" + loaded->path + "' failed",
      [loaded, device, dtype] {
        std::unique_lock<std::shared_mutex> lock(loaded->lock);
        MoveTo(loaded->module, device, dtype);
      },
      [ref](Napi::Env env) -> Napi::Value {
        auto* wrap = ModuleWrap::Unwrap(ref->Value());
        if (wrap->module_) wrap->ReportMemory(env);
        return env.Undefined();
      });
}

Napi::Value ModuleWrap::Methods(const Info& info) {
  auto loaded = Get(info.Env());
  auto methods = loaded->module.get_methods();
  auto arr = Napi::Array::New(info.Env(), methods.size());
  uint32_t k = 0;
  for (const auto& m : methods) arr.Set(k++, Napi::String::New(info.Env(), m.name()));
  return arr;
}

// parameters() -> [{ name, kind: 'parameter'|'buffer', shape, dtype, device }]
Napi::Value ModuleWrap::Parameters(const Info& info) {
  Napi::Env env = info.Env();
  auto loaded = Get(env);
  std::shared_lock<std::shared_mutex> lock(loaded->lock, std::try_to_lock);
  if (!lock.owns_lock()) throw Napi::Error::New(env, "module '" + loaded->path + "' is being moved by to(); await it first");
  auto arr = Napi::Array::New(env);
  uint32_t k = 0;
  auto add = [&](const std::string& name, const at::Tensor& t, const char* kind) {
    auto o = Napi::Object::New(env);
    o.Set("name", name);
    o.Set("kind", kind);
    auto shape = Napi::Array::New(env, t.dim());
    for (int64_t d = 0; d < t.dim(); d++) shape.Set(static_cast<uint32_t>(d), Napi::Number::New(env, static_cast<double>(t.size(d))));
    o.Set("shape", shape);
    o.Set("dtype", DtypeName(t.scalar_type()));
    o.Set("device", DeviceName(t.device()));
    arr.Set(k++, o);
  };
  for (const auto& p : loaded->module.named_parameters(true)) add(p.name, p.value, "parameter");
  for (const auto& b : loaded->module.named_buffers(true)) add(b.name, b.value, "buffer");
  return arr;
}

// setGraphOptimize(enabled): TorchScript's graph optimisations (and profiling runs) for later calls.
Napi::Value ModuleWrap::SetGraphOptimize(const Info& info) {
  Napi::Env env = info.Env();
  auto loaded = Get(env);
  if (info.Length() < 1 || !info[0].IsBoolean()) ThrowType(env, "enabled: expected a boolean");
  loaded->optimize.store(info[0].As<Napi::Boolean>().Value() ? 1 : 0);
  return env.Undefined();
}

Napi::Value ModuleWrap::Dispose(const Info& info) {
  if (reportedBytes_) AdjustExternalMemory(info.Env(), -reportedBytes_);
  reportedBytes_ = 0;
  module_.reset();  // a forward in flight keeps its own reference until it ends
  return info.Env().Undefined();
}

}  // namespace animatorch
