// The ONNX backend over onnxruntime's C API (see onnx_model.h). Compiled only where the build found onnxruntime's
// headers (scripts/get-onnxruntime-headers.mjs); the library itself is dlopen'ed on first use.
#include "onnx_model.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "../core/knobs.h"
#include "../core/thread_pool.h"
#include "../model/weights.h"
#include "onnxruntime_c_api.h"

namespace bertrt {
namespace {

struct Library {
  OrtLibraryInfo info;
  const OrtApi* api = nullptr;
  OrtEnv* env = nullptr;
};

// One entry per library path, kept for the life of the process: onnxruntime is never unloaded (its threads and
// its environment outlive any one model), so a pointer into the map stays valid.
std::mutex g_mu;
std::map<std::string, Library>& libraries() {
  static auto* m = new std::map<std::string, Library>();
  return *m;
}

const Library& open_library(const std::string& requested) {
  std::lock_guard<std::mutex> lock(g_mu);
  const std::string path = requested.empty() ? "libonnxruntime.so.1" : requested;
  auto it = libraries().find(path);
  if (it != libraries().end()) return it->second;
  Library& lib = libraries()[path];
  lib.info.library = path;
  lib.info.api_version = ORT_API_VERSION;
  dlerror();
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    lib.info.reason = "onnxruntime could not be loaded from " + path + ": " + (e ? e : "dlopen failed");
    return lib;
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBase>(dlsym(h, "OrtGetApiBase"));
  if (!get_base) {
    lib.info.reason = path + " is not onnxruntime (it has no OrtGetApiBase)";
    return lib;
  }
  const OrtApiBase* base = get_base();
  lib.info.version = base && base->GetVersionString ? base->GetVersionString() : "?";
  lib.api = base ? base->GetApi(ORT_API_VERSION) : nullptr;
  if (!lib.api) {
    lib.info.reason = "onnxruntime " + lib.info.version + " at " + path + " does not serve API version " +
                      std::to_string(ORT_API_VERSION) + " (1." + std::to_string(ORT_API_VERSION) + " or newer is needed)";
    return lib;
  }
  OrtStatus* st = lib.api->CreateEnv(ORT_LOGGING_LEVEL_FATAL, "bertrt", &lib.env);
  if (st) {
    lib.info.reason = std::string("onnxruntime's CreateEnv failed: ") + lib.api->GetErrorMessage(st);
    lib.api->ReleaseStatus(st);
    lib.api = nullptr;
    return lib;
  }
  lib.info.available = true;
  return lib;
}

const char* type_name(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return "bfloat16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    default: return "another type";
  }
}

enum class Feed { kIds, kMask, kTypes };

struct Port {
  std::string name;
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;  // -1: symbolic
  Feed feed = Feed::kIds;
};

class Onnx final : public OnnxModel {
 public:
  Onnx(const Library& lib) : lib_(lib), api_(lib.api) {}
  ~Onnx() override {
    if (session_) api_->ReleaseSession(session_);
    if (mem_) api_->ReleaseMemoryInfo(mem_);
  }

  // OrtStatus to Status, releasing it. ORT's codes map onto ours where one fits; the message is ORT's own.
  Status check(OrtStatus* st, const std::string& what) const {
    if (!st) return Status::Ok();
    const OrtErrorCode c = api_->GetErrorCode(st);
    std::string msg = what + ": " + api_->GetErrorMessage(st);
    api_->ReleaseStatus(st);
    Code code = Code::kInternal;
    if (c == ORT_NO_SUCHFILE) code = Code::kIo;
    else if (c == ORT_INVALID_PROTOBUF || c == ORT_INVALID_GRAPH || c == ORT_NO_MODEL) code = Code::kModelFormat;
    else if (c == ORT_NOT_IMPLEMENTED) code = Code::kUnsupported;
    else if (c == ORT_INVALID_ARGUMENT) code = Code::kInvalidArgument;
    return Status(code, msg);
  }

