"""fuel_consumption through the source contract (the demo source here): intervals
between full tanks, partial fills counted, the mean mpg of the last 10 intervals
from at least 3, L/100 km = 235.214583 / mpg, typos left out, changes only; and
only the vehicles of owners whose fills changed are measured (fuel_changed()
triggers, sql/0010_fuel_changes.sql), with the same result as measuring all."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

MPG_TIMES_L_PER_100KM = Decimal("235.214583")


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def vehicle(conn, name: str, fills: list[tuple]) -> int:
    """A vehicle with fills of (litres, odometer_km, filled_at[, full_tank])."""
    user_id = conn.execute(
        "INSERT INTO profiles (email) VALUES (%s) RETURNING id", [f"{name}@example.com"]
    ).fetchone()["id"]
    vehicle_id = conn.execute(
        "INSERT INTO vehicles (user_id, name) VALUES (%s, %s) RETURNING id", [user_id, name]
    ).fetchone()["id"]
    for liters, odometer, filled_at, *full in fills:
        conn.execute(
            "INSERT INTO fuel_logs (vehicle_id, liters, odometer_km, filled_at, full_tank) VALUES (%s, %s, %s, %s, %s)",
            [vehicle_id, liters, odometer, filled_at, full[0] if full else True],
        )
    return vehicle_id


def consumption(conn) -> dict[int, Decimal | None]:
    return {row["id"]: row["avg_l_per_100km"] for row in conn.execute("SELECT id, avg_l_per_100km FROM vehicles")}


def run(conn) -> str:
    return conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"]


def expected(*intervals: tuple[str, str]) -> Decimal:
    """L/100 km from intervals of (litres, km), the way the job computes it (mean mpg, rounded twice)."""
    mpg = sum(MPG_TIMES_L_PER_100KM / (Decimal(litres) * 100 / Decimal(km)) for litres, km in intervals) / len(intervals)
    return (MPG_TIMES_L_PER_100KM / mpg.quantize(Decimal("0.01"))).quantize(Decimal("0.01"))


def test_the_mean_mpg_of_full_tank_intervals_with_at_least_three(conn):
    none = vehicle(conn, "none", [])
    two_intervals = vehicle(conn, "two", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08"),
                                          ("35", "2000", "2026-11-15")])
    # Entered out of order: odometer order decides; a partial fill (False) adds its litres
    # to the interval that ends at the next full tank.
    three = vehicle(conn, "three", [
        ("35", "10900", "2026-11-20"), ("50", "10000", "2026-11-01"), ("30", "10400", "2026-11-10"),
        ("10", "11000", "2026-11-22", False), ("20", "11300", "2026-11-25"),
    ])
    assert run(conn) == "fuel_consumption: 1 vehicle updated, 1 measured, 1 with fewer than 3 full-tank intervals"
    assert consumption(conn) == {
        none: None, two_intervals: None,
        three: expected(("30", "400"), ("35", "500"), ("30", "400")),  # 10 + 20 L over 10900 -> 11300
    }
    assert conn.execute("SELECT count(*) AS n FROM vehicles WHERE consumption_updated_at IS NOT NULL").fetchone()["n"] == 1


def test_only_the_last_ten_intervals_count(conn):
    # Eleven intervals: the first one (at 20 L/100 km) is left out, the ten at 10 L/100 km remain.
    fills = [("1", "0", "2026-10-01"), ("100", "500", "2026-10-02")]
    fills += [("50", str(500 + 500 * i), f"2026-10-{2 + i:02d}") for i in range(1, 11)]
    car = vehicle(conn, "car", fills)
    run(conn)
    assert consumption(conn)[car] == Decimal("10.00")


def test_rerun_writes_only_what_changed(conn):
    car = vehicle(conn, "car", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08"),
                                ("30", "2000", "2026-11-15"), ("30", "2500", "2026-11-22")])
    run(conn)
    stamp = conn.execute("SELECT consumption_updated_at FROM vehicles").fetchone()["consumption_updated_at"]
    assert consumption(conn)[car] == Decimal("6.00")

    # No fill changed: nothing measured, nothing written.
    assert run(conn) == "fuel_consumption: 0 vehicles updated, 0 measured"
    assert conn.execute("SELECT consumption_updated_at FROM vehicles").fetchone()["consumption_updated_at"] == stamp

    conn.execute("INSERT INTO fuel_logs (vehicle_id, liters, odometer_km) VALUES (%s, 60, 3000)", [car])
    assert run(conn) == "fuel_consumption: 1 vehicle updated, 1 measured"
    assert consumption(conn)[car] == expected(("30", "500"), ("30", "500"), ("30", "500"), ("60", "500"))


def test_a_typo_in_a_reading_leaves_that_interval_out_and_fails_nothing(conn):
    # 500 L over 0.1 km would be 500000 L/100 km: that interval is left out; three good ones remain.
    typo = vehicle(conn, "typo", [("40", "1000", "2026-11-01"), ("500", "1000.1", "2026-11-02"),
                                  ("30", "1500.1", "2026-11-08"), ("30", "2000.1", "2026-11-15"),
                                  ("30", "2500.1", "2026-11-22")])
    assert run(conn) == "fuel_consumption: 1 vehicle updated, 1 measured"
    assert consumption(conn) == {typo: Decimal("6.00")}


def test_no_vehicles(conn):
    assert run(conn) == "fuel_consumption: 0 vehicles updated, 0 measured"


def measure_all(conn) -> dict[int, Decimal | None]:
    """What a run measuring every vehicle stores (as after install), in a transaction rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO wheels.fuel_changes (user_id) VALUES (NULL)")
        run(conn)
        return consumption(conn)


