// Node-API binding (node-addon-api). The only file that knows about JavaScript. Every engine call that takes
// time is a job on the engine's runtime (never libuv's pool, never the main thread) and resolves a Promise
// through a thread-safe function. C++ exceptions stop here: jobs catch everything and report a Status.
#include <napi.h>

#include <cmath>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "../bench/microbench.h"
#include "../core/cpu_features.h"
#include "../core/runtime.h"
#include "../model/cuda_backend.h"
#include "../onnx/onnx_model.h"
#include "../cpu/kernels.h"
#include "bertrt/model.h"

#ifndef BERTRT_VERSION
#define BERTRT_VERSION "dev"
#endif

namespace {

using bertrt::Code;
using bertrt::Status;

struct AddonData {
  Napi::FunctionReference error_class;
  Napi::FunctionReference engine_ctor;
};

Napi::Error make_error(Napi::Env env, Code code, const std::string& message) {
  auto* data = env.GetInstanceData<AddonData>();
  if (data && !data->error_class.IsEmpty()) {
    Napi::Object e = data->error_class.New({Napi::String::New(env, message), Napi::String::New(env, bertrt::code_name(code))});
    return Napi::Error(env, e);
  }
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, bertrt::code_name(code)));
  return e;
}

[[noreturn]] void throw_error(Napi::Env env, Code code, const std::string& message) {
  throw make_error(env, code, message);
}

// ------------------------------------------------------------------------------------------------ jobs
// A job's result is built on the main thread by `settle`, which runs only if the work succeeded.
struct Job {
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise::Deferred deferred;
  Status status;
  std::function<Napi::Value(Napi::Env)> settle;  // main thread, success only
  std::function<void()> cleanup;                 // main thread, always, before settling
};

void finish_job(Napi::Env env, Napi::Function, void*, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr) return;  // environment tearing down: nobody is left to tell
  Napi::HandleScope scope(env);
  if (job->cleanup) job->cleanup();
  if (!job->status.ok()) {
    job->deferred.Reject(make_error(env, job->status.code(), job->status.message()).Value());
    return;
  }
  try {
    job->deferred.Resolve(job->settle ? job->settle(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    job->deferred.Reject(e.Value());
  }
}

using Tsfn = Napi::TypedThreadSafeFunction<void, Job, finish_job>;

// Runs work(pool) on the engine's job thread and returns the Promise it settles.
Napi::Promise submit(Napi::Env env, std::unique_ptr<Job> job, std::function<Status(bertrt::ThreadPool&)> work) {
  Napi::Promise promise = job->deferred.Promise();
  Tsfn tsfn = Tsfn::New(env, "bertrt.job", 0, 1);
  Job* raw = job.release();
  bertrt::Runtime::get().submit([raw, tsfn, work = std::move(work)](bertrt::ThreadPool& pool) mutable {
    try {
      raw->status = work(pool);
    } catch (const std::bad_alloc&) {
      raw->status = Status(Code::kOutOfMemory, "out of memory");
    } catch (const std::exception& e) {
      raw->status = Status(Code::kInternal, std::string("internal error: ") + e.what());
    } catch (...) {
      raw->status = Status(Code::kInternal, "internal error");
    }
    tsfn.BlockingCall(raw);
    tsfn.Release();
  });
  return promise;
}

// -------------------------------------------------------------------------------------- argument parsing
int32_t get_int(Napi::Object o, const char* key, bool required = true, int32_t dflt = 0) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw_error(o.Env(), Code::kInvalidArgument, std::string("config.") + key + " is required");
    return dflt;
  }
  if (!v.IsNumber()) throw_error(o.Env(), Code::kInvalidArgument, std::string("config.") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int32_t>(d)))
    throw_error(o.Env(), Code::kInvalidArgument, std::string("config.") + key + " must be an integer");
  return static_cast<int32_t>(d);
}

