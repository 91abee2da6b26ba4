// The ONNX backend: an encoder exported to ONNX, run by onnxruntime through its C API. The library is opened at
// run time (dlopen), never linked: the addon loads and runs safetensors models where onnxruntime is absent, and a
// build without onnxruntime's headers compiles onnx_model_stub.cc instead, which says why.
//
// Batches arrive packed, as for the native engine (sequence s owns tokens [cu_seqlens[s], cu_seqlens[s+1])); ONNX
// graphs take dense [batch][length] inputs, so a batch is padded to its longest sequence (the caller sorts by length)
// and the output is handed back packed again: hidden states [tokens][width], or a graph's pooled output
// [sequences][width] as it is.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bertrt/model.h"
#include "bertrt/status.h"

namespace bertrt {

struct OrtLibraryInfo {
  bool available = false;
  std::string library;  // the file that was opened
  std::string version;  // onnxruntime's GetVersionString()
  int api_version = 0;  // the API version this build asks for
  std::string reason;   // why it is not available
};

// Opens (once per process, never closed) onnxruntime at `library`, or the system's libonnxruntime.so.1 when empty.
OrtLibraryInfo ort_library_info(const std::string& library);

struct OnnxOptions {
  std::string library;      // libonnxruntime path ('' : the system's)
  int threads = 0;          // intra-op threads (0: physical cores); inter-op is 1
  int pad_id = 0;           // the id padded positions get (RoBERTa-style graphs derive positions from it)
  int width_hint = 0;       // the output's width when the graph leaves it symbolic (config.json's hidden size)
  std::string output;       // the output to read ('' : sentence_embedding, else last_hidden_state, else the only one)
};

class OnnxModel {
 public:
  virtual ~OnnxModel() = default;
  static Status load(const std::string& path, const OnnxOptions& options, std::unique_ptr<OnnxModel>* out);
  // Writes hidden states [tokens][width] (pooled(): [n_seqs][width]) to out. Safe to call concurrently.
  virtual Status run(const BatchView& batch, float* out) const = 0;
  virtual bool pooled() const = 0;
  virtual int width() const = 0;
  virtual bool takes_token_types() const = 0;
  virtual const std::string& output_name() const = 0;
  // "input_ids:int64, attention_mask:int64 -> last_hidden_state:float32[batch,seq,384]"
  virtual const std::string& signature() const = 0;
  virtual const OrtLibraryInfo& library() const = 0;
};

}  // namespace bertrt
