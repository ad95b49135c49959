"""Request limits, defined once: the API, the web routes, the CLI and the searcher all read these."""

from __future__ import annotations

MAX_QUERY_CHARS = 512  # a search query, after whitespace is collapsed (long pastes are not questions)
# What a search reads of a query, so that a long one costs about what a question costs (issue 17: a 512-character
# query took ~100 ms of the server where a question takes ~20, and 12 of them a second slowed every customer).
# The model reads its first MAX_QUERY_TOKENS tokens (<s> and </s> included): the shared dev sets' queries have at
# most 89 (BANKING77, 5 of 1,515 over 62; paraKQC 38, StackFAQ 45; p99 48). The lexical and character scorers (and
# Kiwi) read its first MAX_ANALYSED_QUERY_CHARS characters, after NFKC (which may lengthen a text): 99.8% of the dev
# queries are shorter (BANKING77 has 3 longer, up to 367). hit@1 unchanged to the 4th decimal on every dev set
# (with 48 tokens BANKING77 lost one); a maximal query's model run takes about 3x a question's, not 10x.
MAX_QUERY_TOKENS = 64
MAX_ANALYSED_QUERY_CHARS = 256
# A search takes 1 from its client's search budget per started SEARCH_COST_CHARS characters of what it reads: a
# question 1 (dev queries: median 26-69 characters), a maximal query 4, about what it costs beside a question.
SEARCH_COST_CHARS = 64
MAX_K = 50  # results per search
DEFAULT_K = 5
MAX_SUGGEST_CHARS = 200  # what the box holds while typing; suggestions past that length match nothing useful
MAX_SUGGEST_LIMIT = 20  # suggestions per call (the page shows 8)
DEFAULT_SUGGEST_LIMIT = 8
MAX_FEEDBACK_QUERY_CHARS = 512  # the query stored with a vote or an unanswered report
# a wording kb may learn as a question (evidence longer than this is refused): 99% of the shared dev sets'
# queries are shorter than 190 characters; a longer text is a pasted message, not a way of asking
MAX_WORDING_CHARS = 200
MAX_ARTICLE_ID_CHARS = 200
MAX_LIST_LIMIT = 200  # rows of an editor's report

# `kb import` (a shop's FAQ file): generous for any real FAQ, small enough that a broken or hostile file ends in
# one clear error within seconds instead of minutes of work and gigabytes of memory. Settings KB_IMPORT_* raise
# them (kb.settings); these are the defaults.
IMPORT_MAX_BYTES = 32 * 1024 * 1024  # the file as stored
IMPORT_MAX_ROWS = 10_000  # rows (or JSON items): the largest shop FAQs seen hold a few thousand
IMPORT_MAX_CELL_CHARS = 65_536  # one cell; Python's csv refuses fields over 131,072 characters anyway
IMPORT_MAX_DEPTH = 64  # nesting of JSON values and of an answer's HTML elements (real ones: under 15)
IMPORT_MAX_XLSX_BYTES = 64 * 1024 * 1024  # an xlsx unzipped (declared sizes); 10,000 rows, 300-char answers: 9.5 MB


def search_cost(query: str) -> int:
    """What a search for ``query`` takes from its client's search budget (the rate limit counts work)."""
    return max(1, -(-min(len(query), MAX_ANALYSED_QUERY_CHARS) // SEARCH_COST_CHARS))
