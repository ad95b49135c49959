"""The sentence model: choosing and loading it (:mod:`kb.model.embed`); the bundled e5 on ONNX Runtime
(:mod:`kb.model.onnx`) with its subword tokenizer (:mod:`kb.model.tokenizer`, reading tokenizer.json:
:mod:`kb.model.tokenizer_json`); and preparing it once from its package: the 4-bit file (:mod:`kb.model.source`,
:mod:`kb.model.q4`) converted into a sentence-transformers folder (:mod:`kb.model.bundled`, its tokenizer
:mod:`kb.model.hf_tokenizer`, prompts :mod:`kb.model.prompts`), exported to ONNX (:mod:`kb.model.export`, the only
place torch appears), each written into the cache whole or not at all (:mod:`kb.model.staging`)."""