// o[key] as a finite number, or a typed error naming it (what: the object's path, "config.modern").
double get_finite(Napi::Object o, const char* key, const char* what) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    throw_error(o.Env(), Code::kInvalidArgument, std::string(what) + "." + key + " must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

bertrt::BertConfig parse_config(Napi::Object o) {
  bertrt::BertConfig c;
  c.vocab_size = get_int(o, "vocabSize");
  c.hidden_size = get_int(o, "hiddenSize");
  c.num_hidden_layers = get_int(o, "numHiddenLayers");
  c.num_attention_heads = get_int(o, "numAttentionHeads");
  c.intermediate_size = get_int(o, "intermediateSize");
  c.max_position_embeddings = get_int(o, "maxPositionEmbeddings");
  c.type_vocab_size = get_int(o, "typeVocabSize");
  Napi::Value eps = o.Get("layerNormEps");
  if (!eps.IsNumber()) throw_error(o.Env(), Code::kInvalidArgument, "config.layerNormEps must be a number");
  c.layer_norm_eps = eps.As<Napi::Number>().FloatValue();
  Napi::Value act = o.Get("hiddenAct");
  if (!act.IsString()) throw_error(o.Env(), Code::kInvalidArgument, "config.hiddenAct must be a string");
  c.hidden_act = act.As<Napi::String>().Utf8Value();
  c.padding_idx = get_int(o, "paddingIdx", false, -1);
  c.embedding_size = get_int(o, "embeddingSize", false, 0);
  c.layer_groups = get_int(o, "layerGroups", false, 0);
  Napi::Value dis = o.Get("disentangled");
  if (dis.IsObject()) {  // DeBERTa-v2: { span, buckets, maxRelativePositions, normRel, positionTable }
    Napi::Object d = dis.As<Napi::Object>();
    c.disentangled_span = get_int(d, "span");
    c.position_buckets = get_int(d, "buckets");
    c.max_relative_positions = get_int(d, "maxRelativePositions");
    c.rel_norm = d.Get("normRel").ToBoolean();
    c.position_table = d.Get("positionTable").ToBoolean();
  }
  Napi::Value modern = o.Get("modern");
  if (modern.IsObject()) {  // ModernBERT's block: { normBias, attentionBias, mlpBias, ropeThetaGlobal, ropeThetaLocal, globalEvery, localWindow }
    Napi::Object m = modern.As<Napi::Object>();
    auto num = [&](const char* key) { return get_finite(m, key, "config.modern"); };
    c.modern = true;
    c.norm_bias = m.Get("normBias").ToBoolean();
    c.attention_bias = m.Get("attentionBias").ToBoolean();
    c.mlp_bias = m.Get("mlpBias").ToBoolean();
    c.rope_theta_global = static_cast<float>(num("ropeThetaGlobal"));
    c.rope_theta_local = static_cast<float>(num("ropeThetaLocal"));
    c.global_every = get_int(m, "globalEvery");
    c.local_window = get_int(m, "localWindow");
  }
  Napi::Value rotary = o.Get("rotary");
  if (rotary.IsObject()) {  // RoPE in the post-norm layer (NomicBERT, GTE): { theta, ntk }
    Napi::Object r = rotary.As<Napi::Object>();
    c.rotary = true, c.position_table = false;
    c.rope_theta_global = static_cast<float>(get_finite(r, "theta", "config.rotary"));
    c.rope_ntk = static_cast<float>(get_finite(r, "ntk", "config.rotary"));
    Napi::Value dyn = r.Get("dynamic");
    if (dyn.IsObject()) {  // dynamic NTK scaling: { factor, trained }
      Napi::Object d = dyn.As<Napi::Object>();
      c.rope_dynamic = static_cast<float>(get_finite(d, "factor", "config.rotary.dynamic"));
      c.rope_trained = get_int(d, "trained");
    }
  }
  c.gated = o.Get("gatedFfn").ToBoolean();
  Napi::Value biases = o.Get("biases");
  if (biases.IsObject() && !modern.IsObject()) {  // which linear layers carry biases: { attention, mlpIn, mlpOut }
    Napi::Object bo = biases.As<Napi::Object>();
    c.attention_bias = bo.Get("attention").ToBoolean();
    c.mlp_in_bias = bo.Get("mlpIn").ToBoolean();
    c.mlp_bias = bo.Get("mlpOut").ToBoolean();
  }
  c.relative_attention_buckets = get_int(o, "relativeAttentionBuckets", false, 0);
  c.relative_attention_max_distance = get_int(o, "relativeAttentionMaxDistance", false, 128);
  return c;
}

std::vector<bertrt::TensorDesc> parse_tensors(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) throw_error(env, Code::kInvalidArgument, "tensors must be an array");
  Napi::Array arr = v.As<Napi::Array>();
  std::vector<bertrt::TensorDesc> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) throw_error(env, Code::kInvalidArgument, "tensors[" + std::to_string(i) + "] must be an object");
    Napi::Object o = e.As<Napi::Object>();
    bertrt::TensorDesc t;
    Napi::Value name = o.Get("name"), dtype = o.Get("dtype"), shape = o.Get("shape"), begin = o.Get("begin"), end = o.Get("end");
    if (!name.IsString() || !dtype.IsString() || !shape.IsArray() || !begin.IsNumber() || !end.IsNumber())
      throw_error(env, Code::kInvalidArgument, "tensors[" + std::to_string(i) + "] needs name, dtype, shape, begin, end");
    t.name = name.As<Napi::String>().Utf8Value();
    std::string dt = dtype.As<Napi::String>().Utf8Value();
    if (dt == "F32") t.dtype = bertrt::DType::kF32;
    else if (dt == "F16") t.dtype = bertrt::DType::kF16;
    else if (dt == "BF16") t.dtype = bertrt::DType::kBF16;
    else throw_error(env, Code::kModelFormat, "tensor '" + t.name + "' has dtype " + dt + " (F32, F16 or BF16 expected)");
    Napi::Array sh = shape.As<Napi::Array>();
    for (uint32_t j = 0; j < sh.Length(); ++j) {
      Napi::Value d = sh.Get(j);
      if (!d.IsNumber()) throw_error(env, Code::kModelFormat, "tensor '" + t.name + "' has a non-numeric dimension");
      t.shape.push_back(d.As<Napi::Number>().Int64Value());
    }
    double b = begin.As<Napi::Number>().DoubleValue(), en = end.As<Napi::Number>().DoubleValue();
    if (b < 0 || en < 0 || b > 9.007199254740991e15 || en > 9.007199254740991e15)
      throw_error(env, Code::kModelFormat, "tensor '" + t.name + "' has an invalid byte range");
    t.begin = static_cast<uint64_t>(b);
    t.end = static_cast<uint64_t>(en);
    Napi::Value file = o.Get("file");
    if (!file.IsUndefined()) {
      double f = file.IsNumber() ? file.As<Napi::Number>().DoubleValue() : -1;
      if (!(f >= 0 && f < 65536) || f != static_cast<double>(static_cast<uint32_t>(f)))
        throw_error(env, Code::kInvalidArgument, "tensor '" + t.name + "' has an invalid file index");
      t.file = static_cast<uint32_t>(f);
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Runs work(pool, out's data) on the job thread and resolves with `out`, which stays referenced until then.
Napi::Promise submit_filling(Napi::Env env, Napi::Float32Array out, std::function<Status(bertrt::ThreadPool&, float*)> work) {
  auto out_ref = std::make_shared<Napi::Reference<Napi::Float32Array>>(Napi::Persistent(out));
  float* data = out.Data();
  auto job = std::make_unique<Job>(env);
  job->settle = [out_ref](Napi::Env) -> Napi::Value {
    Napi::Value v = out_ref->Value();
    out_ref->Reset();
    return v;
  };
  return submit(env, std::move(job), [work = std::move(work), data](bertrt::ThreadPool& pool) { return work(pool, data); });
}

std::vector<int32_t> copy_int32(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw_error(env, Code::kInvalidArgument, std::string(what) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<float> copy_float32(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_error(env, Code::kInvalidArgument, std::string(what) + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

// A packed batch's arrays, copied off the JS heap so the job can read them on its thread:
// run(ids, typeIds, cuSeqlens, keyLens?).
struct BatchArgs {
  std::shared_ptr<std::vector<int32_t>> ids, types, cu, keys;
  bertrt::BatchView view() const {
    bertrt::BatchView b;
    b.ids = ids->data();
    b.type_ids = types->empty() ? nullptr : types->data();
    b.cu_seqlens = cu->data();
    b.key_lens = keys->empty() ? nullptr : keys->data();
    b.n_seqs = static_cast<int>(cu->size()) - 1;
    b.tokens = static_cast<int>(ids->size());
    return b;
  }
};

BatchArgs batch_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw_error(env, Code::kInvalidArgument, "run(ids, typeIds, cuSeqlens)");
  BatchArgs a;
  a.ids = std::make_shared<std::vector<int32_t>>(copy_int32(env, info[0], "ids"));
  a.types = std::make_shared<std::vector<int32_t>>();
  if (!info[1].IsNull() && !info[1].IsUndefined()) {
    *a.types = copy_int32(env, info[1], "typeIds");
    if (a.types->size() != a.ids->size()) throw_error(env, Code::kInvalidArgument, "typeIds and ids differ in length");
  }
  a.cu = std::make_shared<std::vector<int32_t>>(copy_int32(env, info[2], "cuSeqlens"));
  if (a.cu->empty()) throw_error(env, Code::kInvalidArgument, "cuSeqlens must hold at least one element (0)");
  a.keys = std::make_shared<std::vector<int32_t>>();
  if (info.Length() > 3 && !info[3].IsNull() && !info[3].IsUndefined()) {
    *a.keys = copy_int32(env, info[3], "keyLens");
    if (a.keys->size() + 1 != a.cu->size()) throw_error(env, Code::kInvalidArgument, "keyLens must hold one length per sequence");
  }
  if (a.ids->size() > (size_t(1) << 31)) throw_error(env, Code::kInvalidArgument, "batch too large");
  return a;
}

// --------------------------------------------------------------------------------------------- Engine
class Engine : public Napi::ObjectWrap<Engine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod<&Engine::Load>("load"), InstanceMethod<&Engine::Run>("run"),
                        InstanceMethod<&Engine::VocabLogits>("vocabLogits"),
                        InstanceMethod<&Engine::VocabSparse>("vocabSparse"),
                        InstanceMethod<&Engine::Close>("close"), InstanceAccessor<&Engine::HiddenSize>("hiddenSize"),
                        InstanceAccessor<&Engine::WeightBytes>("weightBytes"), InstanceAccessor<&Engine::GemmIsa>("gemmIsa"),
                        InstanceAccessor<&Engine::Device>("device"), InstanceAccessor<&Engine::DeviceNote>("deviceNote")});
  }
  explicit Engine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Engine>(info) {}

 private:
  // load(config, weightsPath, tensors, threads, precision, device?, cudaLibrary?) -> Promise<void>
  // device 'cuda' or 'auto' tries the CUDA backend first and falls back to the CPU engine, keeping the reason.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[0].IsObject() || !(info[1].IsString() || info[1].IsArray()) || !info[3].IsNumber() || !info[4].IsString())
      throw_error(env, Code::kInvalidArgument, "load(config, weightsPath | weightsPaths, tensors, threads, precision, device?, cudaLibrary?)");
    const std::string device = info.Length() > 5 && info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "cpu";
    if (device != "cpu" && device != "cuda" && device != "auto")
      throw_error(env, Code::kInvalidArgument, "device must be 'cpu', 'cuda' or 'auto', got '" + device + "'");
    const std::string cuda_lib = info.Length() > 6 && info[6].IsString() ? info[6].As<Napi::String>().Utf8Value() : "";
    const std::string prec = info[4].As<Napi::String>().Utf8Value();
    bertrt::Precision precision;
    if (prec == "fp32") precision = bertrt::Precision::kFP32;
    else if (prec == "int8") precision = bertrt::Precision::kINT8;
    else if (prec == "bf16") precision = bertrt::Precision::kBF16;
    else if (prec == "fp8") precision = bertrt::Precision::kFP8;
    else throw_error(env, Code::kInvalidArgument, "precision must be 'fp32', 'int8', 'bf16' or 'fp8', got '" + prec + "'");
    if (model_ || loading_) throw_error(env, Code::kInvalidArgument, "engine already loaded");
    bertrt::BertConfig cfg = parse_config(info[0].As<Napi::Object>());
    bertrt::WeightFiles path;
    if (info[1].IsString()) {
      path.push_back(info[1].As<Napi::String>().Utf8Value());
    } else {
      Napi::Array files = info[1].As<Napi::Array>();
      if (files.Length() == 0 || files.Length() > 65536) throw_error(env, Code::kInvalidArgument, "weightsPaths must list 1 to 65536 files");
      for (uint32_t i = 0; i < files.Length(); ++i) {
        Napi::Value f = files.Get(i);
        if (!f.IsString()) throw_error(env, Code::kInvalidArgument, "weightsPaths[" + std::to_string(i) + "] must be a string");
        path.push_back(f.As<Napi::String>().Utf8Value());
      }
    }
    auto tensors = std::make_shared<std::vector<bertrt::TensorDesc>>(parse_tensors(env, info[2]));
    threads_ = info[3].As<Napi::Number>().Int32Value();
    if (threads_ < 0 || threads_ > 1024) throw_error(env, Code::kInvalidArgument, "threads must be in [0, 1024]");
    bertrt::Runtime::get().request_threads(threads_);
    loading_ = true;
    auto slot = std::make_shared<std::unique_ptr<bertrt::BertModel>>();
    auto placed = std::make_shared<std::pair<std::string, std::string>>();  // (device, fallback reason)
    auto job = std::make_unique<Job>(env);
    Napi::ObjectReference self = Napi::Persistent(Value());
    auto self_ref = std::make_shared<Napi::ObjectReference>(std::move(self));
    job->cleanup = [this, self_ref] {
      loading_ = false;  // a failed load leaves the engine unloaded, and load may be called again
      self_ref->Reset();
    };
    job->settle = [this, slot, placed](Napi::Env e) -> Napi::Value {
      model_ = std::shared_ptr<const bertrt::BertModel>(std::move(*slot));
      device_ = placed->first;
      device_note_ = placed->second;
      return e.Undefined();
    };
    return submit(env, std::move(job), [cfg, path, tensors, slot, placed, precision, device, cuda_lib](bertrt::ThreadPool& pool) {
      if (device != "cpu") {
        bertrt::Status st = bertrt::load_cuda_model(cfg, path, *tensors, precision, cuda_lib, pool, slot.get());
        if (st.ok()) {
          placed->first = "cuda:0 (" + bertrt::cuda_info(cuda_lib).device + ")";
          return st;
        }
        placed->second = st.message();
        // no CPU fallback for a precision the CPU engine lacks: the CUDA backend's reason is the answer
        if (precision == bertrt::Precision::kFP8) return bertrt::Status{st.code(), "precision 'fp8' needs the CUDA backend: " + st.message()};
      }
      placed->first = "cpu";
      return bertrt::BertModel::load(cfg, path, *tensors, precision, pool, slot.get());
    });
  }

  // run(ids: Int32Array, typeIds: Int32Array | null, cuSeqlens: Int32Array) -> Promise<Float32Array>
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_error(env, Code::kClosed, closed_ ? "engine is closed" : "engine is not loaded");
    BatchArgs a = batch_args(info);
    const size_t hidden = static_cast<size_t>(model_->config().hidden_size);
    if (a.ids->size() > (size_t(1) << 31) / hidden) throw_error(env, Code::kInvalidArgument, "batch too large");
    std::shared_ptr<const bertrt::BertModel> model = model_;
    int nth = threads_;
    Napi::Float32Array out = Napi::Float32Array::New(env, a.ids->size() * hidden);
    return submit_filling(env, out, [model, a, nth](bertrt::ThreadPool& pool, float* out_ptr) { return model->forward(a.view(), out_ptr, pool, nth); });
  }

  // vocabLogits(x: Float32Array [rows × hidden], bias: Float32Array [vocab] | null) -> Promise<Float32Array [rows × vocab]>
  Napi::Value VocabLogits(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_error(env, Code::kClosed, closed_ ? "engine is closed" : "engine is not loaded");
    if (info.Length() < 2) throw_error(env, Code::kInvalidArgument, "vocabLogits(x, bias)");
    const bertrt::BertConfig& mc = model_->config();
    const size_t H = static_cast<size_t>(mc.embedding_size > 0 ? mc.embedding_size : mc.hidden_size);  // the word table's width
    const size_t V = static_cast<size_t>(mc.vocab_size);
    auto x = std::make_shared<std::vector<float>>(copy_float32(env, info[0], "x"));
    if (x->size() % H != 0) throw_error(env, Code::kInvalidArgument, "x must hold whole rows of the word embeddings' width");
    const size_t rows = x->size() / H;
    if (rows > (size_t(1) << 28) / V) throw_error(env, Code::kInvalidArgument, "too many rows for one vocabLogits call");
    auto bias = std::make_shared<std::vector<float>>();
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      *bias = copy_float32(env, info[1], "bias");
      if (bias->size() != V) throw_error(env, Code::kInvalidArgument, "bias must hold vocab_size floats");
    }
    std::shared_ptr<const bertrt::BertModel> model = model_;
    int nth = threads_;
    Napi::Float32Array out = Napi::Float32Array::New(env, rows * V);
    return submit_filling(env, out, [model, x, bias, rows, nth](bertrt::ThreadPool& pool, float* out_ptr) {
      return model->vocab_logits(x->data(), static_cast<int>(rows), bias->empty() ? nullptr : bias->data(), out_ptr, pool, nth);
    });
  }

  // vocabSparse(x: Float32Array [rows × width], cuSeqlens: Int32Array, bias: Float32Array | null, sum: boolean)
  //   -> Promise<Float32Array [sequences × vocab]>: the SPLADE head (BertModel::vocab_sparse)
  Napi::Value VocabSparse(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_error(env, Code::kClosed, closed_ ? "engine is closed" : "engine is not loaded");
    if (info.Length() < 4) throw_error(env, Code::kInvalidArgument, "vocabSparse(x, cuSeqlens, bias, sum)");
    const bertrt::BertConfig& mc = model_->config();
    const size_t H = static_cast<size_t>(mc.embedding_size > 0 ? mc.embedding_size : mc.hidden_size);
    const size_t V = static_cast<size_t>(mc.vocab_size);
    auto x = std::make_shared<std::vector<float>>(copy_float32(env, info[0], "x"));
    if (x->size() % H != 0) throw_error(env, Code::kInvalidArgument, "x must hold whole rows of the word embeddings' width");
    const size_t rows = x->size() / H;
    auto cu = std::make_shared<std::vector<int32_t>>(copy_int32(env, info[1], "cuSeqlens"));
    if (cu->empty() || (*cu)[0] != 0 || static_cast<size_t>(cu->back()) != rows)
      throw_error(env, Code::kInvalidArgument, "cuSeqlens must start at 0 and end at the row count");
    for (size_t i = 1; i < cu->size(); ++i)
      if ((*cu)[i] < (*cu)[i - 1]) throw_error(env, Code::kInvalidArgument, "cuSeqlens must not decrease");
    const size_t n_seqs = cu->size() - 1;
    if (n_seqs > (size_t(1) << 28) / V || rows > (size_t(1) << 31) / H) throw_error(env, Code::kInvalidArgument, "too many rows for one vocabSparse call");
    auto bias = std::make_shared<std::vector<float>>();
    if (!info[2].IsNull() && !info[2].IsUndefined()) {
      *bias = copy_float32(env, info[2], "bias");
      if (bias->size() != V) throw_error(env, Code::kInvalidArgument, "bias must hold vocab_size floats");
    }
    const bool sum = info[3].ToBoolean();
    std::shared_ptr<const bertrt::BertModel> model = model_;
    int nth = threads_;
    Napi::Float32Array out = Napi::Float32Array::New(env, n_seqs * V);
    return submit_filling(env, out, [model, x, cu, bias, sum, nth, n_seqs](bertrt::ThreadPool& pool, float* out_ptr) {
      return model->vocab_sparse(x->data(), cu->data(), static_cast<int>(n_seqs), bias->empty() ? nullptr : bias->data(), sum,
                                 out_ptr, pool, nth);
    });
  }

  // Drops this handle's weights; jobs already queued keep them alive until they finish.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    model_.reset();
    closed_ = true;
    return info.Env().Undefined();
  }

  Napi::Value HiddenSize(const Napi::CallbackInfo& info) {
    return model_ ? Napi::Number::New(info.Env(), model_->config().hidden_size) : info.Env().Undefined();
  }
  Napi::Value GemmIsa(const Napi::CallbackInfo& info) {
    return model_ ? Napi::String::New(info.Env(), model_->gemm_isa()) : info.Env().Undefined();
  }
  Napi::Value WeightBytes(const Napi::CallbackInfo& info) {
    return model_ ? Napi::Number::New(info.Env(), static_cast<double>(model_->weight_bytes())) : info.Env().Undefined();
  }

  Napi::Value Device(const Napi::CallbackInfo& info) {
    return model_ ? Napi::String::New(info.Env(), device_) : info.Env().Undefined();
  }
  // why a CUDA request runs on the CPU ('' when it did not fall back)
  Napi::Value DeviceNote(const Napi::CallbackInfo& info) {
    return model_ ? Napi::String::New(info.Env(), device_note_) : info.Env().Undefined();
  }

  std::shared_ptr<const bertrt::BertModel> model_;
  std::string device_ = "cpu", device_note_;
  int threads_ = 0;
  bool loading_ = false;
  bool closed_ = false;
};

