/* The C interface of libbertrt_cuda.so, the optional CUDA backend. The CPU addon never links CUDA: it dlopens this
 * library when a model is loaded with device 'cuda' or 'auto', checks the ABI version, probes for a usable GPU and
 * falls back to the CPU engine with the reason if any step fails. Plain C so that the two sides may be built by
 * different compilers; every function reports failure by return code and a message, never by exception or abort. */
#ifndef BERTRT_CUDA_H
#define BERTRT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BERTRT_CUDA_ABI_VERSION 5

#if defined(__GNUC__)
#define BERTRT_CUDA_EXPORT __attribute__((visibility("default")))
#else
#define BERTRT_CUDA_EXPORT
#endif

typedef struct {
  int vocab_size;
  int hidden_size;
  int num_layers;
  int num_heads;
  int intermediate_size;
  int max_positions;
  int type_vocab_size; /* 0: no token-type embeddings */
  float layer_norm_eps;
  /* RoBERTa / XLM-R / CamemBERT: positions start at padding_idx + 1 and tokens equal to padding_idx keep position
   * padding_idx (transformers' create_position_ids_from_input_ids); -1: positions 0, 1, ... (BERT) */
  int padding_idx;
  /* NomicBERT, GTE: non-zero rotates Q and K by RoPE (rotate_half's layout) instead of adding a position table
   * (embeddings.pos NULL): inverse frequencies (rope_theta * rope_ntk)^(-2i / head_dim) / rope_ntk^(2 / head_dim),
   * rope_ntk 1 for plain RoPE */
  int rotary;
  float rope_theta, rope_ntk;
  /* non-zero: the FFN is gated, act(intermediate(x)) * up(x) (bertrt_cuda_layer.u_w) */
  int gated;
  /* the FFN's activation: BERTRT_CUDA_GELU (erf), BERTRT_CUDA_GELU_TANH or BERTRT_CUDA_SILU */
  int activation;
  /* MPNet: the offsets bertrt_cuda_embeddings.rel_bias spans on each side, plus one; 0 without it */
  int rel_span;
  /* ModernBERT (non-zero; rotary and gated set too): pre-LayerNorm layers (ln1 before the attention, NULL in layer 0,
   * whose attention reads the embeddings' output as it is; ln2 before the FFN), a final LayerNorm (embeddings.final_g,
   * final_b), layers 0, global_every, 2 global_every, ... rotated with rope_theta and attending to the whole sequence,
   * the others rotated with rope_theta_local and attending to keys within |i - j| <= local_window only */
  int modern;
  float rope_theta_local;
  int global_every, local_window;
  /* DeBERTa-v2/v3 (disentangled_span > 0): query i's score for key j gains q_i . pk[r] + k_j . pq[r] before the scale,
   * which is 1/sqrt(3 head_dim), with r = embeddings.pos_index[max_positions - 1 + i - j] in [0, 2 disentangled_span)
   * and pk, pq the layer's ([2 disentangled_span][H]: the relative embeddings through its key and query projections) */
  int disentangled_span;
  /* ALBERT, ELECTRA (embedding_size > 0): the embedding tables and their LayerNorm are embedding_size wide and
   * embeddings.proj_w / proj_b map them to hidden_size; 0: hidden_size wide, no projection */
  int embedding_size;
  /* ALBERT (layer_groups > 0): `layers` holds layer_groups layers and layer l runs l * layer_groups / num_layers
   * (num_layers a multiple of it); 0: num_layers layers, each its own */
  int layer_groups;
} bertrt_cuda_config;

enum { BERTRT_CUDA_GELU = 0, BERTRT_CUDA_SILU = 1, BERTRT_CUDA_GELU_TANH = 2 /* ALBERT's gelu_new */ };

/* Host FP32 weights, PyTorch layout (Linear weights [out][in]); read during bertrt_cuda_create only. */
typedef struct {
  const float *word, *pos, *type; /* [vocab][H], [max_positions][H], [type_vocab][H] or NULL */
  const float *ln_g, *ln_b;       /* [H] */
  /* MPNet's relative attention: the bias added to every layer's attention scores (after their scaling) by head and
   * key offset j - i, [heads][2 rel_span - 1] (offset d at d + rel_span - 1; offsets past +-(rel_span - 1) take the
   * edge's value, so rel_span must pass the buckets' max distance); NULL: none */
  const float* rel_bias;
  const float *final_g, *final_b; /* ModernBERT's final LayerNorm [H]; else NULL */
  /* DeBERTa: the relative embedding of each offset d = i - j in [-(max_positions - 1), max_positions - 1], at
   * d + max_positions - 1; else NULL */
  const int32_t* pos_index;
  const float *proj_w, *proj_b; /* with embedding_size: [hidden][embedding_size], [hidden]; else NULL */
} bertrt_cuda_embeddings;

