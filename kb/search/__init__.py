"""Search over a loaded build: retrieval and the decision (:mod:`kb.search.searcher`), score fusion and the
confidence model (:mod:`kb.search.fusion`), a large build's dense candidates (:mod:`kb.search.dense`), and
as-you-type suggestions (:mod:`kb.search.suggest`)."""
