"""What a `with` block starts and always stops: the harness's routers, paths and processes."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """`with` calls `start`, then `stop` when the block ends, even after a failure.

    Subclasses define `stop`, and `start` unless they are running once made.
    """

    def start(self) -> object:
        """Start (nothing to do for what runs once made)."""
        return None

    def stop(self) -> object:
        """Stop and clean up (safe to repeat)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Start; the block gets this object."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop, whatever the block did."""
        self.stop()