typedef struct {
  const float *q_w, *q_b, *k_w, *k_b, *v_w, *v_b; /* [H][H], [H] */
  const float *o_w, *o_b;                         /* attention output [H][H], [H] */
  const float *ln1_g, *ln1_b;                     /* [H] (ModernBERT: the attention's LayerNorm, NULL in layer 0) */
  const float *i_w, *i_b;                         /* intermediate [I][H], [I] */
  const float *f_w, *f_b;                         /* output [H][I], [H] */
  const float *ln2_g, *ln2_b;                     /* [H] */
  const float *u_w, *u_b;                         /* gated FFNs: the second input projection [I][H], [I]; else NULL */
  const float *pq, *pk; /* DeBERTa: the relative embeddings through the query and key projections [2 span][H]; else NULL */
} bertrt_cuda_layer;

/* FP16: FP16 GEMM inputs. INT8: s8 weights per output channel, s8 activations per token. FP8: the same with E4M3
 * values (scales max|x| / 448), on cuBLASLt only and compute capability 8.9 or newer (bertrt_cuda_create says why
 * not otherwise). Every mode keeps the residual stream, LayerNorm, softmax and activations in FP32. */
enum { BERTRT_CUDA_FP16 = 0, BERTRT_CUDA_INT8 = 1, BERTRT_CUDA_FP8 = 2 };

/* What bertrt_cuda_forward returns: the caller's batch was malformed, a sequence was longer than the position
 * table, or the device failed (the message says how). */
enum { BERTRT_CUDA_OK = 0, BERTRT_CUDA_EINPUT = 1, BERTRT_CUDA_ETOOLONG = 2, BERTRT_CUDA_EDEVICE = 3 };

typedef int (*bertrt_cuda_abi_fn)(void);
typedef int (*bertrt_cuda_probe_fn)(int device, char* info, size_t info_size);
typedef int (*bertrt_cuda_create_fn)(const bertrt_cuda_config* config, const bertrt_cuda_embeddings* embeddings,
                                     const bertrt_cuda_layer* layers, int precision, int device, void** model,
                                     char* err, size_t err_size);
typedef int (*bertrt_cuda_forward_fn)(void* model, const int32_t* ids, const int32_t* type_ids,
                                      const int32_t* cu_seqlens, int n_seqs, int tokens, float* out, char* err,
                                      size_t err_size);
typedef void (*bertrt_cuda_destroy_fn)(void* model);
typedef int (*bertrt_cuda_describe_fn)(void* model, char* info, size_t info_size);

/* BERTRT_CUDA_ABI_VERSION of the library. */
BERTRT_CUDA_EXPORT int bertrt_cuda_abi(void);
/* 0 when `device` is usable (info: its name, compute capability and memory); else non-zero, info says why. */
BERTRT_CUDA_EXPORT int bertrt_cuda_probe(int device, char* info, size_t info_size);
/* Uploads the weights (FP16, or INT8 / FP8 with per-channel scales) and returns a model; 0 on success. */
BERTRT_CUDA_EXPORT int bertrt_cuda_create(const bertrt_cuda_config* config, const bertrt_cuda_embeddings* embeddings,
                       const bertrt_cuda_layer* layers, int precision, int device, void** model, char* err,
                       size_t err_size);
/* A packed batch (sequence s owns tokens [cu_seqlens[s], cu_seqlens[s+1])) to hidden states out[tokens][H] (host
 * memory; NULL leaves them on the device, for benchmarks of the device work alone). type_ids may be NULL. Checks
 * every id and length. Thread-safe (calls on one model are serialized). Returns once the work is done, with one of
 * the BERTRT_CUDA_OK / E* codes above. */
BERTRT_CUDA_EXPORT int bertrt_cuda_forward(void* model, const int32_t* ids, const int32_t* type_ids, const int32_t* cu_seqlens,
                        int n_seqs, int tokens, float* out, char* err, size_t err_size);
BERTRT_CUDA_EXPORT void bertrt_cuda_destroy(void* model);
/* Which GEMMs the model runs ("<FP16|INT8|FP8> GEMMs: " then cuBLASLt with its version and file, or the own kernels
 * and why); 0 on success. */
BERTRT_CUDA_EXPORT int bertrt_cuda_describe(void* model, char* info, size_t info_size);

#ifdef __cplusplus
}
#endif

#endif /* BERTRT_CUDA_H */
