"""From what the learner did to an FSRS rating: a colour change, a score of an answer, or a client's word.

| learner does                      | rating |
|-----------------------------------|--------|
| node turned red (not understood)  | again  |
| node turned purple (partly)       | hard   |
| node turned green (mastered)      | good   |
| answer scored below 60            | again  |
| answer scored 60-79               | hard   |
| answer scored 80+                 | good (easy from `review.easy_score`, when set) |
"""

from __future__ import annotations

from enum import IntEnum

from canvasd.errors import BodyFieldError

HARD_SCORE = 60
GOOD_SCORE = 80


class Rating(IntEnum):
    """FSRS's four grades (the same numbers as `fsrs.Rating`)."""

    AGAIN = 1
    HARD = 2
    GOOD = 3
    EASY = 4

    @property
    def word(self) -> str:
        """The rating as the API and the CLI spell it: again, hard, good, easy."""
        return self.name.lower()

    @classmethod
    def parse(cls, word: object) -> Rating:
        """A rating from its word; BodyFieldError for anything else."""
        if isinstance(word, str):
            try:
                return cls[word.strip().upper()]
            except KeyError:
                pass
        raise BodyFieldError(f"'rating' must be one of again, hard, good, easy (got {word!r})")


STATE_RATINGS: dict[str, Rating] = {
    "not_understood": Rating.AGAIN,
    "partly_understood": Rating.HARD,
    "mastered": Rating.GOOD,
}
"""Learning states that make a node a card, and the rating a change to each one gives."""


def rating_of_score(score: float, easy_score: int | None = None) -> Rating:
    """The rating an answer's score (0-100) earns: the same bands as the scorer's colours."""
    if easy_score is not None and score >= easy_score:
        return Rating.EASY
    if score >= GOOD_SCORE:
        return Rating.GOOD
    return Rating.HARD if score >= HARD_SCORE else Rating.AGAIN


def parse_score(value: object) -> float:
    """A score from a request body: a number from 0 to 100."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise BodyFieldError(f"'score' must be a number from 0 to 100 (got {value!r})")
    return float(value)
