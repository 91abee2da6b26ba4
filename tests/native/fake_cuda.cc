// A stand-in for libbertrt_cuda.so with the same C interface, for testing the host side (native/model/
// cuda_backend.cc) on machines without a GPU: the probe says a device is there, and bertrt_cuda_create refuses every
// model with a description of what it was given (the config's fields, which pointers are set, where the stacked
// matrices start, the first values of DeBERTa's projected relative embeddings and its index table), which the test
// reads back from the load's error message.
#include <cstdio>
#include <string>

#include "../../native/cuda/bertrt_cuda.h"

namespace {
void put(char* buf, size_t n, const std::string& s) {
  if (!buf || n == 0) return;
  std::snprintf(buf, n, "%s", s.c_str());
}
const char* set(const void* p) { return p ? "set" : "null"; }
}  // namespace

extern "C" {

BERTRT_CUDA_EXPORT int bertrt_cuda_abi(void) { return BERTRT_CUDA_ABI_VERSION; }

BERTRT_CUDA_EXPORT int bertrt_cuda_probe(int, char* info, size_t info_size) {
  put(info, info_size, "fake GPU (tests/native/fake_cuda.cc)");
  return 0;
}

BERTRT_CUDA_EXPORT int bertrt_cuda_create(const bertrt_cuda_config* c, const bertrt_cuda_embeddings* e, const bertrt_cuda_layer* l,
                                          int precision, int, void** model, char* err, size_t err_size) {
  *model = nullptr;
  const int H = c->hidden_size, P = c->max_positions;
  const int n = c->layer_groups > 0 ? c->layer_groups : c->num_layers;  // entries in `l`
  char s[1024];
  std::snprintf(s, sizeof s,
                "precision=%d layers=%d heads=%d types=%d padding_idx=%d rotary=%d theta=%g ntk=%g gated=%d act=%d rel_span=%d "
                "modern=%d local=%g every=%d window=%d span=%d pos=%s type=%s rel=%s final=%s index=%s ln1_0=%s ln1_1=%s "
                "k_off=%ld v_off=%ld u_off=%ld ub_off=%ld pq=%s embedding_size=%d groups=%d proj=%s",
                precision, c->num_layers, c->num_heads, c->type_vocab_size, c->padding_idx, c->rotary, c->rope_theta,
                c->rope_ntk, c->gated, c->activation, c->rel_span, c->modern, c->rope_theta_local, c->global_every,
                c->local_window, c->disentangled_span, set(e->pos), set(e->type), set(e->rel_bias), set(e->final_g),
                set(e->pos_index), set(l[0].ln1_g), n > 1 ? set(l[1].ln1_g) : "-",
                static_cast<long>(l[0].k_w - l[0].q_w) / H, static_cast<long>(l[0].v_w - l[0].q_w) / H,
                l[0].u_w ? static_cast<long>(l[0].u_w - l[0].i_w) / H : -1L, l[0].u_b ? static_cast<long>(l[0].u_b - l[0].i_b) : -1L,
                set(l[0].pq), c->embedding_size, c->layer_groups, set(e->proj_w));
  std::string out = s;
  if (e->pos_index && l[0].pq && l[0].pk) {
    const int R = 2 * c->disentangled_span;
    std::snprintf(s, sizeof s, " index_first=%d index_mid=%d index_last=%d pq00=%.7g pq_last=%.7g pk00=%.7g pk_last=%.7g",
                  e->pos_index[0], e->pos_index[P - 1], e->pos_index[2 * P - 2], l[0].pq[0],
                  l[n - 1].pq[static_cast<size_t>(R) * H - 1], l[0].pk[0], l[n - 1].pk[static_cast<size_t>(R) * H - 1]);
    out += s;
  }
  put(err, err_size, out);
  return 1;
}

BERTRT_CUDA_EXPORT int bertrt_cuda_forward(void*, const int32_t*, const int32_t*, const int32_t*, int, int, float*, char* err,
                                           size_t err_size) {
  put(err, err_size, "fake");
  return BERTRT_CUDA_EDEVICE;
}

BERTRT_CUDA_EXPORT void bertrt_cuda_destroy(void*) {}

BERTRT_CUDA_EXPORT int bertrt_cuda_describe(void*, char* info, size_t info_size) {
  put(info, info_size, "fake");
  return 0;
}

}  // extern "C"
