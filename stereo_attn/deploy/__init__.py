"""Deployment: the network exported to ONNX, and ONNX Runtime as an inference backend."""
