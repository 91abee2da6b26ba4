// String names of status codes; these are the `code` values JavaScript sees.
#include "bertrt/status.h"

namespace bertrt {

const char* code_name(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "E_INVALID_ARGUMENT";
    case Code::kModelFormat: return "E_MODEL_FORMAT";
    case Code::kShape: return "E_SHAPE";
    case Code::kInputTooLong: return "E_INPUT_TOO_LONG";
    case Code::kUnsupported: return "E_UNSUPPORTED";
    case Code::kIo: return "E_IO";
    case Code::kOutOfMemory: return "E_OUT_OF_MEMORY";
    case Code::kClosed: return "E_CLOSED";
    case Code::kInternal: return "E_INTERNAL";
  }
  return "E_INTERNAL";
}

}  // namespace bertrt