  Status init(const std::string& path, const OnnxOptions& o) {
    path_ = path;
    OrtSessionOptions* so = nullptr;
    BERTRT_RETURN_IF_ERROR(check(api_->CreateSessionOptions(&so), "CreateSessionOptions"));
    Status st = configure_and_open(so, path, o);
    api_->ReleaseSessionOptions(so);
    BERTRT_RETURN_IF_ERROR(st);
    BERTRT_RETURN_IF_ERROR(check(api_->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &mem_), "CreateCpuMemoryInfo"));
    BERTRT_RETURN_IF_ERROR(discover(o));
    return Status::Ok();
  }

  Status configure_and_open(OrtSessionOptions* so, const std::string& path, const OnnxOptions& o) {
    const int threads = o.threads > 0 ? o.threads : usable_cpu_count();
    BERTRT_RETURN_IF_ERROR(check(api_->SetIntraOpNumThreads(so, threads), "SetIntraOpNumThreads"));
    BERTRT_RETURN_IF_ERROR(check(api_->SetInterOpNumThreads(so, 1), "SetInterOpNumThreads"));
    BERTRT_RETURN_IF_ERROR(check(api_->SetSessionExecutionMode(so, ORT_SEQUENTIAL), "SetSessionExecutionMode"));
    BERTRT_RETURN_IF_ERROR(check(api_->SetSessionGraphOptimizationLevel(so, ORT_ENABLE_ALL), "SetSessionGraphOptimizationLevel"));
    // workers spin inside a run (as onnxruntime-node's do) but stop when it returns: nothing burns the cores
    // between calls, and the event loop's thread never competes with a spinning worker
    BERTRT_RETURN_IF_ERROR(check(api_->AddSessionConfigEntry(so, "session.force_spinning_stop", "1"), "AddSessionConfigEntry"));
    BERTRT_RETURN_IF_ERROR(check(api_->AddSessionConfigEntry(so, "session.inter_op.allow_spinning", "0"), "AddSessionConfigEntry"));
    // the arena stays (onnxruntime's default): without it every run maps and faults in its activations afresh (quick
    // runs of bench/onnx.ts were a few percent slower, within this machine's noise). It holds what the largest batch
    // needed, and batches are bounded by the caller (the server's max batch tokens, Embedder's 16,384 tokens per
    // call); BERTRT_ONNX_ARENA=0 turns it off.
    if (!LoadKnobs::from_env().onnx_arena) BERTRT_RETURN_IF_ERROR(check(api_->DisableCpuMemArena(so), "DisableCpuMemArena"));
    Status st = check(api_->CreateSession(lib_.env, path.c_str(), so, &session_), path);
    // onnxruntime says ORT_FAIL for a file it cannot take (an IR version or opset past it, a broken graph): the
    // model's problem, not ours
    if (st.code() == Code::kInternal) return Status(Code::kModelFormat, st.message());
    return st;
  }

  Status port_of(OrtTypeInfo* ti, Port* p) const {
    ONNXType kind;
    BERTRT_RETURN_IF_ERROR(check(api_->GetOnnxTypeFromTypeInfo(ti, &kind), "GetOnnxTypeFromTypeInfo"));
    if (kind != ONNX_TYPE_TENSOR) return Status(Code::kUnsupported, path_ + ": '" + p->name + "' is not a tensor");
    const OrtTensorTypeAndShapeInfo* tsi = nullptr;
    BERTRT_RETURN_IF_ERROR(check(api_->CastTypeInfoToTensorInfo(ti, &tsi), "CastTypeInfoToTensorInfo"));
    BERTRT_RETURN_IF_ERROR(check(api_->GetTensorElementType(tsi, &p->type), "GetTensorElementType"));
    size_t n = 0;
    BERTRT_RETURN_IF_ERROR(check(api_->GetDimensionsCount(tsi, &n), "GetDimensionsCount"));
    if (n > 8) return Status(Code::kModelFormat, path_ + ": '" + p->name + "' has " + std::to_string(n) + " dimensions");
    p->dims.assign(n, -1);
    return check(api_->GetDimensions(tsi, p->dims.data(), n), "GetDimensions");
  }

