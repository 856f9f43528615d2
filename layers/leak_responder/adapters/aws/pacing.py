"""Pacing the one urgent call of a containment through IAM throttling.

botocore's own retries do not fit that call (measured in make bench and in
tests/chaos/test_attack_deactivate_first.py): its back-off can outlast the responder's timeout
on a single key, and its retry quota, per client and so per container, stops retrying at all
after a burst of throttling, which is exactly when the call matters most. So the urgent client
makes one attempt per call (clients.URGENT_CLIENT_CONFIG) and this pacer tries again, within a
budget that leaves room for the rest of the batch.

Adaptive: the wait between tries is shared by every urgent call to one account in this
container. A throttled try doubles it (up to ``cap``), a success halves it, so a worker settles
near the pace IAM accepts instead of every call starting a new retry storm. Each wait is drawn
from its upper half at random, so workers that were throttled together do not retry together.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from leak_responder.domain.errors import TransientError

T = TypeVar("T")

# The responder's timeout is 60 s and a batch holds 10 keys: a key that IAM refuses for this
# long fails its own record (retried by the queue), and the batch still has time left.
URGENT_BUDGET_SECONDS = 4.0
FLOOR_SECONDS = 0.02
CAP_SECONDS = 1.0

# Real time unless a pacer is given its own: make bench sets these to its model's time scale.
SLEEP: Callable[[float], None] = time.sleep
CLOCK: Callable[[], float] = time.monotonic


class UrgentPacer:
    def __init__(
        self,
        budget: float = URGENT_BUDGET_SECONDS,
        floor: float = FLOOR_SECONDS,
        cap: float = CAP_SECONDS,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.budget = budget
        self.floor = floor
        self.cap = cap
        self._sleep = sleep
        self._clock = clock
        self._draw = draw
        self._lock = threading.Lock()
        self.delay = 0.0  # the current wait after a throttled try; 0 while IAM accepts
        self.tries = 0
        self.throttled = 0

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` (which raises TransientError when refused), tried again until the budget
        is spent; then the last TransientError."""
        sleep, clock = self._sleep or SLEEP, self._clock or CLOCK
        deadline = clock() + self.budget
        while True:
            try:
                with self._lock:
                    self.tries += 1
                result = call()
            except TransientError:
                with self._lock:
                    self.throttled += 1
                    self.delay = min(self.cap, max(self.floor, self.delay * 2))
                    wait = self.delay * (0.5 + self._draw() / 2)
                if clock() + wait > deadline:
                    raise
                sleep(wait)
                continue
            with self._lock:
                self.delay = self.delay / 2 if self.delay > self.floor else 0.0
            return result
