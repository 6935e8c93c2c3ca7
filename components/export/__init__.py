"""ONNX towers with a parity check, the standalone folder, the MLflow pyfunc zero-shot model."""