  std::string port_str(const Port& p) const {
    std::string s = p.name + ":" + type_name(p.type) + "[";
    for (size_t i = 0; i < p.dims.size(); ++i) s += (i ? "," : "") + (p.dims[i] < 0 ? std::string("?") : std::to_string(p.dims[i]));
    return s + "]";
  }

  Status discover(const OnnxOptions& o) {
    OrtAllocator* alloc = nullptr;
    BERTRT_RETURN_IF_ERROR(check(api_->GetAllocatorWithDefaultOptions(&alloc), "GetAllocatorWithDefaultOptions"));
    // input or output number i: its name, element type and dimensions
    auto port_at = [&](bool input, size_t i, Port* p) -> Status {
      char* s = nullptr;
      BERTRT_RETURN_IF_ERROR(check(input ? api_->SessionGetInputName(session_, i, alloc, &s) : api_->SessionGetOutputName(session_, i, alloc, &s), "name"));
      p->name = s ? s : "";
      if (s) (void)check(api_->AllocatorFree(alloc, s), "AllocatorFree");
      OrtTypeInfo* ti = nullptr;
      BERTRT_RETURN_IF_ERROR(check(input ? api_->SessionGetInputTypeInfo(session_, i, &ti) : api_->SessionGetOutputTypeInfo(session_, i, &ti), "type info"));
      Status st = port_of(ti, p);
      api_->ReleaseTypeInfo(ti);
      return st;
    };
    size_t n_in = 0, n_out = 0;
    BERTRT_RETURN_IF_ERROR(check(api_->SessionGetInputCount(session_, &n_in), "SessionGetInputCount"));
    BERTRT_RETURN_IF_ERROR(check(api_->SessionGetOutputCount(session_, &n_out), "SessionGetOutputCount"));
    if (n_in > 64 || n_out > 256) return Status(Code::kModelFormat, path_ + ": implausibly many inputs or outputs");
    bool have_ids = false;
    for (size_t i = 0; i < n_in; ++i) {
      Port p;
      BERTRT_RETURN_IF_ERROR(port_at(true, i, &p));
      if (p.name == "input_ids") p.feed = Feed::kIds, have_ids = true;
      else if (p.name == "attention_mask") p.feed = Feed::kMask;
      else if (p.name == "token_type_ids") p.feed = Feed::kTypes, token_types_ = true;
      else return Status(Code::kUnsupported, path_ + ": input '" + p.name + "' is not one bertrt feeds (input_ids, attention_mask, token_type_ids)");
      if (p.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 && p.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32)
        return Status(Code::kUnsupported, path_ + ": input " + port_str(p) + " must be int64 or int32");
      if (p.dims.size() != 2) return Status(Code::kUnsupported, path_ + ": input " + port_str(p) + " must be [batch, sequence]");
      inputs_.push_back(p);
    }
    if (!have_ids) return Status(Code::kUnsupported, path_ + ": the graph has no input_ids input");
    std::vector<Port> outs;
    for (size_t i = 0; i < n_out; ++i) {
      Port p;
      if (port_at(false, i, &p).ok()) outs.push_back(p);  // a non-tensor output is simply never read
    }
    auto find = [&](const std::string& n) { return std::find_if(outs.begin(), outs.end(), [&](const Port& p) { return p.name == n; }); };
    auto chosen = outs.end();
    if (!o.output.empty()) {
      chosen = find(o.output);
      if (chosen == outs.end()) return Status(Code::kInvalidArgument, path_ + ": the graph has no output '" + o.output + "'");
    } else {
      for (const char* n : {"sentence_embedding", "last_hidden_state", "token_embeddings"})
        if ((chosen = find(n)) != outs.end()) break;
      if (chosen == outs.end() && outs.size() == 1) chosen = outs.begin();
      if (chosen == outs.end()) {
        std::string names;
        for (const Port& p : outs) names += (names.empty() ? "" : ", ") + p.name;
        return Status(Code::kUnsupported, path_ + ": no sentence_embedding or last_hidden_state output among " + names + " (name one with the `output` option)");
      }
    }
    output_ = *chosen;
    if (output_.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT && output_.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16)
      return Status(Code::kUnsupported, path_ + ": output " + port_str(output_) + " must be float32 or float16");
    if (output_.dims.size() == 3) pooled_ = false;
    else if (output_.dims.size() == 2) pooled_ = true;
    else return Status(Code::kUnsupported, path_ + ": output " + port_str(output_) + " must be [batch, sequence, width] or [batch, width]");
    // a pooled output may pass a Dense layer: only the graph knows its width when it leaves it symbolic
    width_ = output_.dims.back() > 0 ? output_.dims.back() : pooled_ ? 0 : o.width_hint;
    if (width_ <= 0) BERTRT_RETURN_IF_ERROR(probe_width());
    if (width_ <= 0 || width_ > 65536) return Status(Code::kModelFormat, path_ + ": output width " + std::to_string(width_) + " is out of range");
    if (o.width_hint > 0 && o.width_hint != width_ && !pooled_)
      return Status(Code::kShape, path_ + ": output " + port_str(output_) + " is " + std::to_string(width_) + " wide but config.json says hidden_size " + std::to_string(o.width_hint));
    pad_id_ = o.pad_id;
    signature_.clear();
    for (const Port& p : inputs_) signature_ += (signature_.empty() ? "" : ", ") + port_str(p);
    signature_ += " -> " + port_str(output_);
    return Status::Ok();
  }

