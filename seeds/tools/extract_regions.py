"""Extract Sichuan and Chongqing administrative regions from cpca's data file.

Run once (or again when cpca's data changes) from the repository root::

    .venv/bin/python -m seeds.tools.extract_regions

It reads ``cpca/resources/adcodes.csv`` (12-digit codes, name, longitude,
latitude) and writes ``seeds/reference/regions.csv`` with 6-digit GB/T 2260
codes.  cpca is only needed to run this script; the CSV is committed and
nothing imports cpca at run time.

cpca's table predates several renames (县改区, 县改市).  ``CODE_UPDATES``
moves those units to their current GB/T 2260 code and name while keeping
cpca's coordinates, so the committed table matches today's codes.
"""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

SICHUAN = "510000"
CHONGQING = "500000"

# old code -> (current code, current name, year of the State Council approval)
CODE_UPDATES: dict[str, tuple[str, str, int]] = {
    "500228": ("500155", "梁平区", 2016),
    "500232": ("500156", "武隆区", 2016),
    "510124": ("510117", "郫都区", 2016),
    "510132": ("510118", "新津区", 2020),
    "510623": ("510604", "罗江区", 2017),
    "510922": ("510981", "射洪市", 2019),
    "511028": ("511083", "隆昌市", 2017),
    "511521": ("511504", "叙州区", 2018),
    "513425": ("513402", "会理市", 2021),
}

# cpca placeholders that are not administrative units of their own
PLACEHOLDER_NAMES = {"市辖区", "县", "省直辖县级行政区划"}

OUTPUT = Path(__file__).resolve().parent.parent / "reference" / "regions.csv"
FIELDS = ["code", "name", "level", "parent_code", "province_code", "lat", "lon"]


def cpca_adcodes_path() -> Path:
    spec = importlib.util.find_spec("cpca")
    if spec is None or spec.origin is None:
        raise SystemExit("cpca is not installed in this interpreter")
    return Path(spec.origin).parent / "resources" / "adcodes.csv"


def read_cpca_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def classify(code: str) -> str:
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "prefecture"
    return "county"


def parent_of(code: str, province_code: str) -> str | None:
    level = classify(code)
    if level == "province":
        return None
    if level == "prefecture" or province_code == CHONGQING:
        # Chongqing is a municipality: its districts and counties hang off it directly
        return province_code
    return code[:4] + "00"


def coordinate(text: str) -> float | None:
    return round(float(text), 4) if text.strip() else None


def build_regions(cpca_rows: list[dict[str, str]]) -> tuple[list[dict], list[str]]:
    """Return (regions, notes); notes list every coordinate borrowed from a parent."""
    by_code: dict[str, dict] = {}
    for row in cpca_rows:
        code = row["adcode"][:6]
        province_code = code[:2] + "0000"
        if province_code not in (SICHUAN, CHONGQING) or row["name"] in PLACEHOLDER_NAMES:
            continue
        name = row["name"]
        if code in CODE_UPDATES:
            code, name, _year = CODE_UPDATES[code]
        by_code[code] = {
            "code": code,
            "name": name,
            "level": classify(code),
            "parent_code": parent_of(code, province_code),
            "province_code": province_code,
            "lat": coordinate(row["latitude"]),
            "lon": coordinate(row["longitude"]),
        }
    notes = []
    for code in sorted(by_code):
        region = by_code[code]
        if region["lat"] is None and region["parent_code"]:
            parent = by_code[region["parent_code"]]
            region["lat"], region["lon"] = parent["lat"], parent["lon"]
            notes.append(f"{code} {region['name']}: coordinates of parent {parent['code']}")
    return [by_code[code] for code in sorted(by_code)], notes


def write_regions(regions: list[dict], output: Path = OUTPUT) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for region in regions:
            writer.writerow({key: "" if value is None else value for key, value in region.items()})


def main() -> int:
    regions, notes = build_regions(read_cpca_rows(cpca_adcodes_path()))
    write_regions(regions)
    counts: dict[tuple[str, str], int] = {}
    for region in regions:
        key = (region["province_code"], region["level"])
        counts[key] = counts.get(key, 0) + 1
    for (province, level), count in sorted(counts.items()):
        print(f"{province} {level}: {count}")
    for note in notes:
        print("borrowed:", note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
