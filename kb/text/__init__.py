"""Text: Korean and English analysis for the lexical scorers (:mod:`kb.text.analysis`), Hangul helpers
(:mod:`kb.text.hangul`: jamo, 초성) and personal-data scrubbing (:mod:`kb.text.pii`)."""
