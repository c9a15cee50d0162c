#include "tensor.h"

#include "generator.h"
#include "worker.h"

#include <cstring>
#include <functional>

namespace animatorch {

namespace {

using Info = Napi::CallbackInfo;
// An op on `self` with its JS arguments; returns a tensor or a JS value.
using TensorOp = std::function<at::Tensor(const at::Tensor&, const Info&)>;
using ValueOp = std::function<Napi::Value(const at::Tensor&, const Info&)>;

struct OpEntry {
  const char* name;
  TensorOp tensorOp;
  ValueOp valueOp;
};

at::Tensor Arg(const Info& info, size_t i, const char* what) {
  if (info.Length() <= i) ThrowType(info.Env(), std::string(what) + ": expected a Tensor");
  return TensorWrap::From(info.Env(), info[i], what);
}

at::Tensor Other(const Info& info, size_t i, const char* what) {
  if (info.Length() <= i) ThrowType(info.Env(), std::string(what) + ": expected a Tensor or a number");
  return TensorOrScalar(info.Env(), info[i], what);
}

// alpha of add/sub: an integer stays an integer, so integer tensors accept it.
at::Scalar Alpha(const Info& info, size_t i) {
  if (IsMissing(info, i)) return at::Scalar(int64_t{1});
  double a = ArgDouble(info, i, "alpha");
  if (std::floor(a) == a && std::abs(a) <= 9007199254740991.0) return at::Scalar(static_cast<int64_t>(a));
  return at::Scalar(a);
}

std::vector<at::Tensor> TensorList(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) ThrowType(env, std::string(what) + ": expected an array of Tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t k = 0; k < arr.Length(); k++) out.push_back(TensorWrap::From(env, arr.Get(k), what));
  return out;
}

Napi::Array WrapAll(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t k = 0; k < ts.size(); k++) arr.Set(static_cast<uint32_t>(k), TensorWrap::New(env, ts[k]));
  return arr;
}

// Dims argument of reductions: missing means "all dims".
std::optional<std::vector<int64_t>> Dims(const Info& info, size_t i) { return ArgOptInts(info, i, "dim"); }

// Unary ops share one shape: no arguments.
#define UNARY(js, fn) {js, [](const at::Tensor& t, const Info&) { return t.fn(); }, nullptr}
// Binary ops with a Tensor or a scalar on the right.
#define BINARY(js, fn) {js, [](const at::Tensor& t, const Info& i) { return at::fn(t, Other(i, 0, "other")); }, nullptr}

const std::vector<OpEntry>& Ops() {
  static const std::vector<OpEntry> ops = {
      // Elementwise math.
      {"add", [](const at::Tensor& t, const Info& i) { return at::add(t, Other(i, 0, "other"), Alpha(i, 1)); }, nullptr},
      {"sub", [](const at::Tensor& t, const Info& i) { return at::sub(t, Other(i, 0, "other"), Alpha(i, 1)); }, nullptr},
      BINARY("mul", mul), BINARY("div", div), BINARY("pow", pow), BINARY("maximum", maximum), BINARY("minimum", minimum),
      BINARY("eq", eq), BINARY("ne", ne), BINARY("gt", gt), BINARY("ge", ge), BINARY("lt", lt), BINARY("le", le),
      BINARY("logicalAnd", logical_and), BINARY("logicalOr", logical_or), BINARY("atan2", atan2), BINARY("remainder", remainder),
      UNARY("neg", neg), UNARY("abs", abs), UNARY("sqrt", sqrt), UNARY("rsqrt", rsqrt), UNARY("exp", exp), UNARY("log", log),
      UNARY("sin", sin), UNARY("cos", cos), UNARY("tanh", tanh), UNARY("sigmoid", sigmoid), UNARY("sign", sign),
      UNARY("floor", floor), UNARY("ceil", ceil), UNARY("round", round), UNARY("square", square), UNARY("reciprocal", reciprocal),
      UNARY("logicalNot", logical_not), UNARY("isnan", isnan), UNARY("isfinite", isfinite),
      UNARY("contiguous", contiguous), UNARY("clone", clone),
      {"clamp", [](const at::Tensor& t, const Info& i) {
         auto lo = ArgOptDouble(i, 0, "min"), hi = ArgOptDouble(i, 1, "max");
         if (!lo && !hi) ThrowType(i.Env(), "clamp: give min, max or both");
         return at::clamp(t, lo ? c10::optional<at::Scalar>(*lo) : c10::nullopt, hi ? c10::optional<at::Scalar>(*hi) : c10::nullopt);
       }, nullptr},
      {"where", [](const at::Tensor& t, const Info& i) { return at::where(Arg(i, 0, "condition"), t, Other(i, 1, "other")); }, nullptr},
      {"lerp", [](const at::Tensor& t, const Info& i) {
         at::Tensor end = Other(i, 0, "end").to(t.dtype());
         if (i.Length() > 1 && i[1].IsNumber()) return at::lerp(t, end, ArgDouble(i, 1, "weight"));
         return at::lerp(t, end, Arg(i, 1, "weight"));
       }, nullptr},
      {"astype", [](const at::Tensor& t, const Info& i) { return t.to(ParseDtype(i.Env(), ArgString(i, 0, "dtype"))); }, nullptr},
      {"matmul", [](const at::Tensor& t, const Info& i) { return at::matmul(t, Arg(i, 0, "other")); }, nullptr},
      // Reductions: (dims?, keepdim?).
      {"mean", [](const at::Tensor& t, const Info& i) { auto d = Dims(i, 0); return d ? at::mean(t, *d, ArgBool(i, 1, "keepdim")) : at::mean(t); }, nullptr},
      {"sum", [](const at::Tensor& t, const Info& i) { auto d = Dims(i, 0); return d ? at::sum(t, *d, ArgBool(i, 1, "keepdim")) : at::sum(t); }, nullptr},
      {"std", [](const at::Tensor& t, const Info& i) {
         auto d = Dims(i, 0);
         bool unbiased = IsMissing(i, 2) ? true : ArgBool(i, 2, "unbiased");
         return d ? at::std(t, at::IntArrayRef(*d), unbiased, ArgBool(i, 1, "keepdim")) : at::std(t, unbiased);
       }, nullptr},
      {"amax", [](const at::Tensor& t, const Info& i) { auto d = Dims(i, 0); return d ? at::amax(t, *d, ArgBool(i, 1, "keepdim")) : at::max(t); }, nullptr},
      {"amin", [](const at::Tensor& t, const Info& i) { auto d = Dims(i, 0); return d ? at::amin(t, *d, ArgBool(i, 1, "keepdim")) : at::min(t); }, nullptr},
      {"argmax", [](const at::Tensor& t, const Info& i) {
         return IsMissing(i, 0) ? at::argmax(t) : at::argmax(t, ArgInt(i, 0, "dim"), ArgBool(i, 1, "keepdim"));
       }, nullptr},
      {"cumsum", [](const at::Tensor& t, const Info& i) { return at::cumsum(t, ArgInt(i, 0, "dim")); }, nullptr},
      // Views and shape.
      {"reshape", [](const at::Tensor& t, const Info& i) { return t.reshape(ArgInts(i, 0, "shape")); }, nullptr},
      {"view", [](const at::Tensor& t, const Info& i) { return t.view(ArgInts(i, 0, "shape")); }, nullptr},
      {"permute", [](const at::Tensor& t, const Info& i) { return t.permute(ArgInts(i, 0, "dims")); }, nullptr},
      {"transpose", [](const at::Tensor& t, const Info& i) { return t.transpose(ArgInt(i, 0, "dim0"), ArgInt(i, 1, "dim1")); }, nullptr},
      {"squeeze", [](const at::Tensor& t, const Info& i) { return IsMissing(i, 0) ? t.squeeze() : t.squeeze(ArgInt(i, 0, "dim")); }, nullptr},
      {"unsqueeze", [](const at::Tensor& t, const Info& i) { return t.unsqueeze(ArgInt(i, 0, "dim")); }, nullptr},
      {"flatten", [](const at::Tensor& t, const Info& i) {
         return t.flatten(IsMissing(i, 0) ? 0 : ArgInt(i, 0, "startDim"), IsMissing(i, 1) ? -1 : ArgInt(i, 1, "endDim"));
       }, nullptr},
      {"expand", [](const at::Tensor& t, const Info& i) { return t.expand(ArgInts(i, 0, "shape")); }, nullptr},
      {"repeat", [](const at::Tensor& t, const Info& i) { return t.repeat(ArgInts(i, 0, "repeats")); }, nullptr},
      {"repeatInterleave", [](const at::Tensor& t, const Info& i) {
         return at::repeat_interleave(t, ArgInt(i, 0, "repeats"), IsMissing(i, 1) ? c10::nullopt : c10::optional<int64_t>(ArgInt(i, 1, "dim")));
       }, nullptr},
      {"narrow", [](const at::Tensor& t, const Info& i) { return t.narrow(ArgInt(i, 0, "dim"), ArgInt(i, 1, "start"), ArgInt(i, 2, "length")); }, nullptr},
      {"slice", [](const at::Tensor& t, const Info& i) {
         return t.slice(ArgInt(i, 0, "dim"), IsMissing(i, 1) ? c10::nullopt : c10::optional<int64_t>(ArgInt(i, 1, "start")),
                        IsMissing(i, 2) ? c10::nullopt : c10::optional<int64_t>(ArgInt(i, 2, "end")),
                        IsMissing(i, 3) ? 1 : ArgInt(i, 3, "step"));
       }, nullptr},
      {"select", [](const at::Tensor& t, const Info& i) { return t.select(ArgInt(i, 0, "dim"), ArgInt(i, 1, "index")); }, nullptr},
      {"indexSelect", [](const at::Tensor& t, const Info& i) { return at::index_select(t, ArgInt(i, 0, "dim"), Arg(i, 1, "index")); }, nullptr},
      {"flip", [](const at::Tensor& t, const Info& i) { return at::flip(t, ArgInts(i, 0, "dims")); }, nullptr},
      {"roll", [](const at::Tensor& t, const Info& i) { return at::roll(t, ArgInts(i, 0, "shifts"), ArgInts(i, 1, "dims")); }, nullptr},
      // (pad: [left, right, top, bottom, ...] as F.pad, mode, value)
      {"pad", [](const at::Tensor& t, const Info& i) {
         std::string mode = IsMissing(i, 1) ? "constant" : ArgString(i, 1, "mode");
         if (mode != "constant" && mode != "reflect" && mode != "replicate" && mode != "circular")
           ThrowType(i.Env(), "pad: mode must be 'constant', 'reflect', 'replicate' or 'circular'; got '" + mode + "'");
         return at::pad(t, ArgInts(i, 0, "pad"), mode, mode == "constant" ? c10::optional<double>(IsMissing(i, 2) ? 0.0 : ArgDouble(i, 2, "value")) : c10::nullopt);
       }, nullptr},
      // (size: [h, w] or [d, h, w], mode, alignCorners): the TS side turns scale factors into sizes.
      {"interpolate", [](const at::Tensor& t, const Info& i) {
         auto size = ArgInts(i, 0, "size");
         std::string mode = ArgString(i, 1, "mode");
         bool align = ArgBool(i, 2, "alignCorners");
         if (mode == "nearest" && size.size() == 2 && t.dim() == 4) return at::upsample_nearest2d(t, size);
         if (mode == "nearest" && size.size() == 3 && t.dim() == 5) return at::upsample_nearest3d(t, size);
         if (mode == "bilinear" && size.size() == 2 && t.dim() == 4) return at::upsample_bilinear2d(t, size, align);
         ThrowType(i.Env(), "interpolate: mode '" + mode + "' with " + std::to_string(size.size()) + " sizes on a " +
                                std::to_string(t.dim()) + "-D tensor is not supported (nearest: 4-D or 5-D, bilinear: 4-D)");
       }, nullptr},
      // Several outputs.
      {"chunk", nullptr, [](const at::Tensor& t, const Info& i) -> Napi::Value {
         return WrapAll(i.Env(), t.chunk(ArgInt(i, 0, "chunks"), IsMissing(i, 1) ? 0 : ArgInt(i, 1, "dim")));
       }},
      {"split", nullptr, [](const at::Tensor& t, const Info& i) -> Napi::Value {
         int64_t dim = IsMissing(i, 1) ? 0 : ArgInt(i, 1, "dim");
         if (i.Length() > 0 && i[0].IsNumber()) return WrapAll(i.Env(), t.split(ArgInt(i, 0, "splitSize"), dim));
         return WrapAll(i.Env(), t.split_with_sizes(ArgInts(i, 0, "splitSizes"), dim));
       }},
      {"unbind", nullptr, [](const at::Tensor& t, const Info& i) -> Napi::Value {
         return WrapAll(i.Env(), t.unbind(IsMissing(i, 0) ? 0 : ArgInt(i, 0, "dim")));
       }},
      {"numel", nullptr, [](const at::Tensor& t, const Info& i) -> Napi::Value { return Napi::Number::New(i.Env(), static_cast<double>(t.numel())); }},
      {"isContiguous", nullptr, [](const at::Tensor& t, const Info& i) -> Napi::Value { return Napi::Boolean::New(i.Env(), t.is_contiguous()); }},
  };
  return ops;
}

#undef UNARY
#undef BINARY

// Element type of a typed array, as a torch dtype.
at::ScalarType TypedArrayDtype(Napi::Env env, const Napi::TypedArray& a) {
  switch (a.TypedArrayType()) {
    case napi_float32_array: return at::kFloat;
    case napi_float64_array: return at::kDouble;
    case napi_int32_array: return at::kInt;
    case napi_int16_array: return at::kShort;
    case napi_int8_array: return at::kChar;
    case napi_uint8_array:
    case napi_uint8_clamped_array: return at::kByte;
    case napi_bigint64_array: return at::kLong;
    default: ThrowType(env, "data: expected a Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, Uint8Array or BigInt64Array");
  }
}

// tensor(data, shape, dtype, device): copies host data into a new tensor.
Napi::Value FromData(const Info& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) ThrowType(env, "data: expected a typed array");
  auto data = info[0].As<Napi::TypedArray>();
  auto shape = ArgInts(info, 1, "shape");
  at::ScalarType src = TypedArrayDtype(env, data);
  at::ScalarType dst = IsMissing(info, 2) ? src : ParseDtype(env, ArgString(info, 2, "dtype"));
  at::Device device = IsMissing(info, 3) ? at::Device(at::kCPU) : ParseDevice(env, ArgString(info, 3, "device"));
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) ThrowType(env, "shape: dimensions must be >= 0");
    numel *= d;
  }
  if (static_cast<int64_t>(data.ElementLength()) != numel)
    ThrowType(env, "data: has " + std::to_string(data.ElementLength()) + " elements but shape [" +
                       c10::Join(", ", shape) + "] needs " + std::to_string(numel));
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(src));
  auto* bytes = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
  if (numel > 0) std::memcpy(t.data_ptr(), bytes, data.ByteLength());
  if (dst != src) t = t.to(dst);
  if (!device.is_cpu()) t = t.to(device);
  return TensorWrap::New(env, t);
}

