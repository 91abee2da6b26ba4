// The ONNX backend where the build had no onnxruntime headers (scripts/get-onnxruntime-headers.mjs could not fetch
// them): every entry point says so, and the rest of the engine is unaffected.
#include "onnx_model.h"

namespace bertrt {

static const char* kWhy = "this build of bertrt has no ONNX backend: onnxruntime's C API headers were not available when it was compiled";

OrtLibraryInfo ort_library_info(const std::string& library) {
  OrtLibraryInfo info;
  info.library = library;
  info.reason = kWhy;
  return info;
}

Status OnnxModel::load(const std::string&, const OnnxOptions&, std::unique_ptr<OnnxModel>*) { return Status(Code::kUnsupported, kWhy); }

}  // namespace bertrt