// ------------------------------------------------------------------------------------------------- Linear
// One dense layer of an output head (a ColBERT projection, bge-m3's sparse weight, an MLM transform): W [n × k] in
// PyTorch's layout, packed once for the CPU's FP32 GEMM, run over many token rows on the job thread. Heads stay FP32
// whatever the encoder's precision: they are a small part of the work and their outputs are what gets compared.
//   new Linear(weight: Float32Array [n × k], n, k, bias: Float32Array [n] | null, activation: 'none' | 'gelu' | 'gelu_tanh')
//   run(x: Float32Array [rows × k], threads) -> Promise<Float32Array [rows × n]>
class Linear : public Napi::ObjectWrap<Linear> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Linear", {InstanceMethod<&Linear::Run>("run"), InstanceAccessor<&Linear::In>("inFeatures"),
                                       InstanceAccessor<&Linear::Out>("outFeatures")});
  }

  explicit Linear(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Linear>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 5 || !info[1].IsNumber() || !info[2].IsNumber() || !info[4].IsString())
      throw_error(env, Code::kInvalidArgument, "Linear(weight, n, k, bias, activation)");
    const double n = info[1].As<Napi::Number>().DoubleValue(), k = info[2].As<Napi::Number>().DoubleValue();
    // 2^26 weights (256 MB in FP32) is far past any head; it keeps n * k and rows * n in range below
    if (!(n >= 1 && k >= 1 && n <= (1 << 20) && k <= (1 << 20) && n == std::floor(n) && k == std::floor(k) && n * k <= double(1 << 26)))
      throw_error(env, Code::kInvalidArgument, "Linear: n and k must be positive integers with n * k <= 2^26");
    auto st = std::make_shared<State>();
    st->n = static_cast<int>(n), st->k = static_cast<int>(k);
    std::vector<float> w = copy_float32(env, info[0], "weight");
    if (w.size() != static_cast<size_t>(st->n) * st->k) throw_error(env, Code::kInvalidArgument, "Linear: weight must hold n * k floats");
    if (!info[3].IsNull() && !info[3].IsUndefined()) {
      st->bias = copy_float32(env, info[3], "bias");
      if (st->bias.size() != static_cast<size_t>(st->n)) throw_error(env, Code::kInvalidArgument, "Linear: bias must hold n floats");
    }
    const std::string act = info[4].As<Napi::String>().Utf8Value();
    if (act == "gelu") st->act = bertrt::cpu::Act::kGelu;
    else if (act == "gelu_tanh") st->act = bertrt::cpu::Act::kGeluTanh;
    else if (act == "silu") st->act = bertrt::cpu::Act::kSilu;
    else if (act != "none") throw_error(env, Code::kInvalidArgument, "Linear: activation must be 'none', 'gelu', 'gelu_tanh' or 'silu', got '" + act + "'");
    bertrt::cpu::kernels().pack_weights(w.data(), st->n, st->k, &st->w);
    st_ = std::move(st);
  }

 private:
  struct State {
    bertrt::cpu::PackedMatrix w;
    std::vector<float> bias;
    bertrt::cpu::Act act = bertrt::cpu::Act::kNone;
    int n = 0, k = 0;
  };

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsNumber()) throw_error(env, Code::kInvalidArgument, "run(x, threads)");
    auto x = std::make_shared<std::vector<float>>(copy_float32(env, info[0], "x"));
    const size_t k = static_cast<size_t>(st_->k), n = static_cast<size_t>(st_->n);
    if (x->size() % k != 0) throw_error(env, Code::kInvalidArgument, "Linear.run: x must hold whole rows of in_features floats");
    const size_t rows = x->size() / k;
    if (rows > (size_t(1) << 31) / n) throw_error(env, Code::kInvalidArgument, "Linear.run: too many rows for one call");
    const int nth = info[1].As<Napi::Number>().Int32Value();
    if (nth < 0 || nth > 1024) throw_error(env, Code::kInvalidArgument, "threads must be in [0, 1024]");
    std::shared_ptr<const State> st = st_;
    Napi::Float32Array out = Napi::Float32Array::New(env, rows * n);
    if (rows == 0) return submit_filling(env, out, [](bertrt::ThreadPool&, float*) { return Status::Ok(); });
    return submit_filling(env, out, [st, x, rows, nth](bertrt::ThreadPool& pool, float* out_ptr) {
      bertrt::cpu::GemmArgs g;
      g.a = x->data(), g.lda = st->k, g.w = &st->w, g.m = static_cast<int>(rows);
      g.bias = st->bias.empty() ? nullptr : st->bias.data(), g.act = st->act;
      g.c = out_ptr, g.ldc = st->n;
      bertrt::cpu::kernels().gemm(g, pool, nth);
      return Status::Ok();
    });
  }
  Napi::Value In(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st_->k); }
  Napi::Value Out(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st_->n); }

  std::shared_ptr<const State> st_;
};

