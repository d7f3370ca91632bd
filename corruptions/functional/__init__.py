"""The math of every corruption: pure batched functions of tensors and drawn parameters."""
