"""Request limits, defined once: the API, the web routes, the CLI and the searcher all read these."""

from __future__ import annotations

MAX_QUERY_CHARS = 512  # a search query, after whitespace is collapsed (long pastes are not questions)
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
