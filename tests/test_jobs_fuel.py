"""fuel_consumption: the full-tank average per vehicle, with 0, 1, 2+ fills and zero distance."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


def vehicle(conn, name: str, fills: list[tuple[str, str, str]]) -> int:
    """A vehicle with fills of (litres, odometer_km, filled_at)."""
    user_id = conn.execute(
        "INSERT INTO profiles (email) VALUES (%s) RETURNING id", [f"{name}@example.com"]
    ).fetchone()["id"]
    vehicle_id = conn.execute(
        "INSERT INTO vehicles (user_id, name) VALUES (%s, %s) RETURNING id", [user_id, name]
    ).fetchone()["id"]
    for liters, odometer, filled_at in fills:
        conn.execute(
            "INSERT INTO fuel_logs (vehicle_id, liters, odometer_km, filled_at) VALUES (%s, %s, %s, %s)",
            [vehicle_id, liters, odometer, filled_at],
        )
    return vehicle_id


def consumption(conn) -> dict[int, Decimal | None]:
    return {row["id"]: row["avg_l_per_100km"] for row in conn.execute("SELECT id, avg_l_per_100km FROM vehicles")}


def run(conn) -> str:
    return conn.execute("SELECT wheels.fuel_consumption() AS r").fetchone()["r"]


def test_full_tank_average_per_vehicle(conn):
    none = vehicle(conn, "none", [])
    one = vehicle(conn, "one", [("45", "1000", "2026-11-01")])
    two = vehicle(conn, "two", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08")])
    # Entered out of order: odometer order decides which fill is the first.
    three = vehicle(conn, "three", [("35", "10900", "2026-11-20"), ("50", "10000", "2026-11-01"), ("30", "10400", "2026-11-10")])
    parked = vehicle(conn, "parked", [("20", "5000", "2026-11-01"), ("5", "5000", "2026-11-02")])

    assert run(conn) == "fuel_consumption: 2 vehicles updated, 2 measured, 1 skipped: zero distance"

    assert consumption(conn) == {
        none: None, one: None, parked: None,
        two: Decimal("6.00"),  # 30 L over 500 km
        three: Decimal("7.22"),  # (30 + 35) L over 900 km
    }
    updated = conn.execute("SELECT count(*) AS n FROM vehicles WHERE consumption_updated_at IS NOT NULL").fetchone()["n"]
    assert updated == 2


def test_rerun_writes_only_what_changed(conn):
    two = vehicle(conn, "two", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08")])
    run(conn)
    stamp = conn.execute("SELECT consumption_updated_at FROM vehicles").fetchone()["consumption_updated_at"]

    assert run(conn) == "fuel_consumption: 0 vehicles updated, 1 measured"
    assert conn.execute("SELECT consumption_updated_at FROM vehicles").fetchone()["consumption_updated_at"] == stamp

    conn.execute("INSERT INTO fuel_logs (vehicle_id, liters, odometer_km) VALUES (%s, 60, 2000)", [two])
    assert run(conn) == "fuel_consumption: 1 vehicles updated, 1 measured"
    assert consumption(conn)[two] == Decimal("9.00")  # (30 + 60) L over 1000 km


def test_a_typo_in_a_reading_does_not_fail_the_job(conn):
    # 500 L over 0.1 km would be 500000 L/100 km: more than the column holds.
    typo = vehicle(conn, "typo", [("40", "1000", "2026-11-01"), ("500", "1000.1", "2026-11-02")])
    fine = vehicle(conn, "fine", [("40", "1000", "2026-11-01"), ("30", "1500", "2026-11-08")])

    assert run(conn) == "fuel_consumption: 1 vehicles updated, 1 measured, 1 skipped: over 10000 L/100 km"
    assert consumption(conn) == {typo: None, fine: Decimal("6.00")}


def test_no_vehicles(conn):
    assert run(conn) == "fuel_consumption: 0 vehicles updated, 0 measured"
