{
  "targets": [
    {
      "target_name": "bertrt",
      "sources": [
        "native/core/status.cc",
        "native/core/thread_pool.cc",
        "native/core/cpu_features.cc",
        "native/core/knobs.cc",
        "native/core/mapped_file.cc",
        "native/core/runtime.cc",
        "native/cpu/dispatch.cc",
        "native/cpu/kernels_generic.cc",
        "native/cpu/kernels_avx2.cc",
        "native/cpu/kernels_avx512.cc",
        "native/cpu/kernels_avxvnni.cc",
        "native/cpu/kernels_avxvnni_evex.cc",
        "native/cpu/kernels_amx.cc",
        "native/model/weights.cc",
        "native/model/encoder.cc",
        "native/model/linear.cc",
        "native/model/bert_layer.cc",
        "native/model/modernbert.cc",
        "native/model/deberta.cc",
        "native/model/vocab.cc",
        "native/model/cuda_backend.cc",
        "native/onnx/onnx_model_stub.cc",
        "native/bench/microbench.cc",
        "native/addon/addon.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "BERTRT_VERSION=\"<!(node -p \"require('./package.json').version\")\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++1y", "-std=gnu++14"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
      "ldflags": ["-static-libstdc++", "-static-libgcc", "-pthread"],
      "libraries": ["-ldl"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" }
    }
  ]
}
