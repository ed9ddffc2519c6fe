"""Tests for mlbook.data: the penguins loader and the CSV reader's checks."""

import csv

import pytest
import torch

from mlbook.data import (
    PENGUIN_NUMERIC_COLUMNS,
    load_diabetes_split,
    load_penguins,
    penguins_csv_path,
    read_numeric_columns,
    train_test_indices,
)


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_penguins_match_an_independent_reading_of_the_file():
    with penguins_csv_path().open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["flipper_length_mm"] != "NA" and r["body_mass_g"] != "NA"]
    data = load_penguins()
    assert data["flipper_length_mm"].shape == (len(rows),) == (342,)
    expected = torch.tensor([float(r["body_mass_g"]) for r in rows])
    torch.testing.assert_close(data["body_mass_g"], expected)
    assert data["flipper_length_mm"].dtype == torch.float32


def test_all_numeric_columns_load_with_equal_lengths():
    data = load_penguins(PENGUIN_NUMERIC_COLUMNS)
    lengths = {t.shape[0] for t in data.values()}
    assert lengths == {342}
    assert all(torch.isfinite(t).all() for t in data.values())


def test_rows_with_missing_values_are_dropped(tmp_path):
    path = write(tmp_path, "x,y,name\n1,2,a\nNA,3,b\n4,,c\n5,6,d\n")
    data = read_numeric_columns(path, ("x", "y"))
    assert data["x"].tolist() == [1.0, 5.0]
    assert data["y"].tolist() == [2.0, 6.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("x,z\n1,2\n", "no column 'y'"),
        ("x,y\n1,abc\n", "should hold a number"),
        ("x,y\n1,inf\n", "not a finite number"),
        ("x,y\nNA,1\n", "no row with all of"),
        ("x,y\n1,2,3\n", "expected 2 fields"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        read_numeric_columns(write(tmp_path, text), ("x", "y"))


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_numeric_columns(tmp_path / "nope.csv", ("x",))
    with pytest.raises(ValueError, match="is a folder"):
        read_numeric_columns(tmp_path, ("x",))


def test_binary_file_is_rejected(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(ValueError, match="not a UTF-8"):
        read_numeric_columns(path, ("x",))


def test_unknown_penguin_column_and_no_columns():
    with pytest.raises(ValueError, match="unknown penguin column 'wing_span'"):
        load_penguins(("wing_span",))
    with pytest.raises(ValueError, match="at least one column"):
        read_numeric_columns(penguins_csv_path(), ())


def test_the_diabetes_files_read_as_scikit_learn_reads_them():
    from sklearn.datasets import load_diabetes

    reference = load_diabetes(scaled=False)
    X, y, X_test, y_test, names = load_diabetes_split(seed=0)
    train, test = train_test_indices(442, test_fraction=0.25, seed=0)
    assert names == list(reference.feature_names)
    assert X.shape == (332, 10) and X_test.shape == (110, 10)
    for rows, X_part, y_part in ((train, X, y), (test, X_test, y_test)):
        torch.testing.assert_close(X_part, torch.tensor(reference.data[rows.numpy()], dtype=torch.float64))
        torch.testing.assert_close(y_part, torch.tensor(reference.target[rows.numpy()], dtype=torch.float64))


def test_species_codes_match_an_independent_reading_of_the_file():
    from mlbook.data import PENGUIN_SPECIES, load_penguins_by_species

    columns = ("bill_depth_mm", "body_mass_g")
    with penguins_csv_path().open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if all(r[c] != "NA" for c in columns)]
    data, species = load_penguins_by_species(columns)
    assert species.dtype == torch.int64 and species.shape == (len(rows),) == (342,)
    assert [PENGUIN_SPECIES[k] for k in species.tolist()] == [r["species"] for r in rows]
    torch.testing.assert_close(data["bill_depth_mm"], load_penguins(columns)["bill_depth_mm"])
    assert torch.bincount(species).tolist() == [151, 68, 123]


@pytest.mark.parametrize(
    "text, message",
    [
        ("x,y\n1,2\n", "no column 'species'"),
        ("species,x,y\nAdelie,1,2\nEmperor,3,4\n", "line 3: species 'Emperor' is not one of"),
        ("species,x,y\nAdelie,1,2\n", "no column 'z'"),
    ],
)
def test_species_loader_raises_clear_errors(tmp_path, text, message):
    from mlbook.data import load_penguins_by_species

    columns = ("x", "z") if "no column 'z'" in message else ("x", "y")
    with pytest.raises(ValueError, match=message):
        load_penguins_by_species(columns, write(tmp_path, text))


def test_species_loader_drops_the_rows_the_numeric_reader_drops(tmp_path):
    from mlbook.data import load_penguins_by_species

    path = write(tmp_path, "species,x,y\nGentoo,1,2\nAdelie,NA,3\n\nChinstrap,5,6\n")
    data, species = load_penguins_by_species(("x", "y"), path)
    assert data["x"].tolist() == [1.0, 5.0] and species.tolist() == [2, 1]


def test_digits_split_matches_scikit_learn_and_covers_every_image_once():
    from sklearn.datasets import load_digits

    from mlbook.data import load_digits_split

    split = load_digits_split(seed=3)
    assert [len(split[k][1]) for k in ("train", "validation", "test")] == [1079, 359, 359]
    X = torch.cat([split[k][0] for k in split])
    y = torch.cat([split[k][1] for k in split])
    assert X.shape == (1797, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    reference = load_digits()
    expected_X = torch.from_numpy(reference.data).float()
    expected_y = torch.from_numpy(reference.target).long()
    # the same images with the same labels, each exactly once, in a seeded order
    ours = sorted(zip(map(tuple, X.tolist()), y.tolist(), strict=True))
    theirs = sorted(zip(map(tuple, expected_X.tolist()), expected_y.tolist(), strict=True))
    assert ours == theirs
    again = load_digits_split(seed=3)
    assert all(torch.equal(split[k][0], again[k][0]) for k in split)
    assert not torch.equal(split["test"][1], load_digits_split(seed=4)["test"][1])


@pytest.mark.parametrize("fractions", [(0.0, 0.2), (0.5, 0.5), (0.2, -0.1)])
def test_digits_split_rejects_bad_fractions(fractions):
    from mlbook.data import load_digits_split

    with pytest.raises(ValueError, match="fractions must be two shares"):
        load_digits_split(fractions=fractions)
