#include "cuda_backend.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "../cpu/kernels.h"
#include "../cuda/bertrt_cuda.h"
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
  bertrt_cuda_describe_fn describe = nullptr;
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
    lib->describe = reinterpret_cast<bertrt_cuda_describe_fn>(sym("bertrt_cuda_describe"));
    if (!lib->abi || !lib->probe || !lib->create || !lib->forward || !lib->destroy || !lib->describe) {
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
      : lib_(lib), model_(model), cfg_(cfg), precision_(precision), word_(std::move(word)), bytes_(bytes) {
    char info[512] = "";
    const std::string note = lib_.describe(model_, info, sizeof info) == 0 ? info : "";
    const bool lt = note.find("GEMMs: cuBLASLt") != std::string::npos;
    isa_ = std::string(precision_ == Precision::kFP8 ? "cuda-fp8" : precision_ == Precision::kINT8 ? "cuda-int8" : "cuda-fp16") +
           (lt ? "-cublaslt" : "");
  }
  ~CudaBert() override { lib_.destroy(model_); }

  Status forward(const BatchView& b, float* out, ThreadPool&, int) const override {
    if (b.tokens > 0 && !out) return {Code::kInvalidArgument, "batch: missing ids, lengths or output"};
    BERTRT_RETURN_IF_ERROR(check_batch(b, cfg_, nullptr));  // the CPU engine's checks and messages
    if (b.key_lens) return {Code::kUnsupported, "CUDA: the attention kernels attend to every token; a batch with keyLens (ColBERT query expansion) runs on the CPU engine"};
    char err[512] = "";
    switch (lib_.forward(model_, b.ids, b.type_ids, b.cu_seqlens, b.n_seqs, b.tokens, out, err, sizeof err)) {
      case BERTRT_CUDA_OK: return Status::Ok();
      case BERTRT_CUDA_EINPUT: return {Code::kInvalidArgument, std::string("CUDA: ") + err};
      case BERTRT_CUDA_ETOOLONG: return {Code::kInputTooLong, std::string("CUDA: ") + err};
      default: return {Code::kInternal, std::string("CUDA: ") + err};
    }
  }
  Status vocab_logits(const float* x, int rows, const float* bias, float* out, ThreadPool& pool, int nth) const override {
    return vocab_logits_cpu({word_.data(), nullptr}, cfg_.vocab_size, embedding_width(cfg_), x, rows, bias, out, pool, nth);
  }
  Status vocab_sparse(const float* x, const int32_t* cu, int n_seqs, const float* bias, bool sum, float* out, ThreadPool& pool,
                      int nth) const override {
    return vocab_sparse_cpu({word_.data(), nullptr}, cfg_.vocab_size, embedding_width(cfg_), x, cu, n_seqs, bias, sum, out, pool, nth);
  }
  const BertConfig& config() const override { return cfg_; }
  size_t weight_bytes() const override { return bytes_; }
  Precision precision() const override { return precision_; }
  const char* gemm_isa() const override { return isa_.c_str(); }

 private:
  const CudaLib& lib_;
  void* model_;
  BertConfig cfg_;
  Precision precision_;
  AlignedBuffer<float> word_;  // host copy for vocab_logits (the MLM decoder runs on the CPU)
  size_t bytes_;
  std::string isa_;  // cuda-fp16, cuda-int8 (own kernels), either with -cublaslt, or cuda-fp8-cublaslt
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

Status load_cuda_model(const BertConfig& cfg, const WeightFiles& path, const std::vector<TensorDesc>& tensors,
                       Precision precision, const std::string& library, ThreadPool& pool, std::unique_ptr<BertModel>* out) {
  BERTRT_RETURN_IF_ERROR(check_config(cfg));
  if (precision == Precision::kBF16) return {Code::kUnsupported, "precision 'bf16' is CPU-only (the CUDA backend runs FP16 or INT8)"};
  const bool tanh_gelu = cfg.hidden_act == "gelu_new" || cfg.hidden_act == "gelu_pytorch_tanh";
  if ((cfg.hidden_act != "gelu" && cfg.hidden_act != "silu" && !tanh_gelu) || (cfg.modern && cfg.hidden_act == "silu") ||
      (!cfg.position_table && !cfg.rotary && !cfg.modern && cfg.disentangled_span == 0) || cfg.rope_dynamic != 0.f)
    return {Code::kUnsupported, "the CUDA backend runs BERT, DistilBERT, RoBERTa, XLM-RoBERTa, CamemBERT, MPNet, ALBERT, ELECTRA, "
                                "NomicBERT, GTE, ModernBERT and DeBERTa-v2/v3 (dynamic rotary scaling runs on the CPU)"};
  const CudaLib& lib = cuda_lib(library);
  if (!lib.usable) return {Code::kUnsupported, lib.error};
  // What has run on a GPU so far is BERT's and DistilBERT's layer (bench/results/cuda*.md). The families added since
  // (RoBERTa's positions, MPNet, ALBERT, ELECTRA, NomicBERT, GTE, ModernBERT, DeBERTa) are compiled and have GPU tests that have not
  // run yet: a user gets them only on asking, so that a mistake cannot reach them as wrong vectors.
  const bool verified = cfg.hidden_act == "gelu" && cfg.embedding_size == 0 && cfg.layer_groups == 0 && cfg.padding_idx < 0 && cfg.position_table && cfg.relative_attention_buckets == 0 && !cfg.rotary &&
                        !cfg.gated && !cfg.modern && cfg.disentangled_span == 0;
  const char* unverified = std::getenv("BERTRT_CUDA_UNVERIFIED");
  if (!verified && !(unverified && std::string(unverified) == "1"))
    return {Code::kUnsupported, "this model family's CUDA path has not yet run on a GPU (only BERT's and DistilBERT's has); "
                                "BERTRT_CUDA_UNVERIFIED=1 runs it there anyway"};
  WeightSource src;
  BERTRT_RETURN_IF_ERROR(src.open(path, tensors));
  const int H = cfg.hidden_size, I = cfg.intermediate_size;
  // every tensor as FP32 on the host, checked against the config, then uploaded once
  EmbeddingWeights ew;
  BERTRT_RETURN_IF_ERROR(read_embeddings(src, cfg, &ew));
  // (ALBERT: one set of weights per group, encoder.layer.<group>)
  const int n_weights = cfg.layer_groups > 0 ? cfg.layer_groups : cfg.num_hidden_layers;
  std::vector<LayerWeights> lw(n_weights);
  std::vector<bertrt_cuda_layer> layers(n_weights);
  // DeBERTa: the relative embeddings (LayerNormed when the model says so) through each layer's query and key
  // projections, in FP32 on the host as the CPU engine computes them
  const int R = 2 * cfg.disentangled_span;
  if (cfg.disentangled_span > 0 && cfg.rel_norm)
    cpu::kernels().add_layernorm(ew.rel_emb.data(), nullptr, ew.rel_g.data(), ew.rel_b.data(), R, H, cfg.layer_norm_eps, pool, 0);
  std::vector<AlignedBuffer<float>> pq(cfg.disentangled_span > 0 ? n_weights : 0), pk(pq.size());
  const bool gated = cfg.gated || cfg.modern;  // (ModernBERT's Wi is [input; gate]: GeGLU)
  for (int l = 0; l < n_weights; ++l) {
    BERTRT_RETURN_IF_ERROR(read_layer(src, cfg, l, &lw[l]));
    const LayerWeights& w = lw[l];
    // (read_layer gives zeros for the biases a checkpoint leaves out; a gated FFN's i is [activated; up] rows;
    // ModernBERT's Q, K and V are the rows of one fused matrix, and its layer 0 has no attention LayerNorm)
    const size_t up = gated ? static_cast<size_t>(I) * H : 0, hh = static_cast<size_t>(H) * H;
    const float* k_w = cfg.modern ? w.q_w.data() + hh : w.k_w.data();
    const float* k_b = cfg.modern ? w.q_b.data() + H : w.k_b.data();
    const float* v_w = cfg.modern ? w.q_w.data() + 2 * hh : w.v_w.data();
    const float* v_b = cfg.modern ? w.q_b.data() + 2 * H : w.v_b.data();
    const bool ln1 = w.ln1_g.size() > 0;
    layers[l] = {w.q_w.data(), w.q_b.data(), k_w, k_b, v_w, v_b,
                 w.o_w.data(), w.o_b.data(), ln1 ? w.ln1_g.data() : nullptr, ln1 ? w.ln1_b.data() : nullptr,
                 w.i_w.data(), w.i_b.data(), w.f_w.data(), w.f_b.data(), w.ln2_g.data(), w.ln2_b.data(),
                 gated ? w.i_w.data() + up : nullptr, gated ? w.i_b.data() + I : nullptr, nullptr, nullptr};
    if (cfg.disentangled_span > 0) {
      pq[l].resize(static_cast<size_t>(R) * H), pk[l].resize(static_cast<size_t>(R) * H);
      project_rows(ew.rel_emb.data(), R, w.q_w.data(), w.q_b.data(), H, H, pq[l].data(), pool);
      project_rows(ew.rel_emb.data(), R, w.k_w.data(), w.k_b.data(), H, H, pk[l].data(), pool);
      layers[l].pq = pq[l].data(), layers[l].pk = pk[l].data();
    }
  }
  std::vector<int32_t> pos_index;
  if (cfg.disentangled_span > 0) {
    const int P = cfg.max_position_embeddings;
    pos_index.resize(2 * static_cast<size_t>(P) - 1);
    for (int d = -(P - 1); d <= P - 1; ++d) pos_index[d + P - 1] = disentangled_index(cfg, d);
  }
  // MPNet: the relative bias by head and key offset d = j - i in [-(S - 1), S - 1], from the learned table by bucket; S
  // passes the buckets' max distance, past which every offset shares its side's last bucket (the kernel clamps to S)
  std::vector<float> rel;
  const int rel_span = cfg.relative_attention_buckets > 0 ? std::max(cfg.max_position_embeddings, cfg.relative_attention_max_distance + 1) : 0;
  if (cfg.relative_attention_buckets > 0) {
    const int P = rel_span, heads = cfg.num_attention_heads, n = 2 * P - 1;
    rel.resize(static_cast<size_t>(heads) * n);
    for (int d = 0; d < n; ++d) {
      const int bucket = relative_bucket(d - (P - 1), cfg.relative_attention_buckets, cfg.relative_attention_max_distance);
      for (int h = 0; h < heads; ++h) rel[static_cast<size_t>(h) * n + d] = ew.rel.data()[static_cast<size_t>(bucket) * heads + h];
    }
  }
  const bool types = cfg.type_vocab_size > 0 && ew.type.size() > 0;  // (ModernBERT reads no type table)
  const bertrt_cuda_embeddings emb{ew.word.data(), cfg.position_table && !cfg.rotary && !cfg.modern ? ew.pos.data() : nullptr,
                                   types ? ew.type.data() : nullptr, ew.ln_g.data(), ew.ln_b.data(),
                                   rel.empty() ? nullptr : rel.data(), cfg.modern ? ew.final_g.data() : nullptr,
                                   cfg.modern ? ew.final_b.data() : nullptr, pos_index.empty() ? nullptr : pos_index.data(),
                                   cfg.embedding_size > 0 ? ew.proj_w.data() : nullptr, cfg.embedding_size > 0 ? ew.proj_b.data() : nullptr};
  bertrt_cuda_config c{};
  c.vocab_size = cfg.vocab_size, c.hidden_size = H, c.num_layers = cfg.num_hidden_layers;
  c.num_heads = cfg.num_attention_heads, c.intermediate_size = I, c.max_positions = cfg.max_position_embeddings;
  c.type_vocab_size = types ? cfg.type_vocab_size : 0, c.layer_norm_eps = cfg.layer_norm_eps, c.padding_idx = cfg.padding_idx;
  c.rotary = cfg.rotary || cfg.modern, c.rope_theta = cfg.rope_theta_global, c.rope_ntk = cfg.rope_ntk, c.gated = gated;
  c.activation = cfg.hidden_act == "silu" ? BERTRT_CUDA_SILU : tanh_gelu ? BERTRT_CUDA_GELU_TANH : BERTRT_CUDA_GELU;
  c.embedding_size = cfg.embedding_size, c.layer_groups = cfg.layer_groups;
  c.rel_span = rel_span;
  c.modern = cfg.modern, c.rope_theta_local = cfg.rope_theta_local, c.global_every = cfg.global_every;
  c.local_window = cfg.local_window, c.disentangled_span = cfg.disentangled_span;
  void* model = nullptr;
  char err[1024] = "";
  const int prec = precision == Precision::kINT8 ? BERTRT_CUDA_INT8 : precision == Precision::kFP8 ? BERTRT_CUDA_FP8 : BERTRT_CUDA_FP16;
  if (lib.create(&c, &emb, layers.data(), prec, 0, &model, err, sizeof err) != 0) return {Code::kUnsupported, std::string("CUDA: ") + err};
  const size_t per_layer = 4ull * H * H + (gated ? 3ull : 2ull) * H * I;
  const size_t bytes = (precision == Precision::kINT8 || precision == Precision::kFP8 ? 1 : 2) * (per_layer * n_weights + static_cast<size_t>(H) * cfg.embedding_size) +
                       4ull * (static_cast<size_t>(cfg.vocab_size) + cfg.max_position_embeddings) * embedding_width(cfg) +
                       2ull * 2 * R * H * cfg.num_hidden_layers;  // (DeBERTa's pq and pk, FP16)
  *out = std::make_unique<CudaBert>(lib, model, cfg, precision, std::move(ew.word), bytes);
  return Status::Ok();
}

}  // namespace bertrt
