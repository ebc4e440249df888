"""Tests of the unit registry (streams/registry.py) and the real config/units.csv."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from streams.core.errors import ConfigError
from streams.core.localtime import local_date, local_midnight_ms
from streams.core.registry import HEADER, LEGACY_HEADER, Unit, UnitRegistry, default_units_path

HEADER_LINE = ",".join(LEGACY_HEADER)
"""The error cases below use the pre-lineage 6-column header: it must keep loading."""
LINEAGE_LINE = ",".join(HEADER)


@pytest.fixture(scope="module")
def registry() -> UnitRegistry:
    return UnitRegistry.load(default_units_path())


def write_csv(tmp_path: Path, *rows: str, header: str = HEADER_LINE) -> Path:
    path = tmp_path / "units.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- the real file


def test_default_path_is_repo_config() -> None:
    path = default_units_path()
    assert path.parts[-2:] == ("config", "units.csv")
    assert path.is_file()
    assert path.read_text(encoding="utf-8").splitlines()[0] == LINEAGE_LINE


def test_real_registry_counts_and_order(registry: UnitRegistry) -> None:
    # The 83 units of seed 001's appendix in their old positions, then the one unit created by
    # the 2025 reorganisation (Bộ Nông nghiệp và Môi trường): old rows are never removed.
    assert len(registry) == 84
    kinds = [u.kind for u in registry.units]
    assert kinds == ["ministry"] * 20 + ["province"] * 63 + ["ministry"]
    assert len(set(registry.codes)) == 84
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]{1,31}", c) for c in registry.codes)
    assert registry.codes[0] == "BHXH_VN"
    assert registry.codes[19] == "NHNN_VN"
    assert registry.codes[20] == "AN_GIANG"
    assert registry.codes[82] == "YEN_BAI"
    assert registry.codes[-1] == "BO_NNMT"
    assert [registry.index_of(c) for c in registry.codes] == list(range(84))


def test_real_registry_validity_columns(registry: UnitRegistry) -> None:
    for unit in registry.units[:83]:
        assert unit.valid_from == date(2022, 6, 24)
        assert unit.vendor  # seed 003 names a vendor for every unit of the appendix
        if unit.successor is None:
            assert unit.valid_to is None
        elif unit.kind == "province":  # Resolution 202/2025/QH15: new provinces from 1 July
            assert unit.valid_to == date(2025, 6, 30)
        else:  # Resolution 176/2025/QH15: new ministries operate from 1 March
            assert unit.valid_to == date(2025, 2, 28)
    new = registry.get("BO_NNMT")
    assert new is not None
    assert (new.name_vi, new.valid_from, new.valid_to, new.vendor) == (
        "Bộ Nông nghiệp và Môi trường",
        date(2025, 3, 1),
        None,
        None,
    )


def test_real_registry_has_34_provinces_on_2026_01_01(registry: UnitRegistry) -> None:
    valid = registry.valid_at(local_midnight_ms(date(2026, 1, 1)))
    provinces = [u.code for u in valid if u.kind == "province"]
    ministries = [u.code for u in valid if u.kind == "ministry"]
    assert len(provinces) == 34
    assert len(ministries) == 15  # 14 ministries + NHNN of Resolution 176 present, plus BHXH
    assert "HA_GIANG" not in provinces and "TUYEN_QUANG" in provinces
    assert {"BO_KHDT", "BO_TTTT", "BO_GTVT", "BO_LDTBXH", "BO_TNMT", "BO_NNPTNT"}.isdisjoint(
        ministries
    )
    # The eleven provinces Resolution 202/2025/QH15 left unchanged have no predecessor.
    unchanged = {"HA_NOI", "THUA_THIEN_HUE", "LAI_CHAU", "DIEN_BIEN", "SON_LA", "LANG_SON",
                 "QUANG_NINH", "THANH_HOA", "NGHE_AN", "HA_TINH", "CAO_BANG"}  # fmt: skip
    assert {c for c in provinces if not registry.predecessors(c)} == unchanged
    # the day before: the 63 provinces of 2024 (the ministries changed on 1 March already)
    before = registry.valid_at(local_midnight_ms(date(2025, 7, 1)) - 1)
    assert sum(u.kind == "province" for u in before) == 63
    assert len(registry.valid_at(local_midnight_ms(date(2025, 3, 1)) - 1)) == 83


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("HA_GIANG", "TUYEN_QUANG"),
        ("YEN_BAI", "LAO_CAI"),
        ("BAC_KAN", "THAI_NGUYEN"),
        ("VINH_PHUC", "PHU_THO"),
        ("HOA_BINH", "PHU_THO"),
        ("BINH_PHUOC", "DONG_NAI"),
        ("LONG_AN", "TAY_NINH"),
        ("KIEN_GIANG", "AN_GIANG"),
        ("BINH_DUONG", "HO_CHI_MINH"),
        ("BO_KHDT", "BO_TAI_CHINH"),
        ("BO_TTTT", "BO_KHCN"),
        ("BO_GTVT", "BO_XAY_DUNG"),
        ("BO_LDTBXH", "BO_NOI_VU"),
        ("BO_TNMT", "BO_NNMT"),
        ("BO_NNPTNT", "BO_NNMT"),
    ],
)
def test_real_registry_successors(registry: UnitRegistry, old: str, new: str) -> None:
    unit = registry.get(old)
    assert unit is not None and unit.successor == new
    assert old in registry.predecessors(new)
    assert unit.valid_until_ms is not None
    assert registry.reporting_code(old, unit.valid_until_ms - 1) == old
    assert registry.reporting_code(old, unit.valid_until_ms) == new
    assert registry.rollup(unit.valid_until_ms)[old] == new
    assert old not in registry.rollup(unit.valid_until_ms - 1)


@pytest.mark.parametrize(
    ("code", "name", "kind", "vendor"),
    [
        ("BHXH_VN", "Bảo hiểm Xã hội Việt Nam", "ministry", "Tecapro"),
        ("BO_QUOC_PHONG", "Bộ Quốc phòng", "ministry", "Viettel"),
        ("BO_GTVT", "Bộ Giao thông vận tải", "ministry", "Viettel + FDS"),
        ("BO_LDTBXH", "Bộ Lao động - Thương binh và Xã hội", "ministry", "EDX"),
        ("BO_VHTTDL", "Bộ Văn hóa, Thể thao và Du lịch", "ministry", "FPT"),
        ("NHNN_VN", "Ngân hàng Nhà nước Việt Nam", "ministry", "Tự xây dựng"),
        ("CAN_THO", "TP. Cần Thơ", "province", "Unitech"),
        ("HA_NOI", "TP. Hà Nội", "province", "FPT"),
        ("HO_CHI_MINH", "TP. Hồ Chí Minh", "province", "VNPT"),
        ("THUA_THIEN_HUE", "Thừa Thiên - Huế", "province", "Tự xây dựng"),
        ("BA_RIA_VUNG_TAU", "Bà Rịa - Vũng Tàu", "province", "INET"),
        ("SOC_TRANG", "Sóc Trăng", "province", "Đại học Cần Thơ"),
        ("DAK_LAK", "Đắk Lắk", "province", "VNPT"),
        ("BAC_LIEU", "Bạc Liêu", "province", "CINOTEC"),
    ],
)
def test_real_registry_spot_checks(
    registry: UnitRegistry, code: str, name: str, kind: str, vendor: str
) -> None:
    unit = registry.get(code)
    assert unit is not None
    assert (unit.name_vi, unit.kind, unit.vendor) == (name, kind, vendor)
    assert code in registry


def test_lookup_api(registry: UnitRegistry) -> None:
    assert registry.get("NOWHERE") is None
    assert "NOWHERE" not in registry
    with pytest.raises(KeyError):
        registry.index_of("NOWHERE")
    now = local_midnight_ms(date(2024, 1, 18))
    assert registry.valid_at(now) == registry.units[:83]
    assert registry.valid_at(local_midnight_ms(date(2022, 6, 24)) - 1) == ()
    assert registry.validity("HA_NOI", now) == "ok"
    assert registry.validity("NOWHERE", now) == "unknown_unit"


# ---------------------------------------------------------------- local-date validity


def test_local_date_helpers() -> None:
    # 2025-01-01 00:00 in Ho Chi Minh City is 2024-12-31 17:00 UTC.
    midnight = 1_735_664_400_000
    assert local_midnight_ms(date(2025, 1, 1)) == midnight
    assert local_date(midnight) == date(2025, 1, 1)
    assert local_date(midnight - 1) == date(2024, 12, 31)


def test_validity_on_local_date_boundaries(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "OLD_UNIT,Tỉnh cũ,province,2025-01-01,2025-06-30,")
    registry = UnitRegistry.load(path)
    unit = registry.get("OLD_UNIT")
    assert unit is not None and unit.vendor is None
    first = local_midnight_ms(date(2025, 1, 1))  # 00:00:00.000 local on valid_from
    after = local_midnight_ms(date(2025, 7, 1))  # 00:00:00.000 local the day after valid_to
    last = after - 1  # 23:59:59.999 local on valid_to
    assert not unit.is_valid_at(first - 1)  # 2024-12-31 23:59:59.999 local
    assert unit.is_valid_at(first)
    assert unit.is_valid_at(last)
    assert not unit.is_valid_at(after)
    assert registry.validity("OLD_UNIT", first - 1) == "outside_validity"
    assert registry.validity("OLD_UNIT", last) == "ok"
    assert registry.validity("OLD_UNIT", after) == "outside_validity"
    assert registry.valid_at(after) == ()
    assert (unit.valid_from_ms, unit.valid_until_ms) == (first, after)


def test_single_day_validity_and_open_end() -> None:
    one_day = Unit("ONE_DAY", "X", "province", date(2025, 7, 1), date(2025, 7, 1), None)
    start = local_midnight_ms(date(2025, 7, 1))
    assert one_day.is_valid_at(start) and one_day.is_valid_at(start + 86_400_000 - 1)
    assert not one_day.is_valid_at(start + 86_400_000)
    open_end = Unit("OPEN_END", "Y", "ministry", date(2025, 7, 1), None, "VNPT")
    assert open_end.is_valid_at(start + 100 * 365 * 86_400_000)
    assert open_end.valid_until_ms is None


# ---------------------------------------------------------------- ConfigError cases

GOOD = "AN_GIANG,An Giang,province,2022-06-24,,VNPT"


@pytest.mark.parametrize(
    ("rows", "row", "column", "why"),
    [
        ([GOOD, "AN_GIANG,An Giang 2,province,2022-06-24,,"], 3, "unit_code", "duplicate"),
        (["an_giang,An Giang,province,2022-06-24,,"], 2, "unit_code", "does not match"),
        (["A,Short,province,2022-06-24,,"], 2, "unit_code", "does not match"),
        ([GOOD, "X" * 33 + ",Long,province,2022-06-24,,"], 3, "unit_code", "does not match"),
        ([GOOD, "HUE,Huế,city,2022-06-24,,"], 3, "kind", "unknown kind"),
        (["HUE,Huế,province,24/06/2022,,"], 2, "valid_from", "bad date"),
        (["HUE,Huế,province,2022-13-01,,"], 2, "valid_from", "bad date"),
        (["HUE,Huế,province,,,"], 2, "valid_from", "empty"),
        (["HUE,Huế,province,2022-06-24,2022-02-30,"], 2, "valid_to", "bad date"),
        ([GOOD, GOOD.replace("AN_GIANG", "HUE"), "X1,X,province,2025-07-01,2025-06-30,"], 4,
         "valid_to", "before valid_from"),
        (["HUE,,province,2022-06-24,,"], 2, "name_vi", "empty"),
    ],
)  # fmt: skip
def test_config_errors_name_file_row_column(
    tmp_path: Path, rows: list[str], row: int, column: str, why: str
) -> None:
    path = write_csv(tmp_path, *rows)
    with pytest.raises(ConfigError) as info:
        UnitRegistry.load(path)
    message = str(info.value)
    assert str(path) in message
    assert f"row {row}" in message
    assert f"column {column}" in message
    assert why in message


def test_bad_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, header="code,name,kind,valid_from,valid_to,vendor")
    with pytest.raises(ConfigError, match=r"row 1: bad header") as info:
        UnitRegistry.load(path)
    assert str(path) in str(info.value)


def test_wrong_column_count(tmp_path: Path) -> None:
    path = write_csv(tmp_path, GOOD, "HUE,Huế,province,2022-06-24")
    with pytest.raises(ConfigError, match=r"row 3: expected 6 columns"):
        UnitRegistry.load(path)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty file"):
        UnitRegistry.load(empty)
    with pytest.raises(ConfigError, match="cannot read"):
        UnitRegistry.load(tmp_path / "absent.csv")


def test_tolerates_bom_blank_lines_and_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "\ufeff" + HEADER_LINE + "\n" + GOOD + "\n\n"
        'BO_VHTTDL,"Bộ Văn hóa, Thể thao và Du lịch",ministry,2022-06-24,,FPT\n',
        encoding="utf-8",
    )
    registry = UnitRegistry.load(path)
    assert registry.codes == ("AN_GIANG", "BO_VHTTDL")
    unit = registry.get("BO_VHTTDL")
    assert unit is not None and unit.name_vi == "Bộ Văn hóa, Thể thao và Du lịch"


# ---------------------------------------------------------------- lineage (successor column)

LINEAGE_OK = (
    "OLD_A,Tỉnh A,province,2022-06-24,2025-06-30,VNPT,NEW_B",
    "NEW_B,Tỉnh B,province,2022-06-24,,VNPT,",
)


def test_lineage_header_loads_successors_and_chains(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        *LINEAGE_OK,
        "OLDER,Tỉnh cổ,province,2020-01-01,2022-06-23,,OLD_A",
        header=LINEAGE_LINE,
    )
    registry = UnitRegistry.load(path)
    older = registry.get("OLDER")
    assert older is not None and older.successor == "OLD_A"
    assert registry.predecessors("NEW_B") == ("OLD_A",)
    in_2023 = local_midnight_ms(date(2023, 1, 1))
    in_2026 = local_midnight_ms(date(2026, 1, 1))
    assert registry.reporting_code("OLDER", in_2023) == "OLD_A"
    assert registry.reporting_code("OLDER", in_2026) == "NEW_B"  # two steps
    assert registry.reporting_code("NEW_B", in_2026) == "NEW_B"
    assert registry.reporting_code("NOWHERE", in_2026) == "NOWHERE"
    assert registry.rollup(in_2026) == {"OLD_A": "NEW_B", "OLDER": "NEW_B"}
    assert registry.rollup(in_2023) == {"OLDER": "OLD_A"}


def test_legacy_header_units_have_no_successor(tmp_path: Path) -> None:
    registry = UnitRegistry.load(write_csv(tmp_path, GOOD))
    unit = registry.get("AN_GIANG")
    assert unit is not None and unit.successor is None
    assert registry.rollup(local_midnight_ms(date(2030, 1, 1))) == {}


@pytest.mark.parametrize(
    ("rows", "row", "why"),
    [
        (["OLD_A,A,province,2022-06-24,2025-06-30,,NOWHERE"], 2, "not in the registry"),
        (["OLD_A,A,province,2022-06-24,,,NEW_B", LINEAGE_OK[1]], 2, "valid_to is empty"),
        (["OLD_A,A,province,2022-06-24,2025-06-30,,OLD_A"], 2, "the unit itself"),
        ([LINEAGE_OK[0], "NEW_B,B,province,2025-07-02,,,"], 2, "not valid on 2025-07-01"),
        ([LINEAGE_OK[0], "NEW_B,B,province,2022-06-24,2025-06-30,,"], 2,
         "not valid on 2025-07-01"),
        (["OLD_A,A,province,2022-06-24,2025-06-30,,bad code", LINEAGE_OK[1]], 2,
         "does not match"),
        (["X_1,A,province,2022-06-24,2022-06-24,,X_2", "X_2,B,province,2022-06-25,2022-06-25,,X_3",
          "X_3,C,province,2022-06-24,,,"], 0, ""),
    ],
)  # fmt: skip
def test_lineage_errors_name_the_row(tmp_path: Path, rows: list[str], row: int, why: str) -> None:
    path = write_csv(tmp_path, *rows, header=LINEAGE_LINE)
    if not why:  # control: a valid two-step chain loads
        assert UnitRegistry.load(path).reporting_code("X_1", local_midnight_ms(date(2023, 1, 1)))
        return
    with pytest.raises(ConfigError) as info:
        UnitRegistry.load(path)
    message = str(info.value)
    assert f"row {row}, column successor" in message
    assert why in message


def test_cycle_is_refused_in_code() -> None:
    a = Unit("CYC_A", "A", "province", date(2022, 1, 1), date(2022, 12, 31), None, "CYC_B")
    b = Unit("CYC_B", "B", "province", date(2022, 1, 1), date(2022, 12, 31), None, "CYC_A")
    with pytest.raises(ValueError, match=r"not valid on|cycle"):
        UnitRegistry([a, b])
    c = Unit("CYC_C", "C", "province", date(2022, 1, 1), date(2023, 1, 1), None, "CYC_D")
    d = Unit("CYC_D", "D", "province", date(2022, 1, 1), date(2023, 1, 2), None, "CYC_C")
    with pytest.raises(ValueError, match=r"not valid on|cycle"):
        UnitRegistry([c, d])


def test_wrong_column_count_with_lineage_header(tmp_path: Path) -> None:
    path = write_csv(tmp_path, LINEAGE_OK[1], GOOD, header=LINEAGE_LINE)
    with pytest.raises(ConfigError, match=r"row 3: expected 7 columns"):
        UnitRegistry.load(path)
