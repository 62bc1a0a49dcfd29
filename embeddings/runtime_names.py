"""Names of the embedding runtimes, shared by the runtime chooser and the embedders."""

RUNTIME_TORCH_FP32 = "torch-fp32"
RUNTIME_ONNX_INT8 = "onnx-int8"
RUNTIME_TORCH_BF16 = "torch-bf16"
RUNTIMES = (RUNTIME_ONNX_INT8, RUNTIME_TORCH_FP32, RUNTIME_TORCH_BF16)
# The ONNX export that onnx-int8 indexes recorded no version for (SDPA attention graph).
LEGACY_ONNX_EXPORT = "qint8-matmul-per-channel-v1"