c10::optional<at::Generator> OptGenerator(const Info& info, size_t i) {
  if (IsMissing(info, i)) return c10::nullopt;
  return GeneratorWrap::From(info.Env(), info[i]);
}

// randn/rand(shape, options, generator?): with a generator the draw happens
// on the generator's device (lib/ moves it after), as torch requires.
template <typename Draw>
Napi::Value Random(const Info& info, Draw draw) {
  auto shape = ArgInts(info, 0, "shape");
  auto options = ArgTensorOptions(info, 1);
  auto generator = OptGenerator(info, 2);
  if (generator) options = options.device(generator->device());
  return TensorWrap::New(info.Env(), draw(shape, generator, options));
}

}  // namespace

at::Tensor ScalarTensor(Napi::Env env, const Napi::Value& v, const char* what) {
  at::Scalar s;
  if (v.IsBoolean()) {
    s = at::Scalar(v.As<Napi::Boolean>().Value());
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    bool integral = std::isfinite(d) && std::floor(d) == d && std::abs(d) <= 9007199254740991.0;
    s = integral ? at::Scalar(static_cast<int64_t>(d)) : at::Scalar(d);
  } else {
    ThrowType(env, std::string(what) + ": expected a Tensor or a number");
  }
  at::Tensor t = at::scalar_tensor(s, at::TensorOptions().dtype(s.type()));
  t.unsafeGetTensorImpl()->set_wrapped_number(true);
  return t;
}