def test_only_vehicles_whose_fills_changed_are_measured_and_equal_a_full_measure(conn):
    fills = [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08"), ("30", "2000", "2026-11-15"),
             ("30", "2500", "2026-11-22")]
    edited, added, deleted, untouched = (vehicle(conn, name, fills) for name in ("edited", "added", "deleted", "untouched"))
    run(conn)  # the first run after install measures every vehicle
    # The app writes a stored value of its own for the untouched vehicle: no fill of it changed,
    # so it is not measured again and the value stays.
    conn.execute("UPDATE vehicles SET avg_l_per_100km = 99 WHERE id = %s", [untouched])
    conn.execute("UPDATE fuel_logs SET liters = 45 WHERE vehicle_id = %s AND odometer_km = 2500", [edited])
    conn.execute("INSERT INTO fuel_logs (vehicle_id, liters, odometer_km) VALUES (%s, 60, 3000)", [added])
    conn.execute("DELETE FROM fuel_logs WHERE vehicle_id = %s AND odometer_km = 2500", [deleted])
    assert run(conn) == "fuel_consumption: 2 vehicles updated, 2 measured, 1 with fewer than 3 full-tank intervals"
    after = consumption(conn)
    assert after[edited] == expected(("30", "500"), ("30", "500"), ("45", "500"))
    assert after[added] == expected(("30", "500"), ("30", "500"), ("30", "500"), ("60", "500"))
    assert after[deleted] == Decimal("6.00")  # two intervals left: not measurable, the old value stays
    assert after[untouched] == Decimal("99")
    assert {v: after[v] for v in (edited, added, deleted)} == {v: measure_all(conn)[v] for v in (edited, added, deleted)}
    assert run(conn) == "fuel_consumption: 0 vehicles updated, 0 measured"


def test_a_vehicle_given_to_another_owner_or_an_owner_moving_zone_is_measured_again(conn):
    fills = [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08"), ("30", "2000", "2026-11-15"),
             ("30", "2500", "2026-11-22")]
    car, van = vehicle(conn, "car", fills), vehicle(conn, "van", fills)
    run(conn)
    conn.execute("UPDATE vehicles SET avg_l_per_100km = NULL")  # so a measure shows as a write
    conn.execute("UPDATE vehicles SET user_id = (SELECT id FROM profiles WHERE email = 'van@example.com')"
                 " WHERE id = %s", [car])
    assert run(conn) == "fuel_consumption: 2 vehicles updated, 2 measured"
    conn.execute("UPDATE vehicles SET avg_l_per_100km = NULL")
    conn.execute("UPDATE profiles SET timezone = 'Australia/Perth' WHERE email = 'van@example.com'")
    assert run(conn) == "fuel_consumption: 2 vehicles updated, 2 measured"
    assert consumption(conn) == {car: Decimal("6.00"), van: Decimal("6.00")}


def test_a_trigger_that_fails_has_every_vehicle_measured_and_fails_no_app_write(conn):
    car = vehicle(conn, "car", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08"),
                                ("30", "2000", "2026-11-15"), ("30", "2500", "2026-11-22")])
    run(conn)
    conn.execute("UPDATE vehicles SET avg_l_per_100km = NULL")
    conn.execute("ALTER FUNCTION wheels.record_fuel_changes(uuid[]) RENAME TO record_fuel_changes_gone")
    try:
        conn.execute("INSERT INTO fuel_logs (vehicle_id, liters, odometer_km) VALUES (%s, 30, 3000)", [car])
    finally:
        conn.execute("ALTER FUNCTION wheels.record_fuel_changes_gone(uuid[]) RENAME TO record_fuel_changes")
    assert conn.execute("SELECT array_agg(user_id) AS u FROM wheels.fuel_changes").fetchone()["u"] == [None]
    assert run(conn) == "fuel_consumption: 1 vehicle updated, 1 measured"
