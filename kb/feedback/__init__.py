"""What customers and editors tell kb: votes, unanswered searches and the search log (:mod:`kb.feedback.store`)
on one of two engines (:mod:`kb.feedback.sqlite`, :mod:`kb.feedback.postgres`, chosen by
:mod:`kb.feedback.connect`), the gap report (:mod:`kb.feedback.gaps`, marked by :mod:`kb.feedback.gapmarks`) and
one-click fixes (:mod:`kb.feedback.fixes`)."""
