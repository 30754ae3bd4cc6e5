"""A stop request (SIGTERM, Ctrl-C) that cannot be lost.

A signal handler raises its exception in whatever the main thread runs at that moment. When that is a finaliser
(matplotlib drops figure references in `__del__` callbacks while the learning curves are redrawn), Python prints
"Exception ignored" and the run goes on as if nothing happened. The handler therefore also records the request
here, and the training loop raises it at its next safe point (every step and after every epoch).
"""

from __future__ import annotations

_PENDING: list[BaseException] = []


def request(exc: BaseException) -> BaseException:
    """Record a stop, to be raised by `raise_pending` if the handler's own raise is swallowed; returns `exc`."""
    _PENDING.append(exc)
    return exc


def raise_pending() -> None:
    if _PENDING:
        raise _PENDING.pop()


def clear() -> None:
    """The stop was handled (the run reported it): nothing left to raise in this process."""
    _PENDING.clear()