// ----------------------------------------------------------------------------------------- OnnxEngine
// An ONNX graph run by onnxruntime (native/onnx): the same packed batches in and hidden states (or a graph's pooled
// output) out as Engine, on the same job thread.
class OnnxEngine : public Napi::ObjectWrap<OnnxEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "OnnxEngine",
                       {InstanceMethod<&OnnxEngine::Load>("load"), InstanceMethod<&OnnxEngine::Run>("run"),
                        InstanceMethod<&OnnxEngine::Close>("close"), InstanceAccessor<&OnnxEngine::Pooled>("pooled"),
                        InstanceAccessor<&OnnxEngine::Width>("width"), InstanceAccessor<&OnnxEngine::TokenTypes>("tokenTypes"),
                        InstanceAccessor<&OnnxEngine::Output>("output"), InstanceAccessor<&OnnxEngine::Signature>("signature"),
                        InstanceAccessor<&OnnxEngine::Library>("library"), InstanceAccessor<&OnnxEngine::Version>("version")});
  }
  explicit OnnxEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<OnnxEngine>(info) {}

 private:
  // load(path, { library, threads, padId, widthHint, output }) -> Promise<void>
  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject())
      throw_error(env, Code::kInvalidArgument, "load(path, { library, threads, padId, widthHint, output })");
    if (model_ || loading_) throw_error(env, Code::kInvalidArgument, "engine already loaded");
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    Napi::Object o = info[1].As<Napi::Object>();
    bertrt::OnnxOptions opts;
    if (o.Get("library").IsString()) opts.library = o.Get("library").As<Napi::String>().Utf8Value();
    if (o.Get("output").IsString()) opts.output = o.Get("output").As<Napi::String>().Utf8Value();
    opts.threads = get_int(o, "threads", false, 0);
    opts.pad_id = get_int(o, "padId", false, 0);
    opts.width_hint = get_int(o, "widthHint", false, 0);
    if (opts.threads < 0 || opts.threads > 1024) throw_error(env, Code::kInvalidArgument, "threads must be in [0, 1024]");
    if (opts.width_hint < 0 || opts.width_hint > 65536) throw_error(env, Code::kInvalidArgument, "widthHint must be in [0, 65536]");
    loading_ = true;
    auto slot = std::make_shared<std::unique_ptr<bertrt::OnnxModel>>();
    auto job = std::make_unique<Job>(env);
    auto self_ref = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Value()));
    job->cleanup = [this, self_ref] {
      loading_ = false;
      self_ref->Reset();
    };
    job->settle = [this, slot](Napi::Env e) -> Napi::Value {
      model_ = std::shared_ptr<const bertrt::OnnxModel>(std::move(*slot));
      return e.Undefined();
    };
    return submit(env, std::move(job), [path, opts, slot](bertrt::ThreadPool&) { return bertrt::OnnxModel::load(path, opts, slot.get()); });
  }

  // run(ids, typeIds | null, cuSeqlens) -> Promise<Float32Array>: [tokens × width], or [sequences × width] when pooled
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!model_) throw_error(env, Code::kClosed, closed_ ? "engine is closed" : "engine is not loaded");
    BatchArgs a = batch_args(info);
    const std::vector<int32_t>& cu = *a.cu;
    if (cu.size() < 2) throw_error(env, Code::kInvalidArgument, "cuSeqlens must hold at least two elements");
    for (size_t i = 1; i < cu.size(); ++i)
      if (cu[i] <= cu[i - 1]) throw_error(env, Code::kInvalidArgument, "cuSeqlens must rise: every sequence holds one token or more");
    if (cu[0] != 0 || static_cast<size_t>(cu.back()) != a.ids->size())
      throw_error(env, Code::kInvalidArgument, "cuSeqlens must start at 0 and end at the token count");
    const size_t width = static_cast<size_t>(model_->width());
    const size_t rows = model_->pooled() ? cu.size() - 1 : a.ids->size();
    if (a.ids->size() > (size_t(1) << 31) / width) throw_error(env, Code::kInvalidArgument, "batch too large");
    std::shared_ptr<const bertrt::OnnxModel> model = model_;
    Napi::Float32Array out = Napi::Float32Array::New(env, rows * width);
    return submit_filling(env, out, [model, a](bertrt::ThreadPool&, float* out_ptr) { return model->run(a.view(), out_ptr); });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    model_.reset();
    closed_ = true;
    return info.Env().Undefined();
  }
  Napi::Value Pooled(const Napi::CallbackInfo& info) { return model_ ? Napi::Boolean::New(info.Env(), model_->pooled()) : info.Env().Undefined(); }
  Napi::Value Width(const Napi::CallbackInfo& info) { return model_ ? Napi::Number::New(info.Env(), model_->width()) : info.Env().Undefined(); }
  Napi::Value TokenTypes(const Napi::CallbackInfo& info) {
    return model_ ? Napi::Boolean::New(info.Env(), model_->takes_token_types()) : info.Env().Undefined();
  }
  Napi::Value Output(const Napi::CallbackInfo& info) { return model_ ? Napi::String::New(info.Env(), model_->output_name()) : info.Env().Undefined(); }
  Napi::Value Signature(const Napi::CallbackInfo& info) { return model_ ? Napi::String::New(info.Env(), model_->signature()) : info.Env().Undefined(); }
  Napi::Value Library(const Napi::CallbackInfo& info) { return model_ ? Napi::String::New(info.Env(), model_->library().library) : info.Env().Undefined(); }
  Napi::Value Version(const Napi::CallbackInfo& info) { return model_ ? Napi::String::New(info.Env(), model_->library().version) : info.Env().Undefined(); }

  std::shared_ptr<const bertrt::OnnxModel> model_;
  bool loading_ = false;
  bool closed_ = false;
};

