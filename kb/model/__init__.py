"""The sentence model: choosing and loading it (:mod:`kb.model.embed`), the bundled e5 on ONNX Runtime
(:mod:`kb.model.onnx`) with its subword tokenizer (:mod:`kb.model.tokenizer`), and preparing it from its package
(:mod:`kb.model.bundled`, the only place torch appears)."""