at::Tensor TensorOrScalar(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsNumber() || v.IsBoolean()) return ScalarTensor(env, v, what);
  return TensorWrap::From(env, v, what);
}

Napi::Function TensorWrap::Init(Napi::Env env) {
  std::vector<PropertyDescriptor> props = {
      InstanceAccessor<&TensorWrap::Shape>("shape"),
      InstanceAccessor<&TensorWrap::Dtype>("dtype"),
      InstanceAccessor<&TensorWrap::Device>("device"),
      InstanceAccessor<&TensorWrap::IsDisposed>("disposed"),
      InstanceMethod<&TensorWrap::Dispose>("dispose"),
      InstanceMethod<&TensorWrap::ToArray>("toArray"),
      InstanceMethod<&TensorWrap::Item>("item"),
      InstanceMethod<&TensorWrap::To>("to"),
  };
  for (const auto& op : Ops())
    props.push_back(InstanceMethod(op.name, &TensorWrap::Apply, napi_default, const_cast<OpEntry*>(&op)));
  return DefineClass(env, "NativeTensor", props);
}

Napi::Object TensorWrap::New(Napi::Env env, at::Tensor t) {
  return Data(env).tensorCtor.New({Napi::External<at::Tensor>::New(env, &t)});
}

bool TensorWrap::Is(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(Data(env).tensorCtor.Value());
}

