"""What customers, agents and editors tell kb, kept on one of two engines (:mod:`kb.feedback.sqlite`,
:mod:`kb.feedback.postgres`, chosen by :mod:`kb.feedback.connect`): votes, unanswered searches and the search log
(:mod:`kb.feedback.store`), editors' sign-ins (:mod:`kb.feedback.signins`), fix status
(:mod:`kb.feedback.fixjobs`), evidence for learning (:mod:`kb.feedback.evidence`) and the one learning policy
(:mod:`kb.feedback.learning`), and the gap report (:mod:`kb.feedback.gaps`, marked by
:mod:`kb.feedback.gapmarks`)."""
