#!/usr/bin/env python3
"""Builds model/data/president_{year}_by_county.csv from the compiled county results.

Usage: scripts/build-county-tables.py [RAW_DIR]   (default: ../shared/data/counties)

The compiled files (tonmcg/US_County_Level_Election_Results_08-24, MIT) are close to the
official state tables but not equal to them. This script makes them equal, deterministically:

1. Units are normalised to one code per place across the years: Alaska is one unit, `02000`
   (it reports presidential votes by house district, whose lines changed in 2022, and the 2016
   file repeats the state total in every row); the District of Columbia is one unit, `11001`
   (2024 is by ward); Oglala Lakota County, South Dakota, is `46102` (2016 still used Shannon
   County's `46113`). Connecticut keeps its counties before 2024 and its planning regions
   (`09110`-`09190`) in 2024, as the Census Bureau does since 2022.
2. Each county's Democratic, Republican and other votes (total minus both) are apportioned to
   the official state table's row for that party by the largest-remainder method: county `i`
   gets `floor(T * c_i / C)`, and the remaining votes go one each to the largest fractional parts
   (ties to the lower FIPS code). `T` is the official state figure, `c_i` the compiled county
   figure, `C` their sum. Where `C` is 0 the county totals are the weights.

So every state's sum per candidate equals the official table exactly, and every county moves by
at most its share of the state's (under 2%) compilation error. The script is the definition; run
it again and the output is byte-identical.
"""

import csv
import io
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "model" / "data"

# State name -> USPS code, from the official tables.
def official(year):
    rows = list(csv.DictReader(open(DATA / f"president_{year}_by_state.csv", newline="")))
    names = {r["state"]: r["state_po"] for r in rows}
    return rows, names


def unit_of(fips, state, name):
    """The normalised (code, name) of a compiled row's unit."""
    if state == "AK":
        return "02000", "Alaska"
    if state == "DC":
        return "11001", "District of Columbia"
    if fips == "46113":
        return "46102", "Oglala Lakota County"
    return fips, name


def compiled(raw_dir, year, names):
    """(state, code) -> [name, dem, gop, total], summed over rows of one normalised unit."""
    units = {}
    for row in csv.DictReader(open(raw_dir / f"{year}_county_president.csv", newline="")):
        state = row.get("state_abbr") or names[row["state_name"]]
        fips = (row.get("county_fips") or row.get("combined_fips")).zfill(5)
        code, name = unit_of(fips, state, row["county_name"])
        votes = [int(float(row[k])) for k in ("votes_dem", "votes_gop", "total_votes")]
        if year == 2016 and state == "AK":
            # Every 2016 Alaska row is the state total again: take it once.
            units[(state, code)] = [name] + votes
            continue
        unit = units.setdefault((state, code), [name, 0, 0, 0])
        for i in range(3):
            unit[i + 1] += votes[i]
    return units


def apportion(total, weights):
    """Largest-remainder shares of `total` in proportion to `weights` (a list of (key, w))."""
    weight_sum = sum(w for _, w in weights)
    if weight_sum == 0:
        raise ValueError("no weights")
    shares, remainders = {}, []
    for key, w in weights:
        exact = total * w
        shares[key] = exact // weight_sum
        remainders.append((-(exact % weight_sum), key))
    left = total - sum(shares.values())
    for _, key in sorted(remainders)[:left]:
        shares[key] += 1
    return shares


def build(raw_dir, year):
    rows, names = official(year)
    units = compiled(raw_dir, year, names)
    by_state = defaultdict(list)
    for (state, code), unit in units.items():
        by_state[state].append((code, unit))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["state_po", "county_fips", "county_name", "candidate", "party", "votes"])
    lines = []
    for row in rows:
        state, party = row["state_po"], row["party"]
        column = {"DEMOCRAT": 1, "REPUBLICAN": 2}.get(party)
        counties = sorted(by_state[state])
        if column is None:
            weights = [(code, max(u[3] - u[1] - u[2], 0)) for code, u in counties]
        else:
            weights = [(code, u[column]) for code, u in counties]
        if sum(w for _, w in weights) == 0:
            weights = [(code, u[3]) for code, u in counties]
        shares = apportion(int(row["votes"]), weights)
        for code, unit in counties:
            lines.append((state, code, unit[0], row["candidate"], party, shares[code]))
    lines.sort(key=lambda line: (line[0], line[1], line[4] != "DEMOCRAT", line[4] != "REPUBLICAN"))
    writer.writerows(lines)
    return out.getvalue()


def main():
    raw_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "counties"
    for year in (2016, 2020, 2024):
        text = build(raw_dir, year)
        (DATA / f"president_{year}_by_county.csv").write_text(text)
        print(f"president_{year}_by_county.csv: {text.count(chr(10)) - 1} rows")


if __name__ == "__main__":
    main()
