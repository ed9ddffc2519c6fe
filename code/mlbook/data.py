"""Load the book's data sets from files on disk: nothing is ever downloaded.

The Palmer penguins table (Horst, Hill and Gorman, 2020; CC0) ships inside the
`palmerpenguins` package as a CSV file of 344 rows. `read_numeric_columns` reads any CSV
file with the same checks, so a learner can point the examples at their own
measurements. The diabetes data (Efron et al., 2004) ship inside scikit-learn.
"""

from __future__ import annotations

import csv
import math
from importlib import util
from pathlib import Path

import numpy
import torch

#: Cell values that mean "not measured". Rows with one of these in a requested column
#: are dropped.
MISSING = frozenset({"", "NA", "N/A", "NaN", "nan", "null"})

#: The numeric columns of the penguins table.
PENGUIN_NUMERIC_COLUMNS = (
    "bill_length_mm",
    "bill_depth_mm",
    "flipper_length_mm",
    "body_mass_g",
)


def penguins_csv_path() -> Path:
    """Path of the penguins CSV file inside the installed `palmerpenguins` package."""
    # find_spec locates the package without importing it
    # (its __init__ imports pandas: slow).
    spec = util.find_spec("palmerpenguins")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the palmerpenguins package is not installed: pip install palmerpenguins"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "penguins.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"the palmerpenguins package is installed but has no data file at {path}"
        )
    return path


