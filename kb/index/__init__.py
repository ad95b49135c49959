"""The index: building a complete build folder (:mod:`kb.index.build`), storing and loading it
(:mod:`kb.index.store`), its lexical side (:mod:`kb.index.lexical`), suggestion data
(:mod:`kb.index.suggestions`) and a large build's approximate index (:mod:`kb.index.ann`)."""
