"""Go's ``util.WriteThrottler``: maintenance copies (vacuum, volume copy) sleep so that their
writes stay under a byte rate and leave the disk to client traffic."""

from __future__ import annotations

import time


class WriteThrottle:
    def __init__(self, bytes_per_second: int) -> None:
        self.rate = bytes_per_second
        self.start = time.monotonic()
        self.written = 0

    def wrote(self, count: int) -> None:
        """Account ``count`` bytes; sleep while ahead of the rate (a rate <= 0 never sleeps)."""
        if self.rate <= 0:
            return
        self.written += count
        ahead = self.written / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)
