"""The selection step: which offered candidates the user picked, and what each account holds.

Picks are the candidates' ids, in the order given, each once; an id the connection did not
offer is refused (the whole selection, not just that id). A candidate with its own token (a
Facebook page, the page behind an Instagram account) publishes with it; the others (LinkedIn
organisations, YouTube channels) with the user's token.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.domain.errors import UnknownCandidateError
from connector.domain.sessions import PendingCandidate

__all__ = ["choose"]


def choose(
    offered: Sequence[PendingCandidate], candidate_ids: Sequence[str]
) -> list[PendingCandidate]:
    by_id = {c.id: c for c in offered}
    unknown = [i for i in candidate_ids if i not in by_id]
    if unknown:
        raise UnknownCandidateError(unknown)
    return [by_id[i] for i in dict.fromkeys(candidate_ids)]
