#include "cuda_backend.h"

#include <dlfcn.h>

#include <mutex>

#include "../../native/cuda/bertrt_cuda.h"
#include "internal.h"
#include "weights.h"

namespace bertrt {
namespace {

// The library's entry points; loaded once and kept for the life of the process (unloading a CUDA runtime while
// the driver may still call into it is not safe).
struct CudaLib {
  std::string path;
  std::string error;
  bertrt_cuda_abi_fn abi = nullptr;
  bertrt_cuda_probe_fn probe = nullptr;
  bertrt_cuda_create_fn create = nullptr;
  bertrt_cuda_forward_fn forward = nullptr;
  bertrt_cuda_destroy_fn destroy = nullptr;
  std::string device;  // probe result
  bool usable = false;
};

const CudaLib& cuda_lib(const std::string& path) {
  static std::mutex mu;
  static std::vector<std::unique_ptr<CudaLib>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  for (auto& l : loaded)
    if (l->path == path) return *l;
  auto lib = std::make_unique<CudaLib>();
  lib->path = path;
  if (path.empty()) {
    lib->error = "libbertrt_cuda.so was not found (build it with `npm run build:cuda`, or set BERTRT_CUDA_LIB)";
  } else if (void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    auto sym = [&](const char* n) { return dlsym(h, n); };
    lib->abi = reinterpret_cast<bertrt_cuda_abi_fn>(sym("bertrt_cuda_abi"));
    lib->probe = reinterpret_cast<bertrt_cuda_probe_fn>(sym("bertrt_cuda_probe"));
    lib->create = reinterpret_cast<bertrt_cuda_create_fn>(sym("bertrt_cuda_create"));
    lib->forward = reinterpret_cast<bertrt_cuda_forward_fn>(sym("bertrt_cuda_forward"));
    lib->destroy = reinterpret_cast<bertrt_cuda_destroy_fn>(sym("bertrt_cuda_destroy"));
    if (!lib->abi || !lib->probe || !lib->create || !lib->forward || !lib->destroy) {
      lib->error = path + " lacks the bertrt_cuda_* entry points";
    } else if (lib->abi() != BERTRT_CUDA_ABI_VERSION) {
      lib->error = path + " has ABI version " + std::to_string(lib->abi()) + ", this build needs " +
                   std::to_string(BERTRT_CUDA_ABI_VERSION);
    } else {
      char info[512] = "";
      if (lib->probe(0, info, sizeof info) == 0) {
        lib->usable = true;
        lib->device = info;
      } else {
        lib->error = info;
      }
    }
  } else {
    const char* e = dlerror();
    lib->error = "cannot load " + path + ": " + (e ? e : "dlopen failed");
  }
  loaded.push_back(std::move(lib));
  return *loaded.back();
}

class CudaBert final : public BertModel {
 public:
  CudaBert(const CudaLib& lib, void* model, const BertConfig& cfg, Precision precision, AlignedBuffer<float> word,
           size_t bytes)
      : lib_(lib), model_(model), cfg_(cfg), precision_(precision), word_(std::move(word)), bytes_(bytes) {}
  ~CudaBert() override { lib_.destroy(model_); }

  Status forward(const BatchView& b, float* out, ThreadPool&, int) const override {
    if (b.n_seqs < 0 || b.tokens < 0 || !b.cu_seqlens || (b.tokens > 0 && !out))
      return {Code::kInvalidArgument, "batch: missing lengths or output"};
    char err[512] = "";
    if (lib_.forward(model_, b.ids, b.type_ids, b.cu_seqlens, b.n_seqs, b.tokens, out, err, sizeof err) != 0) {
      const std::string msg(err);
      const bool caller = msg.rfind("batch:", 0) == 0;
      const bool too_long = msg.find("longer than max_position") != std::string::npos;
      return {too_long ? Code::kInputTooLong : caller ? Code::kInvalidArgument : Code::kInternal, "CUDA: " + msg};
    }
    return Status::Ok();
  }
  Status vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const override {
    return vocab_logits_cpu(word_.data(), cfg_.vocab_size, cfg_.hidden_size, x, rows, bias, out, pool, nth);
  }
  const BertConfig& config() const override { return cfg_; }
  size_t weight_bytes() const override { return bytes_; }
  Precision precision() const override { return precision_; }
  const char* gemm_isa() const override { return precision_ == Precision::kINT8 ? "cuda-int8" : "cuda-fp16"; }

