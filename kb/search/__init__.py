"""Search over a loaded build: retrieval and the decision (:mod:`kb.search.searcher`), score fusion and the
confidence model (:mod:`kb.search.fusion`), and as-you-type suggestions (:mod:`kb.search.suggest`)."""