def read_numeric_columns(
    path: str | Path, columns: tuple[str, ...], dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Read the named numeric columns of a CSV file into 1-D tensors of equal length.

    Rows missing any requested value are dropped. A missing file, an empty file, a
    missing column, a value that is not a finite number, or a table with no complete row
    raises a ValueError (or FileNotFoundError) that names the file and what was
    expected.
    """
    if not columns:
        raise ValueError("columns must name at least one column")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"data file {path} does not exist")
    if path.is_dir():
        raise ValueError(f"data file {path} is a folder, expected a CSV file")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise ValueError(f"data file {path} is not a UTF-8 text CSV file") from None
    except csv.Error as err:
        raise ValueError(f"data file {path} is not a valid CSV file: {err}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise ValueError(
            f"data file {path} is empty, "
            f"expected a CSV header with columns {', '.join(columns)}"
        )
    header = [name.strip() for name in rows[0]]
    absent = [name for name in columns if name not in header]
    if absent:
        raise ValueError(
            f"data file {path} has no column {', '.join(map(repr, absent))}; "
            f"expected {', '.join(columns)}, found {', '.join(header)}"
        )
    index = [header.index(name) for name in columns]
    values: list[list[float]] = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise ValueError(
                f"data file {path}, line {line_number}: "
                f"expected {len(header)} fields, found {len(row)}"
            )
        cells = [row[i].strip() for i in index]
        if any(cell in MISSING for cell in cells):
            continue
        parsed = []
        for name, cell in zip(columns, cells, strict=True):
            try:
                number = float(cell)
            except ValueError:
                raise ValueError(
                    f"data file {path}, line {line_number}: "
                    f"column {name!r} should hold a number, found {cell!r}"
                ) from None
            if not math.isfinite(number):
                raise ValueError(
                    f"data file {path}, line {line_number}: "
                    f"column {name!r} holds {cell!r}, not a finite number"
                )
            parsed.append(number)
        values.append(parsed)
    if not values:
        raise ValueError(
            f"data file {path} has no row with all of {', '.join(columns)} present"
        )
    table = torch.tensor(values, dtype=dtype)  # (m, len(columns))
    return {name: table[:, j].contiguous() for j, name in enumerate(columns)}


def load_penguins(
    columns: tuple[str, ...] = ("flipper_length_mm", "body_mass_g"),
    path: str | Path | None = None,
) -> dict[str, torch.Tensor]:
    """The penguins' numeric `columns` as tensors, rows with a missing value dropped."""
    unknown = [name for name in columns if name not in PENGUIN_NUMERIC_COLUMNS]
    if unknown and path is None:
        raise ValueError(
            f"unknown penguin column {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(PENGUIN_NUMERIC_COLUMNS)}"
        )
    return read_numeric_columns(penguins_csv_path() if path is None else path, columns)


def train_test_indices(
    m: int, test_fraction: float = 0.25, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of the row numbers 0..m-1 into (train, test).

    Every row is in exactly one of them.
    """
    if not isinstance(m, int) or m < 2:
        raise ValueError(f"m must be a whole number of at least 2, got {m!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(
            f"test_fraction must be between 0 and 1, got {test_fraction!r}"
        )
    n_test = min(max(1, round(m * test_fraction)), m - 1)
    order = torch.randperm(m, generator=torch.Generator().manual_seed(seed))
    return order[n_test:].sort().values, order[:n_test].sort().values


#: The diabetes measurements, in the order of scikit-learn's file (s1 to s6 are blood
#: serum values).
DIABETES_FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")


def load_diabetes_split(
    seed: int = 0, test_fraction: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[str]]:
    """scikit-learn's diabetes data in raw units, split by `train_test_indices`.

    442 patients, 10 measurements (Efron et al., 2004), read from the files inside
    scikit-learn without importing it (which takes a second). Returns X_train, y_train,
    X_test, y_test in float64 and the feature names.
    """
    spec = util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "scikit-learn is not installed: pip install scikit-learn"
        )
    folder = Path(spec.origin).parent / "datasets" / "data"
    # shape (442, 10)
    X = torch.from_numpy(numpy.loadtxt(folder / "diabetes_data_raw.csv.gz"))
    y = torch.from_numpy(numpy.loadtxt(folder / "diabetes_target.csv.gz"))  # (442,)
    if X.shape != (442, len(DIABETES_FEATURES)) or y.shape != (442,):
        raise ValueError(
            f"unexpected diabetes files in {folder}: "
            f"shapes {tuple(X.shape)} and {tuple(y.shape)}"
        )
    train, test = train_test_indices(X.shape[0], test_fraction, seed=seed)
    return X[train], y[train], X[test], y[test], list(DIABETES_FEATURES)


#: The three species in the penguins table, in the order of their codes in
#: `load_penguins_by_species`.
PENGUIN_SPECIES = ("Adelie", "Chinstrap", "Gentoo")


def load_penguins_by_species(
    columns: tuple[str, ...] = ("flipper_length_mm", "body_mass_g"),
    path: str | Path | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The penguins' numeric `columns` (as `load_penguins`) and each row's species.

    The species is a code, an index into PENGUIN_SPECIES, in a tensor (m,) of int64
    whose rows match the numeric columns'. A file without a species column, or a species
    not in PENGUIN_SPECIES, raises a ValueError naming the file and the line.
    """
    path = penguins_csv_path() if path is None else Path(path)
    data = load_penguins(columns, path)  # checks the file and the numeric columns
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [name.strip() for name in rows[0]]
    if "species" not in header:
        raise ValueError(
            f"data file {path} has no column 'species'; found {', '.join(header)}"
        )
    index = [header.index(name) for name in columns]
    where = header.index("species")
    codes = []
    for line_number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, as read_numeric_columns skips it
        if any(row[i].strip() in MISSING for i in index):
            continue  # dropped from the numeric columns too
        species = row[where].strip()
        if species not in PENGUIN_SPECIES:
            raise ValueError(
                f"data file {path}, line {line_number}: species {species!r} is not "
                f"one of {', '.join(PENGUIN_SPECIES)}"
            )
        codes.append(PENGUIN_SPECIES.index(species))
    return data, torch.tensor(codes, dtype=torch.int64)


def load_digits_split(
    seed: int = 0, fractions: tuple[float, float] = (0.2, 0.2)
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's 8x8 handwritten digits, split into train, validation and test.

    1,797 images (Alpaydin and Kaynak, 1998), each 64 pixel values from 0 to 16 read
    row by row, with its digit 0 to 9; read from the file inside scikit-learn without
    importing it. `fractions` are the validation and test shares; the split is a
    seeded random permutation. Returns {"train": (X, y), "validation": ..., "test": ...}
    with X (rows, 64) in float32 and y (rows,) in int64.
    """
    validation, test = fractions
    if not (0 < validation and 0 < test and validation + test < 1):
        raise ValueError(
            "fractions must be two shares above 0 with a sum below 1, "
            f"got {fractions!r}"
        )
    spec = util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "scikit-learn is not installed: pip install scikit-learn"
        )
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    table = numpy.loadtxt(path, delimiter=",")  # (1797, 65): pixels, then the digit
    if table.shape != (1797, 65):
        raise ValueError(f"unexpected digits file {path}: shape {table.shape}")
    X = torch.from_numpy(table[:, :64]).float()
    y = torch.from_numpy(table[:, 64]).long()
    if X.min() < 0 or X.max() > 16 or not set(y.unique().tolist()) == set(range(10)):
        raise ValueError(f"unexpected values in the digits file {path}")
    m = X.shape[0]
    n_validation, n_test = round(m * validation), round(m * test)
    order = torch.randperm(m, generator=torch.Generator().manual_seed(seed))
    parts = {
        "test": order[:n_test],
        "validation": order[n_test : n_test + n_validation],
        "train": order[n_test + n_validation :],
    }
    return {name: (X[rows], y[rows]) for name, rows in parts.items()}