at::Tensor TensorWrap::From(Napi::Env env, const Napi::Value& v, const char* what) {
  Napi::Value handle = v;
  // lib/'s Tensor keeps its native handle in `native`; accept either.
  if (v.IsObject() && !Is(env, v)) handle = v.As<Napi::Object>().Get("native");
  if (!Is(env, handle)) ThrowType(env, std::string(what) + ": expected a Tensor");
  return Unwrap(handle.As<Napi::Object>())->Get(env);
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    ThrowType(info.Env(), "NativeTensor cannot be constructed directly; use tensor(), zeros(), ...");
  tensor_ = *info[0].As<Napi::External<at::Tensor>>().Data();
  host_ = Data(info.Env()).host;
  host_->Retain(info.Env(), tensor_);
}

TensorWrap::~TensorWrap() { Release(); }

void TensorWrap::Release() {
  if (!tensor_.defined()) return;
  host_->Release(Env(), tensor_);
  tensor_ = at::Tensor();
}

const at::Tensor& TensorWrap::Get(Napi::Env env) const {
  if (!tensor_.defined()) throw Napi::Error::New(env, "Tensor was disposed; it cannot be used any more");
  return tensor_;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  const auto& t = Get(info.Env());
  auto arr = Napi::Array::New(info.Env(), t.dim());
  for (int64_t d = 0; d < t.dim(); d++) arr.Set(static_cast<uint32_t>(d), Napi::Number::New(info.Env(), static_cast<double>(t.size(d))));
  return arr;
}

