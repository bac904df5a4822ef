"""The FusionSolar simulator itself, over raw HTTP: it must be as strict as the real service."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from fusionbridge.clock import VirtualClock
from fusionbridge.core.models import Month
from fusionbridge.fusionsolar import wire
from fusionbridge.simulator.fleet import Fleet, FleetSpec, Style, day_style
from fusionbridge.simulator.fusionsolar import Fault, FusionSolarSimulator, SimulatorConfig
from tests.fusionsolar_harness import SECRET, START, USER

Http = TestClient[Any, Any]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def sim(clock: VirtualClock) -> FusionSolarSimulator:
    return FusionSolarSimulator(SimulatorConfig(clock=clock, window_s=60, token_lifetime_s=1800))


@pytest.fixture
async def http(sim: FusionSolarSimulator, aiohttp_client: AiohttpClient) -> Http:
    client: Http = await aiohttp_client(sim.app)
    return client


async def _login(http: Http, secret: str = SECRET) -> tuple[int, str, str | None]:
    response = await http.post("/thirdData/login", json={"userName": USER, "systemCode": secret})
    text = await response.text()
    cookie = response.cookies.get("XSRF-TOKEN")
    token = response.headers.get("xsrf-token") or (cookie.value if cookie else None)
    return response.status, text, token


async def _post(http: Http, endpoint: str, token: str | None, **body: object) -> Any:
    headers = {"XSRF-TOKEN": token} if token else {}
    response = await http.post(f"/thirdData/{endpoint}", json=body, headers=headers)
    return await response.json()


def test_the_fleet_is_deterministic_and_varied() -> None:
    fleet = Fleet(FleetSpec())
    again = Fleet(FleetSpec())
    assert fleet.plants == again.plants
    assert fleet.devices == again.devices
    types = {d.type_id for d in fleet.devices}
    assert types == {1, 38, 39, 47, 62}
    assert max(sum(1 for d in fleet.devices if d.type_id == t) for t in (1, 38)) > 100
    zones = {p.zone.key for p in fleet.plants}
    assert {"America/Sao_Paulo", "Asia/Tokyo", "Europe/Amsterdam"} <= zones
    big = Fleet(FleetSpec(plants=250, inverters=1000))
    assert len(big.inverters()) == 1000
    day = date(2025, 6, 10)
    device = fleet.inverters()[0].id
    assert fleet.device_day(device, day) == again.device_day(device, day)
    assert Fleet(FleetSpec(seed=1)).device_day(device, day) != fleet.device_day(device, day)


def test_fleets_with_different_offsets_share_no_id_or_plant_code() -> None:
    first, second = (
        Fleet(FleetSpec(plants=4, inverters=40)),
        Fleet(FleetSpec(plants=4, inverters=40, offset=1)),
    )
    assert (first.plants[0].code, min(d.id for d in first.devices)) == (
        "NE=33554432",
        1_000_000_035_000_000,
    )
    assert not {d.id for d in first.devices} & {d.id for d in second.devices}
    assert not {p.code for p in first.plants} & {p.code for p in second.plants}
    assert len(second.inverters()) == 40


def test_documented_day_styles() -> None:
    assert [day_style(date(2025, 4, d)) for d in (4, 5, 6, 7, 8)] == [
        Style.NUMBER,
        Style.GAP,
        Style.NULL,
        Style.NA,
        Style.STRING,
    ]


def test_plant_days_are_sums_of_their_inverters(sim: FusionSolarSimulator) -> None:
    fleet = sim.fleet
    plant = fleet.plants[3]
    month = Month(2025, 6)
    for n, (style, milli) in enumerate(fleet.plant_days(plant.code, month)):
        parts = [fleet.device_days(d.id, month)[n] for d in fleet.inverters(plant.code)]
        valued = [m for s, m in parts if s.has_value]
        if style.has_value:
            assert milli == sum(valued)
        else:
            assert milli == 0


def test_truth_month_is_the_exact_sum_of_truth_days(sim: FusionSolarSimulator) -> None:
    device = sim.fleet.inverters()[7].id
    month = Month(2025, 8)
    days = [sim.expected_day_kwh(device, d) for d in month.days()]
    assert sim.expected_month_kwh(device, month) == sum((d for d in days if d), start=Decimal(0))
    assert all(d is None or d == d.quantize(Decimal("0.001")) for d in days)
    assert sim.expected_month_kwh(device, Month(2026, 1)) is None  # the future has no data


async def test_login_sends_the_token_in_header_and_cookie(http: Http) -> None:
    response = await http.post("/thirdData/login", json={"userName": USER, "systemCode": SECRET})
    body = await response.json()
    assert body["success"] is True
    assert body["failCode"] == 0
    token = response.headers["xsrf-token"]
    assert token.startswith("x-")
    assert response.cookies["XSRF-TOKEN"].value == token


async def test_wrong_credentials_get_an_empty_200_then_lock_the_account(
    http: Http, sim: FusionSolarSimulator, clock: VirtualClock
) -> None:
    for _ in range(5):
        status, text, token = await _login(http, "wrong")
        assert (status, text, token) == (200, "", None)
        clock.advance(61)
    clock.advance(600)  # past the login limit window, inside the 30-minute lock
    status, text, token = await _login(http, SECRET)
    assert token is None
    assert wire.decode_json(text) == {
        "success": False,
        "failCode": 20400,
        "message": "user locked",
        "data": None,
        "params": {"currentTime": int(clock.now().timestamp() * 1000)},
    }
    clock.advance(26 * 60)
    assert (await _login(http))[2] is not None


async def test_more_than_five_logins_in_ten_minutes_get_407(
    http: Http, clock: VirtualClock
) -> None:
    for _ in range(5):
        assert (await _login(http))[2] is not None
        clock.advance(60)
    _, text, token = await _login(http)
    assert token is None
    assert '"failCode": 407' in text
    clock.advance(6 * 60)
    assert (await _login(http))[2] is not None


async def test_tokens_expire_and_each_login_replaces_the_previous(
    http: Http, sim: FusionSolarSimulator, clock: VirtualClock
) -> None:
    _, _, first = await _login(http)
    assert (await _post(http, "getStationList", first))["success"] is True
    _, _, second = await _login(http)
    expired = await _post(http, "getStationList", first)
    assert expired == {"failCode": 305, "immediately": True, "message": "USER_MUST_RELOGIN"}
    clock.advance(1800)
    assert (await _post(http, "getStationList", second))["failCode"] == 305
    assert (await _post(http, "getStationList", None))["failCode"] == 305


async def test_each_endpoint_has_its_own_window(http: Http, clock: VirtualClock) -> None:
    _, _, token = await _login(http)
    assert (await _post(http, "getStationList", token))["success"] is True
    assert (await _post(http, "stations", token, pageNo=1))["success"] is True
    limited = await _post(http, "getStationList", token)
    assert limited["failCode"] == 407
    assert limited["data"] == "ACCESS_FREQUENCY_IS_TOO_HIGH"
    clock.advance(60)
    assert (await _post(http, "getStationList", token))["success"] is True


async def test_daily_cap_answers_20618_until_the_next_day(
    clock: VirtualClock, aiohttp_client: AiohttpClient
) -> None:
    sim = FusionSolarSimulator(SimulatorConfig(clock=clock, daily_caps={"getDevList": 2}))
    http: Http = await aiohttp_client(sim.app)
    _, _, token = await _login(http)
    code = sim.fleet.plants[0].code
    for _ in range(2):
        assert (await _post(http, "getDevList", token, stationCodes=code))["success"] is True
    assert (await _post(http, "getDevList", token, stationCodes=code))["failCode"] == 20618
    clock.advance(24 * 3600)
    _, _, token = await _login(http)
    assert (await _post(http, "getDevList", token, stationCodes=code))["success"] is True


@pytest.mark.parametrize(
    ("endpoint", "body", "code"),
    [
        (
            "getKpiStationDay",
            {"stationCodes": ",".join(f"NE={i}" for i in range(101)), "collectTime": 1},
            20014,
        ),
        ("getDevList", {"stationCodes": ",".join(f"NE={i}" for i in range(101))}, 20015),
        (
            "getDevKpiMonth",
            {"devTypeId": 1, "devIds": ",".join(str(i) for i in range(101)), "collectTime": 1},
            20016,
        ),
        ("getDevRealKpi", {"devTypeId": 1, "devIds": ",".join(str(i) for i in range(101))}, 20017),
        ("stations", {"pageNo": 1, "pageSize": 25}, 30006),
        ("getKpiStationDay", {"stationCodes": "NE=33554432"}, 20012),
        ("getKpiStationMonth", {"stationCodes": "", "collectTime": 1}, 20010),
    ],
)
async def test_batching_and_parameter_limits(
    http: Http, endpoint: str, body: dict[str, object], code: int
) -> None:
    _, _, token = await _login(http)
    answer = await _post(http, endpoint, token, **body)
    assert answer["success"] is False
    assert answer["failCode"] == code


async def test_wrong_device_types_are_refused(http: Http, sim: FusionSolarSimulator) -> None:
    _, _, token = await _login(http)
    inverter = next(d for d in sim.fleet.devices if d.type_id == 1)
    residential = next(d for d in sim.fleet.devices if d.type_id == 38)
    dongle = next(d for d in sim.fleet.devices if d.type_id == 62)
    at = wire.epoch_ms(START)
    mixed = f"{inverter.id},{residential.id}"
    assert (await _post(http, "getDevKpiDay", token, devTypeId=1, devIds=mixed, collectTime=at))[
        "failCode"
    ] == 20006
    clock_free = await _post(
        http, "getDevKpiMonth", token, devTypeId=62, devIds=str(dongle.id), collectTime=at
    )
    assert clock_free["failCode"] == 20013
    unknown = await _post(http, "getDevRealKpi", token, devTypeId=1, devIds="123")
    assert unknown["success"] is True
    assert unknown["data"] == []


async def test_history_is_limited_to_365_days(http: Http, clock: VirtualClock) -> None:
    _, _, token = await _login(http)
    old = wire.epoch_ms(clock.now() - timedelta(days=366))
    recent = wire.epoch_ms(clock.now() - timedelta(days=300))
    assert (
        await _post(http, "getKpiStationMonth", token, stationCodes="NE=33554432", collectTime=old)
    )["failCode"] == 20026
    clock.advance(61)
    assert (
        await _post(
            http, "getKpiStationMonth", token, stationCodes="NE=33554432", collectTime=recent
        )
    )["success"] is True


async def test_stations_pages_have_no_params_and_legacy_list_is_in_mw(
    http: Http, sim: FusionSolarSimulator
) -> None:
    _, _, token = await _login(http)
    page = await _post(http, "stations", token, pageNo=1, pageSize=10)
    assert "params" not in page
    assert page["data"]["pageCount"] == 2
    assert len(page["data"]["list"]) == 10
    legacy = await _post(http, "getStationList", token)
    first = sim.fleet.plants[0]
    assert Decimal(str(legacy["data"][0]["capacity"])) * 1000 == first.capacity_kwp


async def test_faults_are_served_in_order(http: Http, sim: FusionSolarSimulator) -> None:
    sim.inject(
        Fault("http502", endpoint="getStationList"),
        Fault("http403", endpoint="getStationList"),
    )
    _, _, token = await _login(http)
    first = await http.post(
        "/thirdData/getStationList", json={}, headers={"XSRF-TOKEN": str(token)}
    )
    assert first.status == 502
    assert "<html>" in await first.text()
    second = await http.post(
        "/thirdData/getStationList", json={}, headers={"XSRF-TOKEN": str(token)}
    )
    assert second.status == 403
    assert (await second.json())["errorCode"] == "49401021002"
    third = await http.post(
        "/thirdData/getStationList", json={}, headers={"XSRF-TOKEN": str(token)}
    )
    assert third.status == 200
    assert sim.count("getStationList") == 3
    assert sim.served["getStationList"] == 1
