"""Graph -> shapes: per-node shape inference (infer), the input sizes a model accepts (sizes), and
what the shapes cost (costs: parameters, MACs, activation memory)."""
