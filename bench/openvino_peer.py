#!/usr/bin/env python3
"""OpenVINO as a benchmark peer: bench/openvino.ts starts this in tools/.venv (`pip install openvino nncf`) and
sends one JSON request a line on stdin; each answer is one JSON line on stdout. Every time reported is measured
here, around the inference call alone (and the pooling, for "embed"), so the pipe costs nothing to OpenVINO.
  {"op": "load", "onnx": PATH, "precision": "fp32" | "bf16" | "int8", "threads": N (0: OpenVINO's default), "calibration": [BATCH, ...]}
      fp32 and bf16 compile the ONNX export with that inference precision; int8 first quantizes it with NNCF's
      post-training quantization (static, the transformer preset) on the calibration batches, then compiles it
      with OpenVINO's default precision for the rest of the graph. -> {"version", "precision_hint", "inputs", "threads"}
  {"op": "time", "batch": BATCH, "calls": N} -> {"seconds": [one per call]}
  {"op": "embed", "batches": [BATCH, ...]} -> {"seconds": [one per batch], "vectors": base64 float32, row-major}
      mean pooling over each row's real tokens, then L2 normalization, as sentence-transformers does
A BATCH is {"ids": flat list, "mask": flat list, "rows": R, "len": L}: R rows padded to L tokens.
"""
import base64
import json
import os
import sys
import time

import numpy as np
import openvino as ov


def feeds(b, inputs):
    shape = (b["rows"], b["len"])
    ids = np.asarray(b["ids"], dtype=np.int64).reshape(shape)
    mask = np.asarray(b["mask"], dtype=np.int64).reshape(shape)
    f = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in inputs:
        f["token_type_ids"] = np.zeros(shape, dtype=np.int64)
    return f


def main():
    # answers go to a private copy of stdout; whatever the libraries print (NNCF's progress) goes to stderr
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    compiled = request = None
    inputs = []
    for line in sys.stdin:
        msg = json.loads(line)
        op = msg["op"]
        if op == "load":
            core = ov.Core()
            model = core.read_model(msg["onnx"])
            inputs = [i.get_any_name() for i in model.inputs]
            config = {"NUM_STREAMS": "1", "PERFORMANCE_HINT": "LATENCY"}
            if int(msg["threads"]) > 0:  # 0: OpenVINO's own choice
                config["INFERENCE_NUM_THREADS"] = int(msg["threads"])
            if msg["precision"] == "int8":
                import nncf

                data = [feeds(b, inputs) for b in msg["calibration"]]
                model = nncf.quantize(model, nncf.Dataset(data), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(data))
            else:
                config["INFERENCE_PRECISION_HINT"] = "f32" if msg["precision"] == "fp32" else "bf16"
            compiled = core.compile_model(model, "CPU", config)
            request = compiled.create_infer_request()
            answer = {"version": ov.get_version(), "precision_hint": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                      "inputs": inputs, "threads": int(compiled.get_property("INFERENCE_NUM_THREADS"))}
        elif op == "time":
            f = feeds(msg["batch"], inputs)
            request.infer(f)  # the first call of a shape compiles it
            seconds = []
            for _ in range(int(msg["calls"])):
                t = time.perf_counter()
                request.infer(f)
                seconds.append(time.perf_counter() - t)
            answer = {"seconds": seconds}
        elif op == "embed":
            seconds, vectors = [], []
            for b in msg["batches"]:
                f = feeds(b, inputs)
                t = time.perf_counter()
                hidden = request.infer(f)[compiled.output(0)]
                m = f["attention_mask"][..., None].astype(np.float32)
                v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
                v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
                seconds.append(time.perf_counter() - t)
                vectors.append(v.astype(np.float32))
            answer = {"seconds": seconds, "vectors": base64.b64encode(np.concatenate(vectors).tobytes()).decode()}
        else:
            answer = {"error": f"unknown op {op!r}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
