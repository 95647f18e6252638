"""The sender's small pieces: named queries, backoff, configuration, batch keys."""

from __future__ import annotations

import pytest

from sender import backoff
from sender.config import DrainConfig
from sender.store import batch_key, decode
from wheels_core import queries
from wheels_core.errors import ConfigError


def test_the_sender_queries_load_by_name():
    loaded = queries.load("sender")
    assert {"read", "set_vt", "archive", "create_batch", "finish_batch", "take_slot"} <= set(loaded)


def test_retry_delays_grow_exponentially_with_bounded_jitter_and_a_ceiling():
    for attempts in range(1, 6):
        base = backoff.INITIAL_DELAY_S * backoff.DELAY_FACTOR ** (attempts - 1)
        delay = backoff.retry_delay_s(attempts)
        assert base * (1 - backoff.DELAY_JITTER) <= delay <= base * (1 + backoff.DELAY_JITTER)
    assert backoff.retry_delay_s(40) == backoff.MAX_RETRY_DELAY_S


def test_reconnect_attempts_back_off_up_to_the_maximum():
    attempt = backoff.Attempt(initial_s=1.0, max_s=5.0)
    delays = [attempt.failed() for _ in range(6)]
    assert delays[0] <= 1.0 * (1 + backoff.DELAY_JITTER)
    assert delays == sorted(delays) and delays[-1] == 5.0


def test_an_attempt_starts_over_after_a_reset():
    attempt = backoff.Attempt(initial_s=1.0, max_s=5.0)
    first, second = attempt.failed(), attempt.failed()
    assert second > first
    attempt.reset()
    assert attempt.failed() <= 1.0 * (1 + backoff.DELAY_JITTER)


@pytest.mark.parametrize("text, size, reason", [
    (None, 40_000_001, "message 7 is 40000001 bytes, over the 40000000 limit"),
    ("[" * 5000 + "]" * 5000, 10_000, "message 7 is nested too deeply to decode"),
    ("1" + "0" * 5000, 5001, "message 7 cannot be decoded: Exceeds the limit (4300 digits)"),
])
def test_a_message_that_cannot_be_decoded_gives_a_reason_naming_it_instead_of_raising(text, size, reason):
    message, unreadable = decode(7, text, size)
    assert message is None and unreadable.startswith(reason) and "\n" not in unreadable


def test_a_message_decodes_to_python_values():
    assert decode(7, '{"a": [1, 2.5, null]}', 21) == ({"a": [1, 2.5, None]}, None)


def test_batch_keys_are_stable_for_one_membership_and_new_for_another():
    assert batch_key([(2, 20), (1, 10)]) == batch_key([(1, 10), (2, 20)])
    assert batch_key([(1, 10), (2, 20)]) != batch_key([(1, 10), (2, 21)])  # an intent replayed: a new message
    assert batch_key([(1, 10)]).startswith("wheels-") and len(batch_key([(1, 10)])) <= 256
    # The rest of a refused batch: a key no batch formed from the queue has, one per refused batch.
    assert batch_key([(1, 10)], split_from=7) not in (batch_key([(1, 10)]), batch_key([(1, 10)], split_from=8))


def test_flags_win_over_database_settings_and_fill_the_rest():
    row = {"give_up_after_s": 12 * 3600.0, "rate_limit_per_s": 2}
    assert DrainConfig().with_database_settings(row) == DrainConfig(give_up_after_s=43200.0, rate_limit_per_s=2.0)
    assert DrainConfig(rate_limit_per_s=0.0).with_database_settings(row).rate_limit_per_s == 0.0
    assert DrainConfig(give_up_after_s=60.0).with_database_settings(row).give_up_after_s == 60.0


@pytest.mark.parametrize("bad", [{"batch_size": 101}, {"batch_size": 0}, {"visibility_timeout_s": 0},
                                 {"give_up_after_s": 0}, {"give_up_after_s": 23 * 3600}, {"poll_interval_s": 0}])
def test_impossible_settings_are_a_config_error(bad):
    with pytest.raises(ConfigError):
        DrainConfig(**bad)
