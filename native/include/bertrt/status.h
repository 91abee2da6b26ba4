// Status codes returned by every engine entry point. The engine never throws across its API: the
// Node-API layer turns a non-OK Status into a JS BertrtError carrying the same code string.
#pragma once
#include <string>
#include <utility>

namespace bertrt {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // a caller passed something malformed (bad ids, bad lengths)
  kModelFormat,      // the model files are inconsistent (missing tensor, wrong dtype, out-of-range offsets)
  kShape,            // a tensor's shape disagrees with the config
  kInputTooLong,     // a sequence longer than the position table
  kUnsupported,      // an architecture, activation or dtype the engine does not implement
  kIo,               // the file system said no
  kOutOfMemory,
  kClosed,           // the engine was closed
  kInternal,
};

// The string form is the contract with JavaScript (BertrtError.code).
const char* code_name(Code c);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return {}; }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

#define BERTRT_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::bertrt::Status _st = (expr);          \
    if (!_st.ok()) return _st;              \
  } while (0)

}  // namespace bertrt
