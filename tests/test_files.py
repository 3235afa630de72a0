"""Files written whole or not at all, and paths checked before anything reads them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tuner.files import (
    atomic_path,
    atomic_write,
    durable_copy,
    durable_write,
    not_a_regular_file,
    same_file,
)

pytestmark = pytest.mark.unit


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "labels.txt"
    atomic_write(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of the new", encoding="utf-8")
        raise RuntimeError("disk full")
    assert target.read_text(encoding="utf-8") == "old\n"
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.txt"], "no temporary file left"


def test_a_regular_file_passes_and_what_cannot_be_read_is_named(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    assert not_a_regular_file(data) is None
    assert not_a_regular_file(tmp_path / "absent.csv") == "no such file"
    assert not_a_regular_file(tmp_path) == "is a folder, not a file"
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # open() on it would block until a writer came
    assert not_a_regular_file(fifo).startswith("not a regular file")
    link = tmp_path / "zeros"
    link.symlink_to("/dev/zero")  # the target is what would be read: endless
    assert not_a_regular_file(link).startswith("not a regular file")
    assert not_a_regular_file(tmp_path / ("x" * 300)).startswith("the path is too long")


def test_a_file_larger_than_its_kind_allows_is_refused_with_its_size(tmp_path: Path) -> None:
    big = tmp_path / "model.npz"
    with big.open("wb") as f:
        f.truncate(3 * 2**30)  # sparse: no disk used
    assert not_a_regular_file(big, max_bytes=4 * 2**30) is None
    assert not_a_regular_file(big, max_bytes=2 * 2**30) == (
        "is 3.0 GiB, more than the 2 GiB a file of this kind can be")


def test_same_file_sees_through_links_and_compares_paths_not_yet_written(
        tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("1\n", encoding="utf-8")
    (tmp_path / "alias.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    copy = tmp_path / "copy.csv"
    copy.write_text("1\n", encoding="utf-8")
    assert same_file(data, tmp_path / "alias.csv")
    assert same_file(tmp_path / "hard.csv", data)
    assert not same_file(data, copy), "equal content is not the same file"
    assert same_file(tmp_path / "out.csv", tmp_path / "sub" / ".." / "out.csv")
    assert not same_file(tmp_path / "out.csv", data)


def test_durable_copy_and_write_replace_whole_files_and_leave_no_temporary(tmp_path: Path
                                                                         ) -> None:
    src, dst = tmp_path / "src.npz", tmp_path / "dst.npz"
    src.write_bytes(b"new" * 100_000)
    dst.write_bytes(b"old")
    durable_copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    durable_write(tmp_path / "card.json", "{}\n")
    assert (tmp_path / "card.json").read_text() == "{}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.json", "dst.npz", "src.npz"]
    with pytest.raises(FileNotFoundError):
        durable_copy(tmp_path / "missing.npz", dst)
    assert dst.read_bytes() == src.read_bytes()  # a failed copy leaves the old file
