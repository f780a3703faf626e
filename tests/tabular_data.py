"""Tabular data as users bring it, written to real CSV files by the tests.

Each file mixes units the way public data sets do (millimetres beside grams, fractions beside
thousands), so that one shared scale cannot hold every column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    """Writes rows under a header, each cell as `str` gives it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_wide_scale_csv(path: Path, rows: int = 400, seed: int = 0) -> Path:
    """Three numeric features 1000x apart in scale; the class depends on all three.

    `tiny` varies by about 0.01, `unit` by about 1 and `huge` by about 1000 around an offset
    of 5000, so one int8 input scale (about 40 per step) leaves `tiny` and `unit` no steps.
    """
    rng = np.random.default_rng(seed)
    tiny = rng.normal(0.05, 0.01, rows)
    unit = rng.normal(1.0, 1.0, rows)
    huge = rng.normal(5000.0, 1000.0, rows)
    score = (tiny - 0.05) / 0.01 + (unit - 1.0) + (huge - 5000.0) / 1000.0
    label = np.where(score > 0.5, "high", np.where(score < -0.5, "low", "mid"))
    body = [
        [f"{a:.5f}", f"{b:.4f}", f"{c:.1f}", y]
        for a, b, c, y in zip(tiny, unit, huge, label, strict=True)
    ]
    return write_csv(path, ["tiny", "unit", "huge", "level"], body)


SPECIES = {  # means of bill length, bill depth (mm), flipper (mm), body mass (g); islands
    "Adelie": ((38.8, 18.3, 190.0, 3700.0), ("Biscoe", "Dream", "Torgersen")),
    "Chinstrap": ((48.8, 18.4, 196.0, 3730.0), ("Dream",)),
    "Gentoo": ((47.5, 15.0, 217.0, 5080.0), ("Biscoe",)),
}


def write_penguin_like_csv(path: Path, rows: int = 330, seed: int = 0, na: str = "NA") -> Path:
    """Palmer-penguins-like rows: millimetres beside grams, text columns, `NA` cells.

    Columns: `id` (a distinct tag per bird: identifier-like), `species` (the label),
    `island` and `sex` (text), four measurements, `year`. Some cells are `na`.
    """
    rng = np.random.default_rng(seed)
    names = list(SPECIES)
    body = []
    for i in range(rows):
        species = names[i % 3]
        means, islands = SPECIES[species]
        sex = ("female", "male")[int(rng.integers(2))]
        size = 1.0 + (0.04 if sex == "male" else -0.04)
        bill, depth, flipper, mass = (
            rng.normal(means[0] * size, 2.5),
            rng.normal(means[1] * size, 0.8),
            rng.normal(means[2] * size, 5.0),
            rng.normal(means[3] * size, 300.0),
        )
        row = [
            f"bird-{i:04d}",
            species,
            islands[int(rng.integers(len(islands)))],
            f"{bill:.1f}",
            f"{depth:.1f}",
            f"{flipper:.0f}",
            f"{mass:.0f}",
            sex,
            2007 + i % 3,
        ]
        if i % 29 == 5:
            row[7] = na  # an unrecorded sex
        if i % 41 == 7:
            row[3] = row[6] = na  # an unmeasured bird
        body.append(row)
    header = ["id", "species", "island", "bill_length_mm", "bill_depth_mm"]
    header += ["flipper_length_mm", "body_mass_g", "sex", "year"]
    return write_csv(path, header, body)


def write_cars_like_csv(path: Path, rows: int = 400, seed: int = 0) -> Path:
    """Auto-MPG-like rows: fuel economy (`mpg`, the target) from weight in pounds,
    displacement, horsepower (`?` where unknown), cylinders, model year, and text `origin`
    and `name` columns."""
    rng = np.random.default_rng(seed)
    origins = ("usa", "europe", "japan")
    makes = {
        "usa": ("ford", "chevrolet", "dodge"),
        "europe": ("vw", "peugeot"),
        "japan": ("toyota", "honda"),
    }
    body = []
    for i in range(rows):
        origin = origins[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
        cylinders = int(
            rng.choice([4, 6, 8], p=[0.5, 0.25, 0.25] if origin == "usa" else [0.9, 0.1, 0.0])
        )
        displacement = cylinders * rng.normal(40.0, 6.0)
        horsepower = displacement * rng.normal(0.55, 0.06) + 20
        weight = 1500 + displacement * 7.5 + rng.normal(0, 250)
        year = int(rng.integers(70, 83))
        mpg = (
            46
            - weight / 170
            - horsepower / 40
            + (year - 70) * 0.75
            + (2.0 if origin == "japan" else 0)
        )
        mpg += rng.normal(0, 1.2)
        make = makes[origin][int(rng.integers(len(makes[origin])))]
        body.append([
            f"{mpg:.1f}", cylinders, f"{displacement:.0f}",
            "?" if i % 37 == 3 else f"{horsepower:.0f}",
            f"{weight:.0f}", year, origin, f"{make} model-{i}",
        ])  # fmt: skip
    header = ["mpg", "cylinders", "displacement", "horsepower", "weight", "year", "origin", "name"]
    return write_csv(path, header, body)