// onnxInfo(library) -> { available, library, version, apiVersion, reason }: opens onnxruntime (once per path).
Napi::Value OnnxInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string lib = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const bertrt::OrtLibraryInfo r = bertrt::ort_library_info(lib);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", r.available);
  o.Set("library", r.library);
  o.Set("version", r.version);
  o.Set("apiVersion", r.api_version);
  o.Set("reason", r.reason);
  return o;
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass(cls)");
  info.Env().GetInstanceData<AddonData>()->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bertrt::CpuFeatures& f = bertrt::cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", BERTRT_VERSION);
  o.Set("isa", bertrt::cpu::kernels().name);
  Napi::Array isas = Napi::Array::New(env);
  uint32_t i = 0;
  for (const std::string& n : bertrt::cpu::runnable_isas()) isas.Set(i++, n);
  o.Set("isas", isas);
  o.Set("int8Isa", bertrt::cpu::kernels_s8().name);
  Napi::Array int8_isas = Napi::Array::New(env);
  i = 0;
  for (const std::string& n : bertrt::cpu::runnable_s8_isas()) int8_isas.Set(i++, n);
  o.Set("int8Isas", int8_isas);
  o.Set("bf16", bertrt::cpu::kernels_bf16() != nullptr);
  o.Set("cpu", f.brand);
  o.Set("cpuFlags", f.flags());
  o.Set("physicalCores", bertrt::physical_core_count());
  o.Set("usableCpus", bertrt::usable_cpu_count());
  o.Set("threads", bertrt::Runtime::get().threads());