  // The output's width is symbolic and nothing says it: one token through the graph tells.
  Status probe_width() {
    const int32_t ids[1] = {0}, cu[2] = {0, 1};
    BatchView b;
    b.ids = ids;
    b.cu_seqlens = cu;
    b.n_seqs = 1;
    b.tokens = 1;
    OrtValue* v = nullptr;
    BERTRT_RETURN_IF_ERROR(run_graph(b, 1, nullptr, &v));
    OrtTensorTypeAndShapeInfo* tsi = nullptr;
    Status st = check(api_->GetTensorTypeAndShape(v, &tsi), "GetTensorTypeAndShape");
    if (st.ok()) {
      size_t n = 0;
      std::vector<int64_t> d(8);
      st = check(api_->GetDimensionsCount(tsi, &n), "GetDimensionsCount");
      if (st.ok() && n >= 1 && n <= 8) st = check(api_->GetDimensions(tsi, d.data(), n), "GetDimensions");
      if (st.ok() && n >= 1) width_ = d[n - 1];
      api_->ReleaseTensorTypeAndShapeInfo(tsi);
    }
    api_->ReleaseValue(v);
    return st;
  }

  // Pads the packed batch to [n_seqs][L], runs the graph, and leaves the chosen output in *out: the caller's
  // pre-allocated tensor over `dst` when given (its shape must be the output's exactly), else one onnxruntime allocates.
  Status run_graph(const BatchView& b, int L, float* dst, OrtValue** out) const {
    const size_t B = static_cast<size_t>(b.n_seqs), cells = B * static_cast<size_t>(L);
    std::vector<int64_t> ids64, mask64, types64;
    std::vector<int32_t> ids32, mask32, types32;
    std::vector<OrtValue*> values;
    std::vector<const char*> names;
    Status st;
    const int64_t shape[2] = {static_cast<int64_t>(B), L};
    for (const Port& p : inputs_) {
      const bool wide = p.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
      std::vector<int64_t>& v64 = p.feed == Feed::kIds ? ids64 : p.feed == Feed::kMask ? mask64 : types64;
      std::vector<int32_t>& v32 = p.feed == Feed::kIds ? ids32 : p.feed == Feed::kMask ? mask32 : types32;
      const int64_t pad = p.feed == Feed::kIds ? pad_id_ : 0;
      if (wide) v64.assign(cells, pad);
      else v32.assign(cells, static_cast<int32_t>(pad));
      for (size_t s = 0; s < B; ++s) {
        const int begin = b.cu_seqlens[s], len = b.cu_seqlens[s + 1] - begin;
        for (int t = 0; t < len; ++t) {
          // tokens past a sequence's keys (BatchView::key_lens) are what attention_mask 0 means to the graph
          const int64_t x = p.feed == Feed::kIds    ? b.ids[begin + t]
                            : p.feed == Feed::kMask ? (b.key_lens && t >= b.key_lens[s] ? 0 : 1)
                                                    : (b.type_ids ? b.type_ids[begin + t] : 0);
          if (wide) v64[s * L + t] = x;
          else v32[s * L + t] = static_cast<int32_t>(x);
        }
      }
      OrtValue* v = nullptr;
      void* data = wide ? static_cast<void*>(v64.data()) : static_cast<void*>(v32.data());
      st = check(api_->CreateTensorWithDataAsOrtValue(mem_, data, cells * (wide ? 8 : 4), shape, 2, p.type, &v), "CreateTensorWithDataAsOrtValue");
      if (!st.ok()) break;
      values.push_back(v);
      names.push_back(p.name.c_str());
    }
    OrtValue* result = nullptr;
    if (st.ok() && dst) {
      const int64_t hshape[3] = {static_cast<int64_t>(B), L, width_}, pshape[2] = {static_cast<int64_t>(B), width_};
      const size_t floats = B * static_cast<size_t>(pooled_ ? 1 : L) * static_cast<size_t>(width_);
      st = check(api_->CreateTensorWithDataAsOrtValue(mem_, dst, floats * sizeof(float), pooled_ ? pshape : hshape, pooled_ ? 2 : 3,
                                                      ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &result),
                 "CreateTensorWithDataAsOrtValue");
    }
    if (st.ok()) {
      const char* oname = output_.name.c_str();
      st = check(api_->Run(session_, nullptr, names.data(), values.data(), values.size(), &oname, 1, &result), "onnxruntime Run");
    }
    for (OrtValue* v : values) api_->ReleaseValue(v);
    if (!st.ok()) {
      if (result) api_->ReleaseValue(result);
      return st;
    }
    *out = result;
    return Status::Ok();
  }

