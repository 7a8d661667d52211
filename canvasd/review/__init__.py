"""Spaced repetition of the canvases: FSRS cards from the learning colours, a daily review canvas.

- `rating`: the rules from a colour change, a score or a client's word to an FSRS rating;
- `clock`: the time and the learner's local day, passed in (a test passes its own clock);
- `schedule`: one FSRS card per concept node, reviewed and rebuilt from its log with `fsrs`;
- `store`: cards and the review log in SQLite under the data dir (WAL, one writer);
- `review_canvas`: the day's review canvas as one write request through the engine;
- `subsystem`: the follower of the change feed that turns colour changes into reviews and builds the canvas.
"""
