"""Articles, the knowledge base's source: parsing Markdown with front matter (:mod:`kb.articles.parse`),
rendering answers (:mod:`kb.articles.render`), checking a folder (:mod:`kb.articles.lint`), editing front matter
(:mod:`kb.articles.edit`), importing and exporting (:mod:`kb.articles.importer`, :mod:`kb.articles.export`) and
the shared benchmark sets' format (:mod:`kb.articles.benchmarks`)."""