Napi::Value TensorWrap::Dtype(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DtypeName(Get(info.Env()).scalar_type()));
}

Napi::Value TensorWrap::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), DeviceName(Get(info.Env()).device()));
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value TensorWrap::Apply(const Napi::CallbackInfo& info) {
  const auto* op = static_cast<const OpEntry*>(info.Data());
  Napi::Env env = info.Env();
  at::Tensor self = Get(env);
  return Guarded(env, [&]() -> Napi::Value {
    if (op->valueOp) return op->valueOp(self, info);
    return New(env, op->tensorOp(self, info));
  });
}

namespace {
// Host copy made on the worker, turned into a typed array on the main thread.
// float16/bfloat16 read back as float32, bool as uint8.
Napi::Value TypedArrayFrom(Napi::Env env, const at::Tensor& host) {
  size_t n = static_cast<size_t>(host.numel());
  auto fill = [&](auto typed) {
    if (n) std::memcpy(typed.Data(), host.data_ptr(), n * host.element_size());
    return typed;
  };
  switch (host.scalar_type()) {
    case at::kFloat: return fill(Napi::Float32Array::New(env, n));
    case at::kDouble: return fill(Napi::Float64Array::New(env, n));
    case at::kInt: return fill(Napi::Int32Array::New(env, n));
    case at::kShort: return fill(Napi::Int16Array::New(env, n));
    case at::kChar: return fill(Napi::Int8Array::New(env, n));
    case at::kByte: return fill(Napi::Uint8Array::New(env, n));
    case at::kLong: return fill(Napi::BigInt64Array::New(env, n));
    default: throw Napi::Error::New(env, "toArray: unsupported dtype " + DtypeName(host.scalar_type()));
  }
}

at::ScalarType ReadbackType(at::ScalarType t) {
  if (t == at::kHalf || t == at::kBFloat16) return at::kFloat;
  if (t == at::kBool) return at::kByte;
  return t;
}
}  // namespace

Napi::Value TensorWrap::ToArray(const Napi::CallbackInfo& info) {
  at::Tensor src = Get(info.Env());
  auto host = std::make_shared<at::Tensor>();
  return TorchWorker::Start(
      info.Env(), "toArray",
      [src, host] { *host = src.to(at::kCPU, ReadbackType(src.scalar_type())).contiguous(); },
      [host](Napi::Env env) { return TypedArrayFrom(env, *host); });
}