 private:
  const CudaLib& lib_;
  void* model_;
  BertConfig cfg_;
  Precision precision_;
  AlignedBuffer<float> word_;  // host copy for vocab_logits (the MLM decoder runs on the CPU)
  size_t bytes_;
};

}  // namespace

CudaInfo cuda_info(const std::string& library) {
  const CudaLib& lib = cuda_lib(library);
  CudaInfo i;
  i.library = library;
  i.available = lib.usable;
  i.device = lib.device;
  i.reason = lib.error;
  return i;
}

Status load_cuda_model(const BertConfig& cfg, const std::string& path, const std::vector<TensorDesc>& tensors,
                       Precision precision, const std::string& library, std::unique_ptr<BertModel>* out) {
  BERTRT_RETURN_IF_ERROR(check_config(cfg));
  if (precision == Precision::kBF16) return {Code::kUnsupported, "precision 'bf16' is CPU-only (the CUDA backend runs FP16 or INT8)"};
  const CudaLib& lib = cuda_lib(library);
  if (!lib.usable) return {Code::kUnsupported, lib.error};
  WeightSource src;
  BERTRT_RETURN_IF_ERROR(src.open(path, tensors));
  const int H = cfg.hidden_size, I = cfg.intermediate_size;
  // every tensor as FP32 on the host, checked against the config, then uploaded once
  std::vector<AlignedBuffer<float>> keep;
  keep.reserve(5 + 16 * static_cast<size_t>(cfg.num_hidden_layers));
  auto read = [&](const std::string& name, std::vector<int64_t> shape, const float** dst) -> Status {
    keep.emplace_back();
    BERTRT_RETURN_IF_ERROR(src.read(name, shape, &keep.back()));
    *dst = keep.back().data();
    return Status::Ok();
  };
  bertrt_cuda_embeddings emb{};
  AlignedBuffer<float> word;
  BERTRT_RETURN_IF_ERROR(src.read("embeddings.word_embeddings.weight", {cfg.vocab_size, H}, &word));
  emb.word = word.data();
  BERTRT_RETURN_IF_ERROR(read("embeddings.position_embeddings.weight", {cfg.max_position_embeddings, H}, &emb.pos));
  if (cfg.type_vocab_size > 0)
    BERTRT_RETURN_IF_ERROR(read("embeddings.token_type_embeddings.weight", {cfg.type_vocab_size, H}, &emb.type));
  BERTRT_RETURN_IF_ERROR(read("embeddings.LayerNorm.weight", {H}, &emb.ln_g));
  BERTRT_RETURN_IF_ERROR(read("embeddings.LayerNorm.bias", {H}, &emb.ln_b));
  std::vector<bertrt_cuda_layer> layers(cfg.num_hidden_layers);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    bertrt_cuda_layer& L = layers[l];
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.query.weight", {H, H}, &L.q_w));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.query.bias", {H}, &L.q_b));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.key.weight", {H, H}, &L.k_w));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.key.bias", {H}, &L.k_b));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.value.weight", {H, H}, &L.v_w));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.self.value.bias", {H}, &L.v_b));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.output.dense.weight", {H, H}, &L.o_w));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.output.dense.bias", {H}, &L.o_b));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.output.LayerNorm.weight", {H}, &L.ln1_g));
    BERTRT_RETURN_IF_ERROR(read(p + "attention.output.LayerNorm.bias", {H}, &L.ln1_b));
    BERTRT_RETURN_IF_ERROR(read(p + "intermediate.dense.weight", {I, H}, &L.i_w));
    BERTRT_RETURN_IF_ERROR(read(p + "intermediate.dense.bias", {I}, &L.i_b));
    BERTRT_RETURN_IF_ERROR(read(p + "output.dense.weight", {H, I}, &L.f_w));
    BERTRT_RETURN_IF_ERROR(read(p + "output.dense.bias", {H}, &L.f_b));
    BERTRT_RETURN_IF_ERROR(read(p + "output.LayerNorm.weight", {H}, &L.ln2_g));
    BERTRT_RETURN_IF_ERROR(read(p + "output.LayerNorm.bias", {H}, &L.ln2_b));
  }
  bertrt_cuda_config c{};
  c.vocab_size = cfg.vocab_size, c.hidden_size = H, c.num_layers = cfg.num_hidden_layers;
  c.num_heads = cfg.num_attention_heads, c.intermediate_size = I, c.max_positions = cfg.max_position_embeddings;
  c.type_vocab_size = cfg.type_vocab_size, c.layer_norm_eps = cfg.layer_norm_eps;
  void* model = nullptr;
  char err[512] = "";
  const int prec = precision == Precision::kINT8 ? BERTRT_CUDA_INT8 : BERTRT_CUDA_FP16;
  if (lib.create(&c, &emb, layers.data(), prec, 0, &model, err, sizeof err) != 0) return {Code::kUnsupported, std::string("CUDA: ") + err};
  const size_t per_layer = 4ull * H * H + 2ull * H * I;
  const size_t bytes = (precision == Precision::kINT8 ? 1 : 2) * per_layer * cfg.num_hidden_layers +
                       4ull * (static_cast<size_t>(cfg.vocab_size) + cfg.max_position_embeddings) * H;
  *out = std::make_unique<CudaBert>(lib, model, cfg, precision, std::move(word), bytes);
  return Status::Ok();
}

}  // namespace bertrt
