"""The settings of one `sender drain` process.

Flags and environment variables (cli.py) win; what they leave unset comes from
wheels.settings (shared by all senders, so one UPDATE retunes them all), and
the rest are defaults here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sender.store import KEY_MEMORY_H
from wheels_core.errors import ConfigError

DEFAULT_VISIBILITY_TIMEOUT_S = 30
DEFAULT_POLL_INTERVAL_S = 5.0
MAX_BATCH = 100


@dataclass(frozen=True)
class DrainConfig:
    once: bool = False
    # None: from wheels.settings (sender_rate_limit_per_s); <= 0: no limit.
    rate_limit_per_s: float | None = None
    # How long a batch's calls may keep failing for a transient reason before its
    # intents are dead-lettered; None: from wheels.settings (sender_give_up_after_hours).
    give_up_after_s: float | None = None
    batch_size: int = MAX_BATCH
    # How long a read message stays hidden from other senders: longer than a
    # provider call with its timeout, short enough that a killed sender's
    # messages come back soon.
    visibility_timeout_s: int = DEFAULT_VISIBILITY_TIMEOUT_S
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    # First delay of the exponential backoff after a transient failure.
    retry_initial_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ConfigError(f"batch size must be 1 to {MAX_BATCH}, not {self.batch_size}")
        if self.visibility_timeout_s < 1:
            raise ConfigError("the visibility timeout must be at least 1 second")
        if self.poll_interval_s <= 0:
            raise ConfigError("the poll interval must be positive")
        if self.give_up_after_s is not None and not 0 < self.give_up_after_s < KEY_MEMORY_H * 3600:
            raise ConfigError(f"the give-up age must be more than 0 and under {KEY_MEMORY_H} hours (the provider "
                              f"forgets idempotency keys after 24 h), not {self.give_up_after_s / 3600:g} hours")
        if self.retry_initial_s < 0:
            raise ConfigError("the initial retry delay cannot be negative")

    def with_database_settings(self, row: dict) -> DrainConfig:
        """Fill what flags left unset from wheels.settings (the `settings` query's row)."""
        return DrainConfig(**{
            **self.__dict__,
            "rate_limit_per_s": float(row["rate_limit_per_s"]) if self.rate_limit_per_s is None else self.rate_limit_per_s,
            "give_up_after_s": row["give_up_after_s"] if self.give_up_after_s is None else self.give_up_after_s,
        })