Napi::Value TensorWrap::Item(const Napi::CallbackInfo& info) {
  at::Tensor src = Get(info.Env());
  if (src.numel() != 1)
    throw Napi::Error::New(info.Env(), "item: the tensor has " + std::to_string(src.numel()) + " elements, expected 1");
  auto value = std::make_shared<double>(0);
  return TorchWorker::Start(
      info.Env(), "item", [src, value] { *value = src.item<double>(); },
      [value](Napi::Env env) { return Napi::Number::New(env, *value); });
}

// to(device?, dtype?): async because it may copy between host and device.
Napi::Value TensorWrap::To(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  at::Tensor src = Get(env);
  at::Device device = IsMissing(info, 0) ? src.device() : ParseDevice(env, ArgString(info, 0, "device"));
  at::ScalarType dtype = IsMissing(info, 1) ? src.scalar_type() : ParseDtype(env, ArgString(info, 1, "dtype"));
  auto out = std::make_shared<at::Tensor>();
  return TorchWorker::Start(
      env, "to(" + DeviceName(device) + ", " + DtypeName(dtype) + ")",
      [src, device, dtype, out] { *out = src.to(device, dtype); },
      [out](Napi::Env env) -> Napi::Value { return TensorWrap::New(env, *out); });
}

void RegisterTensorFunctions(Napi::Env env, Napi::Object exports) {
  using Fn = Napi::Value (*)(const Info&);
  struct Entry {
    const char* name;
    Fn fn;
  };
  static const Entry fns[] = {
      {"fromData", [](const Info& i) { return FromData(i); }},
      {"zeros", [](const Info& i) -> Napi::Value { return TensorWrap::New(i.Env(), at::zeros(ArgInts(i, 0, "shape"), ArgTensorOptions(i, 1))); }},
      {"ones", [](const Info& i) -> Napi::Value { return TensorWrap::New(i.Env(), at::ones(ArgInts(i, 0, "shape"), ArgTensorOptions(i, 1))); }},
      {"full", [](const Info& i) -> Napi::Value {
         return TensorWrap::New(i.Env(), at::full(ArgInts(i, 0, "shape"), ArgDouble(i, 1, "value"), ArgTensorOptions(i, 2)));
       }},
      {"arange", [](const Info& i) -> Napi::Value {
         return TensorWrap::New(i.Env(), at::arange(ArgDouble(i, 0, "start"), ArgDouble(i, 1, "end"), ArgDouble(i, 2, "step"), ArgTensorOptions(i, 3)));
       }},
      {"linspace", [](const Info& i) -> Napi::Value {
         return TensorWrap::New(i.Env(), at::linspace(ArgDouble(i, 0, "start"), ArgDouble(i, 1, "end"), ArgInt(i, 2, "steps"), ArgTensorOptions(i, 3)));
       }},
      {"randn", [](const Info& i) {
         return Random(i, [](auto& s, auto& g, auto& o) { return at::randn(s, g, o); });
       }},
      {"rand", [](const Info& i) {
         return Random(i, [](auto& s, auto& g, auto& o) { return at::rand(s, g, o); });
       }},
      // randperm(n, options, generator?): torch.randperm (FreeNoise's shuffled noise draws it after randn).
      {"randperm", [](const Info& i) -> Napi::Value {
         auto options = ArgTensorOptions(i, 1).dtype(at::kLong);
         auto generator = OptGenerator(i, 2);
         if (generator) options = options.device(generator->device());
         return TensorWrap::New(i.Env(), at::randperm(ArgInt(i, 0, "n"), generator, options));
       }},
      {"cat", [](const Info& i) -> Napi::Value {
         return TensorWrap::New(i.Env(), at::cat(TensorList(i.Env(), i[0], "tensors"), IsMissing(i, 1) ? 0 : ArgInt(i, 1, "dim")));
       }},
      {"stack", [](const Info& i) -> Napi::Value {
         return TensorWrap::New(i.Env(), at::stack(TensorList(i.Env(), i[0], "tensors"), IsMissing(i, 1) ? 0 : ArgInt(i, 1, "dim")));
       }},
  };
  for (const auto& e : fns) {
    exports.Set(e.name, Napi::Function::New(env, [fn = e.fn](const Info& i) { return Guarded(i.Env(), [&] { return fn(i); }); }, e.name));
  }
}

}  // namespace animatorch