#if defined(__clang__)
  o.Set("compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
  o.Set("compiler", "gcc " __VERSION__);
#else
  o.Set("compiler", "unknown");
#endif
  return o;
}

// microbench({ op, isa?, m, n, k, gelu?, batch, len, heads, headDim, rows, hidden, minSeconds? }) -> Promise<result>
// Runs one kernel benchmark as a job on the engine's pool (see native/bench/microbench.h).
Napi::Value Microbench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw_error(env, Code::kInvalidArgument, "microbench(spec)");
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Value opv = o.Get("op");
  if (!opv.IsString()) throw_error(env, Code::kInvalidArgument, "microbench: op must be a string");
  const std::string op = opv.As<Napi::String>().Utf8Value();
  const std::string isa = o.Get("isa").IsString() ? o.Get("isa").As<Napi::String>().Utf8Value() : "";
  if (!isa.empty() && !bertrt::cpu::kernels_for(isa)) throw_error(env, Code::kUnsupported, "ISA '" + isa + "' cannot run here");
  auto num = [&](const char* k, int32_t lo, int32_t hi, int32_t dflt) {
    int32_t v = get_int(o, k, false, dflt);
    if (v < lo || v > hi) throw_error(env, Code::kInvalidArgument, std::string("microbench: ") + k + " out of range");
    return v;
  };
  const double min_s = o.Get("minSeconds").IsNumber() ? o.Get("minSeconds").As<Napi::Number>().DoubleValue() : 0.2;
  if (!(min_s >= 0 && min_s <= 60)) throw_error(env, Code::kInvalidArgument, "microbench: minSeconds out of range");
  std::function<bertrt::bench::Result(bertrt::ThreadPool&)> fn;
  if (op == "peak") {
    fn = [](bertrt::ThreadPool& pool) { return bertrt::bench::fp32_peak(pool, pool.size()); };
  } else if (op == "peak-int8") {
    fn = [](bertrt::ThreadPool& pool) { return bertrt::bench::s8_peak(pool, pool.size()); };
  } else if (op == "gemm_s8") {
    int m = num("m", 1, 65536, 0), n = num("n", 1, 65536, 0), k = num("k", 1, 65536, 0);
    bool gelu = o.Get("gelu").ToBoolean();
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::gemm_s8(pool, isa, m, n, k, gelu, min_s); };
  } else if (op == "gemm_bf16") {
    int m = num("m", 1, 65536, 0), n = num("n", 1, 65536, 0), k = num("k", 1, 65536, 0);
    bool gelu = o.Get("gelu").ToBoolean();
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::gemm_bf16(pool, m, n, k, gelu, min_s); };
  } else if (op == "quantize") {
    int r = num("rows", 1, 1 << 20, 0), h = num("hidden", 1, 65536, 0);
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::quantize(pool, isa, r, h, min_s); };
  } else if (op == "gemm") {
    int m = num("m", 1, 65536, 0), n = num("n", 1, 65536, 0), k = num("k", 1, 65536, 0);
    bool gelu = o.Get("gelu").ToBoolean(), halves = o.Get("halves").ToBoolean();
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::gemm(pool, isa, m, n, k, gelu, halves, min_s); };
  } else if (op == "attention" || op == "attention_bf16") {
    int b = num("batch", 1, 4096, 0), l = num("len", 1, 4096, 0), h = num("heads", 1, 256, 0), d = num("headDim", 1, 1024, 0);
    const bool bf16 = op == "attention_bf16";
    if (bf16 && !bertrt::cpu::kernels_bf16()) throw_error(env, Code::kUnsupported, "attention_bf16 needs AVX512-BF16");
    const int w = o.Has("window") ? num("window", 0, 1 << 20, 0) : 0;  // ModernBERT's local layers: |i - j| <= window
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::attention(pool, isa, b, l, h, d, min_s, bf16, w); };
  } else if (op == "layernorm") {
    int r = num("rows", 1, 1 << 20, 0), h = num("hidden", 1, 65536, 0);
    fn = [=](bertrt::ThreadPool& pool) { return bertrt::bench::layernorm(pool, isa, r, h, min_s); };
  } else {
    throw_error(env, Code::kInvalidArgument, "microbench: unknown op '" + op + "'");
  }
  auto result = std::make_shared<bertrt::bench::Result>();
  auto job = std::make_unique<Job>(env);
  job->settle = [result](Napi::Env e) -> Napi::Value {
    Napi::Object r = Napi::Object::New(e);
    r.Set("op", result->op);
    r.Set("isa", result->isa);
    r.Set("shape", result->shape);
    r.Set("seconds", result->seconds);
    r.Set("gflops", result->gflops);
    r.Set("gbps", result->gbps);
    return r;
  };
  return submit(env, std::move(job), [fn, result](bertrt::ThreadPool& pool) {
    *result = fn(pool);
    return Status::Ok();
  });
}

// cudaInfo(library) -> { available, library, device, reason }: loads and probes the CUDA backend library.
Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string lib = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const bertrt::CudaInfo c = bertrt::cuda_info(lib);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", c.available);
  o.Set("library", c.library);
  o.Set("device", c.device);
  o.Set("reason", c.reason);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function engine = Engine::Define(env);
  data->engine_ctor = Napi::Persistent(engine);
  exports.Set("Engine", engine);
  exports.Set("setErrorClass", Napi::Function::New<SetErrorClass>(env, "setErrorClass"));
  exports.Set("info", Napi::Function::New<Info>(env, "info"));
  exports.Set("cudaInfo", Napi::Function::New<CudaInfo>(env, "cudaInfo"));
  exports.Set("OnnxEngine", OnnxEngine::Define(env));
  exports.Set("Linear", Linear::Define(env));
  exports.Set("onnxInfo", Napi::Function::New<OnnxInfo>(env, "onnxInfo"));
  exports.Set("microbench", Napi::Function::New<Microbench>(env, "microbench"));
  return exports;
}

}  // namespace

NODE_API_MODULE(bertrt, Init)
