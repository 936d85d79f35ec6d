"""`to_dict`: records as JSON-ready data with English names and ISO 8601 times."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from lacecal_async import Endpoint, decode, to_dict
from tests.support.samples import SAMPLES


def test_meter_record_to_json() -> None:
    record = decode(Endpoint.METER, (SAMPLES / "meter.json").read_bytes())[0]
    data = json.loads(json.dumps(to_dict(record)))
    assert data["unix_time"] == 1496660400
    assert data["start"] == "2017-06-05T13:00:00+02:00"
    assert datetime.fromisoformat(data["start"]).timestamp() == data["unix_time"]
    assert data["grid"]["rst"]["imported"] == 0.50605
    assert data["grid"]["t"] == {"imported": 0.04457, "exported": 0.27614}
    assert data["load"]["rst"] == 8.14814
    assert set(data) == {"unix_time", "start", "interval", "grid", "load", "renewable"}


def test_inverter_record_lists_each_inverter() -> None:
    record = decode(Endpoint.INVERTER, (SAMPLES / "inverter.json").read_bytes())[0]
    data = to_dict(record)
    assert data["total_energy"] == record.total_energy
    assert data["inverters"] == [{"id": i.id, "energy": i.energy} for i in record.inverters]
    json.dumps(data)


@pytest.mark.parametrize("wire_format", ["json", "xml"])
def test_inventory_and_missing_values_keep_their_keys(wire_format: str) -> None:
    inverters = decode(
        Endpoint.INVERTER_LIST, (SAMPLES / f"inverter_list.{wire_format}").read_bytes(), wire_format
    )
    data = [to_dict(inverter) for inverter in inverters]
    assert [d["name"] for d in data] == [i.name for i in inverters]
    assert all(set(d) == {"id", "name", "manufacturer", "model", "serial_number"} for d in data)
