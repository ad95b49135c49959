"""The one learning policy: evidence (:mod:`kb.feedback.evidence`) and the editors' decisions in, learned
questions out. The server's /admin list, ``kb learn``, ``kb build`` (:func:`kb.pipeline.gated_build`) and
``kb eval --learn-from`` (:mod:`kb.evaluate`) all call :func:`learn`, so what is measured is what is served.

A learned question is a customer's wording added to an article at the next build, as one more entry
(``field="learned"``) and folded into the article's whole passage and words (:func:`kb.index.build.learned_entries`):
it inherits the article's audience, so nothing learned for an agents-only article reaches customers. A pair
(wording, article) ends in one of four states:

* ``live``: in the next build (KB_LEARN=auto and the guards passed, or an editor accepted it);
* ``pending``: waits for an editor (outside kb's own top 3, a wording another article holds, the article's cap,
  KB_LEARN=review ...), the reason says which;
* ``rejected``: an editor said no, and it sticks whatever evidence comes later;
* ``vetoed``: at least as many distinct clients said "not helpful" as said it answered.

Pairs with too little evidence yet are not listed; nor are pairs of articles that are gone or unpublished,
wordings that are already an editor-written question (title, question, section) of an article (the editors'
own questions win), and pairs an editor promoted into the article file (they hold their wording for good).

The guards, in order:

1. Only kb's own top 3 is learned by itself: each client's evidence counts towards ``live`` only when kb
   ranked the article within :attr:`Policy.top` for the wording when it was recorded (the server's rank).
   Evidence pointing further away (a customer who found the article by browsing, a reformulation to a
   far-off article, or a wrong article) makes the pair ``pending``, for the editors. So no number of clients
   can teach kb an article it does not already consider plausible. Inside that set, a customer's vote for the
   article kb ranks first adds a wording to it; a vote for kb's 2nd or 3rd article (a re-ranking) counts only
   once corroborated: another client confirmed that article while kb ranked it first (for any wording, or for a
   similar one with :attr:`Policy.similar` above 0). A crowd pointing wordings at wrong articles finds no
   such anchor unless honest customers gave one, and then guard 4 stops its clients.
2. Evidence weighs by signal, one client once per pair (its strongest signal): a client weighs
   ``1 / Policy.need(signal)`` and a pair needs weight 1. One customer's "helpful" (or an agent's copy) is
   enough; "reformulated" needs 2 distinct clients, "opened" 3 (or any mix: one reformulation and two opens).
3. Negatives veto: "not helpful" from as many or more distinct clients than the positive ones. A client that
   said both counts as negative.
4. A customer behind more than :attr:`Policy.solo_pairs` pairs (a script, or one address shared by many), or
   behind :attr:`Policy.wayward_after` or more of which most point away from kb's first article (honest customers
   mostly confirm what kb found; a bot steering wordings to other articles does the opposite), teaches nothing
   alone: its pairs wait for another client or an editor. Agents are exempt (trusted).
   Nor do customers overturn a confident answer: evidence for another article than the one kb answered the
   wording with outright (the server records whether it did) waits for an editor (agents may).
5. Audience: customers' evidence counts only for public articles (they never see the others; such evidence is
   forged), agents' evidence for any; ``copied`` only from agents.
6. One article per wording (never both): the one with the most distinct clients (ties: the better rank).
7. At most :attr:`Policy.per_article` learned wordings per article; wordings over
   :data:`~kb.limits.MAX_WORDING_CHARS` characters are never learned.

Editors: ``rejected`` always wins; ``accepted`` makes a pair live in any mode and wins its wording.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import lru_cache

from kb.articles.parse import Article
from kb.feedback.evidence import SIGNALS, Evidence, EvidenceRow, normalise_wording
from kb.limits import MAX_WORDING_CHARS
from kb.settings import LEARN_MODES

# the codes of Learned.why: live (accepted, guards), rejected, vetoed, pending (review, outside, untrusted,
# overturns, rerank, partial, taken, full)
WHY = ("accepted", "guards", "rejected", "vetoed", "review", "outside", "untrusted", "overturns", "rerank", "partial",
       "taken", "full")
MODES = LEARN_MODES  # KB_LEARN: auto = guarded pairs go live; review = an editor accepts each; off
STATES = ("live", "pending", "rejected", "vetoed")
POSITIVE = ("helpful", "copied", "reformulated", "opened")


@dataclass(frozen=True)
class Policy:
    """The learning policy's constants. The defaults were chosen as follows (``scripts/bench_learning.py``
    measures them on the shared dev sets: learning from half the dev queries, evaluated on the other half).

    * ``top=3``: kb's own top 3 holds the right article for 93-99% of the learning halves' wordings (BANKING77
      93%, StackFAQ 96%, paraKQC 99%), so little honest evidence waits for an editor, while a random wrong
      article is in it for at most 1.6% of wordings (BANKING77's 77 close intents; 0.05% on paraKQC).
    * ``customer_top=3``, ``corroborate=True``, ``similar=0``: a customer's vote may move a wording to kb's 2nd
      or 3rd article once another client confirmed that article as kb's first answer (any wording). Measured
      learning from half the dev queries (``scripts/bench_learning.py``), evaluated on the other half, hit@1:
      paraKQC .9345 -> .9516, StackFAQ .9209 -> .9620, BANKING77 .7831 -> .8333; with ``customer_top=1``
      (customers only ever add wordings to kb's first article) about .9444 / .9494 / .8056 before the
      wordings were folded into the passage (2026-12-03), and with no anchor asked the same or +0.3-0.4 points
      on 4-fold runs (paraKQC .9588 against .9548): the anchor is what stops a crowd of one-vote clients at
      wrong articles inside the top 3 (each line of an events file another client). ``similar=0.2`` (the anchor's
      wording must share a fifth of its character pairs) cost paraKQC another 0.4 points and stopped nothing
      more in the poison runs, so it is a knob.
    * ``wayward_after=3``: a customer behind 3 pairs or more, most of them for other articles than kb's first,
      teaches nothing alone. It is what stops hundreds of clients pointing wordings at kb's own runner-up
      (hit@1 of those wordings, half split: paraKQC and StackFAQ unchanged, BANKING77 .7831 -> .7751, against
      .9074 / .8797 / .5463 without it) and a crowd mixed with honest customers (before, 3-4 of its pairs went
      live and moved BANKING77's poisoned wordings .8333 -> .8280); honest customers' figures are unchanged.
    * ``customer_confident=False``: True would let customers teach only wordings kb answered outright. It stops
      nearly all of a crowd pointing wordings at kb's runner-up (hit@1 of those wordings paraKQC 0.9345 ->
      0.9336, StackFAQ unchanged, BANKING77 0.7831 -> 0.7791, against 0.9191 / 0.9019 / 0.7540 without it) but
      leaves little of the gain (held-out 0.9372 / 0.9241 / 0.7897; measured 2026-12-03, before wordings were folded
      into passages and before ``wayward_after``): a knob for a shop under attack, not a default.
    * ``helpful=1``, ``copied=1``: an explicit judgement of the answer, by a customer or a trusted agent.
    * ``reformulated=2``: the second search may ask something else than the first.
    * ``opened=3``: opening an article and leaving may be satisfaction or giving up.
    * ``solo_pairs=20``: a customer's visits give a few pairs; twenty is a script or a shared address.
    * ``keep_confident=True``: when kb answered a wording outright (decision ``answer``, right 95-99% of the
      time on the dev sets), customers' evidence for another article waits for an editor. It holds back 11 of
      BANKING77's 759 honest votes and 15 of paraKQC's 2,275 without changing held-out hit@1 (0.8108, 0.9516
      either way; 2026-12-03), and it stops 336 of 752 pairs when hundreds of clients point wordings at kb's own
      runner-up (the poison the top-3 guard cannot see; BANKING77).
    * ``per_article=50``: room for the ways customers ask one thing (BANKING77's learning half teaches up to 16
      per intent), without letting one article swallow the index.
    """

    top: int = 3
    customer_top: int = 3
    customer_confident: bool = False
    helpful: int = 1
    copied: int = 1
    reformulated: int = 2
    opened: int = 3
    solo_pairs: int = 20
    keep_confident: bool = True
    per_article: int = 50
    max_chars: int = MAX_WORDING_CHARS
    corroborate: bool = True
    similar: float = 0.0
    wayward_after: int = 3

    def need(self, signal: str) -> int:
        """Distinct clients with this signal (alone) that a pair needs."""
        return max(1, int(getattr(self, signal)))


DEFAULT_POLICY = Policy()


@dataclass(frozen=True)
class Learned:
    """A (wording, article) pair as the policy sees it: its state, why, and the evidence behind it."""

    wording: str
    article_id: str
    state: str  # live | pending | rejected | vetoed
    reason: str
    clients: int = 0  # distinct clients for it (positive, not vetoing)
    helpful: int = 0  # distinct clients per signal
    opened: int = 0
    reformulated: int = 0
    copied: int = 0
    unhelpful: int = 0
    best_rank: int | None = None  # kb's best rank of the article for the wording among that evidence
    decision: str | None = None  # the editors' decision, if any
    audience: str = "public"  # the article's: where the learned question is searchable
    why: str = ""  # the reason as a code, for pages in other languages (see WHY); ``reason`` is its English text
    held_by: str = ""  # why == "taken": the article that holds the wording


Pair = dict[str, dict[str, EvidenceRow]]  # client -> signal -> its row (one per client, pair and signal)


def _better(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _weigh(pair: Pair, policy: Policy, untrusted: set[str], backed: frozenset[str]
           ) -> tuple[set[str], set[str], Fraction, Fraction]:
    """(positive clients, negative clients, weight inside the top-N guard, weight overall)."""
    negative = {c for c, signals in pair.items() if "unhelpful" in signals}
    positive = {c for c, signals in pair.items() if c not in negative and any(s in signals for s in POSITIVE)}
    inside = overall = Fraction(0)
    for client in positive:
        rows = [pair[client][s] for s in POSITIVE if s in pair[client]]
        overall += max(Fraction(1, policy.need(r.signal)) for r in rows)
        inside += max((Fraction(1, policy.need(r.signal)) for r in rows
                       if _counts_alone(r, client, policy, untrusted, client in backed)),
                      default=Fraction(0))
    return positive, negative, inside, overall


def _untrusted(rows: Iterable[EvidenceRow], policy: Policy) -> set[str]:
    """Customers whose evidence teaches nothing alone: behind more than :attr:`Policy.solo_pairs` pairs (a script,
    a shared address), or behind :attr:`Policy.wayward_after` pairs or more of which most point away from kb's
    first article (an honest customer mostly confirms what kb found; a bot pointing wordings at other articles,
    random ones or kb's runner-ups, does the opposite)."""
    best: dict[str, dict[tuple[str, str], int | None]] = defaultdict(dict)
    for r in rows:
        if r.audience == "public" and r.signal in POSITIVE:
            seen = best[r.client]
            key = (r.query, r.article_id)
            seen[key] = _better(seen[key], r.rank) if key in seen else r.rank
    out = set()
    for client, seen in best.items():
        away = sum(1 for rank in seen.values() if rank is None or rank > 1)
        if len(seen) > policy.solo_pairs or (len(seen) >= policy.wayward_after and away > len(seen) / 2):
            out.add(client)
    return out


def _counts_alone(row: EvidenceRow, client: str, policy: Policy, untrusted: set[str], backed: bool) -> bool:
    """Whether a row may make its pair live without an editor: kb ranked the article within its top N, a
    customer's re-ranking is ``backed`` (:func:`_backed`), and neither an untrusted customer (:func:`_untrusted`)
    nor a customer overturning kb's confident answer (another article answered outright) sent it; agents are
    trusted with all of these."""
    if row.rank is None or row.rank > policy.top:
        return False
    if row.audience == "agents":
        return True
    if row.rank > policy.customer_top:
        return False
    if row.rank > 1 and policy.corroborate and not backed:
        return False  # a customer's re-ranking that no other client's confirmation of the article anchors
    if policy.customer_confident and row.confident is False:
        return False
    overturns = policy.keep_confident and bool(row.confident) and row.rank > 1
    return client not in untrusted and not overturns


def learn(rows: Iterable[EvidenceRow], decisions: Mapping[tuple[str, str], str], articles: Iterable[Article],
          mode: str = "auto", policy: Policy = DEFAULT_POLICY) -> list[Learned]:
    """Every pair that has enough evidence or an editor's decision, with its state (see the module's guards),
    sorted by article and wording. ``mode`` is KB_LEARN: ``off`` learns nothing (an empty list)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return []
    published = {a.id: a for a in articles if a.published}
    written = {normalise_wording(q) for a in published.values()
               for q in (a.title, *a.questions, *(s.question for s in a.sections))}
    # normalised again (idempotent): rows stored by an older kb fold into today's wordings
    rows = [replace(r, query=normalise_wording(r.query)) for r in rows]
    decisions = {(normalise_wording(w), a): d for (w, a), d in decisions.items()}

    untrusted = _untrusted(rows, policy)

    pairs: dict[tuple[str, str], Pair] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        article = published.get(r.article_id)
        if article is None or r.signal not in SIGNALS:
            continue
        if r.audience != "agents" and (not article.public or r.signal == "copied"):
            continue  # customers never see agents-only articles and cannot copy in /agent: forged
        signals = pairs[(r.query, r.article_id)][r.client]
        kept = signals.get(r.signal)
        if kept is None or _better(kept.rank, r.rank) != kept.rank:
            signals[r.signal] = r
    for key, said in decisions.items():  # an editor's decision is listed even when its evidence was pruned
        if key[1] in published and said in ("accepted", "rejected"):
            pairs.setdefault(key, defaultdict(dict))

    held = {w for (w, a), d in decisions.items() if d == "promoted" and a in published}
    anchors = _anchors(pairs, untrusted)
    candidates: list[Learned] = []
    for (wording, article_id), pair in sorted(pairs.items()):
        if not wording or len(wording) > policy.max_chars or wording in written or wording in held:
            continue
        decision = decisions.get((wording, article_id))
        backed = _backed(wording, article_id, pair, anchors, policy)
        positive, negative, inside, overall = _weigh(pair, policy, untrusted, backed)
        best: int | None = None
        for client in positive:
            for row in pair[client].values():
                best = _better(best, row.rank) if row.signal in POSITIVE else best
        if decision == "rejected":
            state, why, reason = "rejected", "rejected", "rejected by an editor"
        elif decision == "accepted":
            state, why, reason = "live", "accepted", "accepted by an editor"
        elif negative and len(negative) >= len(positive):
            state, why = "vetoed", "vetoed"
            reason = f"{len(negative)} client(s) said not helpful, {len(positive)} said it answered"
        elif overall < 1:
            continue  # not enough evidence yet
        elif mode == "review":
            state, why, reason = "pending", "review", "KB_LEARN=review: an editor accepts each pair"
        elif inside >= 1:
            state, why, reason = "live", "guards", f"{len(positive)} client(s); kb's rank {best}"
        else:
            overturns = any(r.confident and (r.rank or 0) > 1 for c in positive for r in pair[c].values())
            state = "pending"
            why, reason = _why_pending(best, policy, positive & untrusted, overturns)
        n = {s: sum(1 for signals in pair.values() if s in signals) for s in SIGNALS}
        candidates.append(Learned(
            wording, article_id, state, reason, clients=len(positive), helpful=n["helpful"], opened=n["opened"],
            reformulated=n["reformulated"], copied=n["copied"], unhelpful=n["unhelpful"], best_rank=best,
            decision=decision, audience=published[article_id].audience, why=why))
    return _one_article_per_wording_and_caps(candidates, policy)


@lru_cache(maxsize=4096)
def _bigrams(wording: str) -> frozenset[str]:
    """Character pairs of a wording without its spaces (so 환불언제 and 환불 언제 read alike)."""
    text = "".join(wording.split())
    return frozenset(text[i:i + 2] for i in range(len(text) - 1)) or frozenset([text])


Anchors = dict[str, list[tuple[str, str]]]  # article -> (wording, client) that confirmed it as kb's first


def _anchors(pairs: Mapping[tuple[str, str], Pair], untrusted: set[str]) -> Anchors:
    """Per article, the wordings a client confirmed it for while kb ranked it first (any positive signal), but not
    a client that teaches nothing alone (guard 4): its confirmations anchor nothing either."""
    out: Anchors = defaultdict(list)
    for (wording, article_id), pair in pairs.items():
        for client, signals in pair.items():
            if client not in untrusted and any(s in POSITIVE and r.rank == 1 for s, r in signals.items()):
                out[article_id].append((wording, client))
    return out


def _alike(a: str, b: str, similar: float) -> bool:
    """Whether two wordings share at least ``similar`` of their character pairs (Jaccard); any two do at 0."""
    if similar <= 0:
        return True
    mine, theirs = _bigrams(a), _bigrams(b)
    return len(mine & theirs) >= similar * len(mine | theirs)


def _backed(wording: str, article_id: str, pair: Pair, anchors: Anchors, policy: Policy) -> frozenset[str]:
    """The clients of a pair whose re-ranking is corroborated: another client confirmed the article while kb
    ranked it first, for another wording (one alike, with :attr:`Policy.similar` above 0)."""
    if not any(r.rank is not None and 1 < r.rank <= policy.customer_top for rows in pair.values()
               for r in rows.values()):
        return frozenset()  # nothing to corroborate: no re-ranking here
    return frozenset(client for client in pair
                     if any(other != wording and by != client and _alike(wording, other, policy.similar)
                            for other, by in anchors.get(article_id, ())))


def _why_pending(best: int | None, policy: Policy, untrusted: set[str], overturns: bool) -> tuple[str, str]:
    """Why a pair with enough evidence waits for an editor: (code, English text)."""
    if best is None or best > policy.top:
        where = "not in its top 10" if best is None else f"at rank {best}"
        return "outside", (f"kb has the article {where} for this wording, outside its top {policy.top}: "
                           "an editor decides")
    if untrusted:
        return "untrusted", (f"from a client behind more than {policy.solo_pairs} pairs, or behind "
                             f"{policy.wayward_after} or more pointing mostly away from kb's first article: needs "
                             "another client or an editor")
    if policy.keep_confident and overturns:
        return "overturns", "kb answers this wording with another article: only an editor overturns a confident answer"
    if best > 1:
        return "rerank", ("kb ranks another article first for this wording: a customer moves it only once another "
                          "customer confirmed this article as kb's first answer; an agent's copy or an editor can")
    return "partial", f"part of the evidence is outside kb's top {policy.top}: needs more clients or an editor"


def _rank_key(item: Learned) -> tuple[bool, int, float, str, str]:
    """Who keeps a contested place: an editor's acceptance, then most clients, then the better rank."""
    rank = float("inf") if item.best_rank is None else float(item.best_rank)
    return (item.decision != "accepted", -item.clients, rank, item.article_id, item.wording)


def _one_article_per_wording_and_caps(candidates: list[Learned], policy: Policy) -> list[Learned]:
    live = sorted((c for c in candidates if c.state == "live"), key=_rank_key)
    owner: dict[str, str] = {}
    per_article: dict[str, int] = defaultdict(int)
    demoted: dict[tuple[str, str], Learned] = {}
    for item in live:
        if item.wording in owner:
            demoted[(item.wording, item.article_id)] = replace(
                item, state="pending", why="taken", held_by=owner[item.wording],
                reason=f"the wording is learned for {owner[item.wording]}")
        elif item.decision != "accepted" and per_article[item.article_id] >= policy.per_article:
            demoted[(item.wording, item.article_id)] = replace(
                item, state="pending", why="full", reason=f"the article has {policy.per_article} learned wordings")
        else:
            owner[item.wording] = item.article_id
            per_article[item.article_id] += 1
    out = [demoted.get((c.wording, c.article_id), c) for c in candidates]
    return sorted(out, key=lambda c: (c.article_id, c.wording))


def verdict(evidence: Evidence, articles: Iterable[Article], mode: str = "auto",
            policy: Policy = DEFAULT_POLICY) -> list[Learned]:
    """:func:`learn` on everything a store holds (its evidence and the editors' decisions); raises
    ``StoreUnavailable`` when the store cannot be read."""
    return learn(evidence.rows(), evidence.decisions(), articles, mode, policy)


def live_questions(learned: Iterable[Learned]) -> dict[str, tuple[str, ...]]:
    """The build's input: article id -> its live learned wordings, sorted (a reproducible set)."""
    out: dict[str, list[str]] = defaultdict(list)
    for item in learned:
        if item.state == "live":
            out[item.article_id].append(item.wording)
    return {a: tuple(sorted(ws)) for a, ws in sorted(out.items())}