  Status run(const BatchView& b, float* out) const override {
    if (b.n_seqs < 1 || b.tokens < 1) return Status(Code::kInvalidArgument, "a batch needs at least one sequence of one token");
    const int n = b.n_seqs;
    for (int s = 0; s < n; ++s) {
      if (b.cu_seqlens[s] < 0 || b.cu_seqlens[s + 1] - b.cu_seqlens[s] < 1 || b.cu_seqlens[s + 1] > b.tokens)
        return Status(Code::kInvalidArgument, "cuSeqlens must rise from 0 to the token count, one token or more per sequence");
    }
    if (b.cu_seqlens[0] != 0 || b.cu_seqlens[n] != b.tokens) return Status(Code::kInvalidArgument, "cuSeqlens must start at 0 and end at the token count");
    auto len = [&](int s) { return b.cu_seqlens[s + 1] - b.cu_seqlens[s]; };
    // A graph pays for every padded cell, so the sequences run shortest first in runs of similar lengths: a run
    // grows while its padded cells stay within 30% above its real tokens (a batch of one length is one run).
    std::vector<int> order(n);
    for (int s = 0; s < n; ++s) order[s] = s;
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return len(x) < len(y); });
    for (int i = 0; i < n;) {
      int j = i, L = 0;
      size_t real = 0;
      while (j < n) {
        const int l = len(order[j]);  // the longest so far: sorted
        if (j > i && static_cast<size_t>(j - i + 1) * l * 10 > (real + l) * 13) break;
        real += l;
        L = l;
        ++j;
      }
      BERTRT_RETURN_IF_ERROR(run_part(b, order, i, j, L, out));
      i = j;
    }
    return Status::Ok();
  }

  // Sequences order[i..j) (lengths <= L) as one padded graph run; their rows land in `out` where the packed batch
  // has them (pooled: row s for sequence s).
  Status run_part(const BatchView& b, const std::vector<int>& order, int i, int j, int L, float* out) const {
    const size_t B = static_cast<size_t>(j - i), W = static_cast<size_t>(width_);
    if (B * static_cast<size_t>(L) > (size_t(1) << 31) / W) return Status(Code::kInvalidArgument, "batch too large once padded");
    // the part as a packed batch of its own
    std::vector<int32_t> ids, types, keys, cu(1, 0);
    bool in_place = true;  // the part is the whole batch, in order, unpadded: the graph writes the caller's array
    for (int k = i; k < j; ++k) {
      const int s = order[k], begin = b.cu_seqlens[s], l = b.cu_seqlens[s + 1] - begin;
      ids.insert(ids.end(), b.ids + begin, b.ids + begin + l);
      if (b.type_ids) types.insert(types.end(), b.type_ids + begin, b.type_ids + begin + l);
      if (b.key_lens) keys.push_back(std::clamp(b.key_lens[s], 1, l));
      cu.push_back(cu.back() + l);
      in_place = in_place && s == k && (pooled_ || l == L);
    }
    in_place = in_place && i == 0 && j == b.n_seqs;
    BatchView part;
    part.ids = ids.data();
    part.type_ids = b.type_ids ? types.data() : nullptr;
    part.cu_seqlens = cu.data();
    part.key_lens = b.key_lens ? keys.data() : nullptr;
    part.n_seqs = static_cast<int>(B);
    part.tokens = cu.back();
    const bool f32 = output_.type == ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    const bool direct = f32 && in_place;
    std::unique_ptr<float[]> scratch;  // every element is written by the graph: no zero-fill
    float* dst = nullptr;
    if (f32) {
      if (direct) {
        dst = out;
      } else {
        scratch.reset(new float[B * (pooled_ ? 1 : L) * W]);
        dst = scratch.get();
      }
    }
    OrtValue* v = nullptr;
    BERTRT_RETURN_IF_ERROR(run_graph(part, L, dst, &v));
    Status st;
    const void* src = dst;
    if (!f32) {
      void* p = nullptr;
      st = check(api_->GetTensorMutableData(v, &p), "GetTensorMutableData");
      src = p;
    }
    if (st.ok() && !direct) {
      // row t of part sequence k: [k][t] of the padded [B][L][W] (pooled: [k] of [B][W]) -> its place in out
      for (size_t k = 0; k < B; ++k) {
        const int s = order[i + k], rows = pooled_ ? 1 : b.cu_seqlens[s + 1] - b.cu_seqlens[s];
        const size_t to0 = pooled_ ? static_cast<size_t>(s) : static_cast<size_t>(b.cu_seqlens[s]), from0 = pooled_ ? k : k * L;
        for (int t = 0; t < rows; ++t) {
          float* o = out + (to0 + t) * W;
          if (f32) {
            std::memcpy(o, static_cast<const float*>(src) + (from0 + t) * W, W * sizeof(float));
          } else {
            const uint16_t* h = static_cast<const uint16_t*>(src) + (from0 + t) * W;
            for (size_t c = 0; c < W; ++c) o[c] = f16_to_f32(h[c]);
          }
        }
      }
    }
    api_->ReleaseValue(v);
    return st;
  }

  bool pooled() const override { return pooled_; }
  int width() const override { return static_cast<int>(width_); }
  bool takes_token_types() const override { return token_types_; }
  const std::string& output_name() const override { return output_.name; }
  const std::string& signature() const override { return signature_; }
  const OrtLibraryInfo& library() const override { return lib_.info; }

 private:
  const Library& lib_;
  const OrtApi* api_;
  OrtSession* session_ = nullptr;
  OrtMemoryInfo* mem_ = nullptr;
  std::string path_, signature_;
  std::vector<Port> inputs_;
  Port output_;
  bool pooled_ = false, token_types_ = false;
  int64_t width_ = 0;
  int64_t pad_id_ = 0;
};

}  // namespace

OrtLibraryInfo ort_library_info(const std::string& library) { return open_library(library).info; }

Status OnnxModel::load(const std::string& path, const OnnxOptions& options, std::unique_ptr<OnnxModel>* out) {
  const Library& lib = open_library(options.library);
  if (!lib.info.available) return Status(Code::kUnsupported, lib.info.reason);
  auto m = std::make_unique<Onnx>(lib);
  BERTRT_RETURN_IF_ERROR(m->init(path, options));
  *out = std::move(m);
  return Status::Ok();
}

}  // namespace bertrt
