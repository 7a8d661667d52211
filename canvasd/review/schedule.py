"""FSRS for concept nodes: `fsrs` 6.x with no learning steps (a minute-long step means nothing for a canvas).

A card's schedule is what `fsrs.Card` holds; the review log keeps each review's rating and time, which is all
`Scheduler.reschedule_card` needs to rebuild a card (after new parameters, or to check the stored one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from canvasd.review.rating import Rating

if TYPE_CHECKING:
    import fsrs

    from canvasd.config import ReviewSettings

NEW, LEARNING, REVIEW, RELEARNING = 0, 1, 2, 3
STATE_NAMES = {NEW: "new", LEARNING: "learning", REVIEW: "review", RELEARNING: "relearning"}
"""A card's FSRS state as the API names it; `new`: never reviewed (FSRS calls it Learning, step 0)."""


@dataclass(slots=True)
class Schedule:
    """One card's FSRS state: what `fsrs.Card` holds, in plain values (times as unix seconds)."""

    state: int
    due: float
    stability: float | None = None
    difficulty: float | None = None
    last_review: float | None = None
    step: int | None = 0

    @classmethod
    def new(cls, at: float) -> Schedule:
        """A card never reviewed, due at `at`."""
        return cls(LEARNING, at)

    @property
    def state_name(self) -> str:
        """new, learning, review or relearning."""
        return "new" if self.last_review is None else STATE_NAMES.get(self.state, "review")


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Spacing:
    """The FSRS scheduler canvasd uses, configured from `review.*`."""

    def __init__(self, settings: ReviewSettings) -> None:
        import fsrs

        self._fsrs = fsrs
        self.scheduler = fsrs.Scheduler(
            desired_retention=settings.desired_retention, learning_steps=(), relearning_steps=(),
            maximum_interval=settings.maximum_interval_days, enable_fuzzing=False)
        decay = -float(self.scheduler.parameters[20])
        self._decay = decay
        self._factor = 0.9 ** (1 / decay) - 1

    def card(self, card_id: int, schedule: Schedule) -> fsrs.Card:
        """The `fsrs.Card` of a stored schedule."""
        return self._fsrs.Card(
            card_id=card_id, state=self._fsrs.State(schedule.state), step=schedule.step,
            stability=schedule.stability, difficulty=schedule.difficulty, due=_utc(schedule.due),
            last_review=None if schedule.last_review is None else _utc(schedule.last_review))

    def review(self, card_id: int, schedule: Schedule, rating: Rating, at: float) -> Schedule:
        """The schedule after a review at `at`."""
        card, _ = self.scheduler.review_card(self.card(card_id, schedule), self._fsrs.Rating(int(rating)),
                                             review_datetime=_utc(at))
        return _schedule(card)

    def rebuild(self, card_id: int, created: float, reviews: list[tuple[float, Rating]]) -> Schedule:
        """The schedule `reschedule_card` derives from the scheduled reviews (time, rating) of a card."""
        fsrs = self._fsrs
        logs = [fsrs.ReviewLog(card_id=card_id, rating=fsrs.Rating(int(rating)), review_datetime=_utc(at),
                               review_duration=None) for at, rating in reviews]
        return _schedule(self.scheduler.reschedule_card(fsrs.Card(card_id=card_id, due=_utc(created)), logs))

    def retrievability(self, schedule: Schedule, at: float) -> float:
        """The predicted recall probability at `at` (0 for a card never reviewed): `get_card_retrievability`'s
        formula, without building a card (the due list computes it for every due card)."""
        if schedule.last_review is None or not schedule.stability:
            return 0.0
        elapsed_days = max(0, int((at - schedule.last_review) // 86400))
        return float((1 + self._factor * elapsed_days / schedule.stability) ** self._decay)


def _schedule(card: fsrs.Card) -> Schedule:
    return Schedule(int(card.state), card.due.timestamp(), card.stability, card.difficulty,
                    None if card.last_review is None else card.last_review.timestamp(), card.step)
