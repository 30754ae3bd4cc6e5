"""Export: torch model to ONNX with a parity check, and the deployable bundle."""
