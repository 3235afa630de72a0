"""The README and the manual in docs/ say only what is true of this checkout: the README
fits a screen with the two set-up commands first, every `tuner` command they show is a
real command with real options, and every repository file and setting they name exists.

`mkdocs build --strict` (`make docs`, part of `make test`) checks the links between pages;
this checks what a link checker cannot: the text of the commands and paths.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from tuner.cli import cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("**/*.md"))
TEXTS = [README, ROOT / "CONTRIBUTING.md", *PAGES]

# Names that stand for the reader's own file in an example, not for a file of this checkout.
ILLUSTRATIVE = {"studies/x.toml", "studies/a-broken.toml", "docker/.env"}
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:studies|docker|benchmarks|tests|data|tuner|docs)/[\w./-]*[\w])")
SETTING = re.compile(r"\bTUNER_[A-Z0-9_]*[A-Z0-9]\b")


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _shell_lines(text: str) -> list[str]:
    """The lines of ```sh blocks, continuations joined, comments and prompts removed."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _tuner_invocations(text: str) -> list[list[str]]:
    """Every `tuner ...` shown in a shell block, as its arguments after `tuner`."""
    found = []
    for line in _shell_lines(text):
        # `VAR=value tuner ...` and `... && tuner ...` are shell, not part of the command.
        for part in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(part)
            except ValueError:  # a quote that closes on a later line (python -c "...")
                words = part.split()
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                words.pop(0)
            if words and words[0] == "tuner":
                found.append(words[1:])
    return found


def _resolve(args: list[str]) -> tuple[click.Command, list[click.Command], list[str]]:
    """The command `tuner ARGS` runs, the groups on the way, and the words after it."""
    command: click.Command = cli
    groups: list[click.Command] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        assert name in command.commands, f"tuner: no command {name!r} under {command.name!r}"
        groups.append(command)
        command = command.commands[name]
    return command, groups, rest


def test_the_readme_fits_a_screen_with_the_two_set_up_commands_first():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    first_block = re.search(r"```(?:\w+)?\n(.*?)```", text, flags=re.S).group(1)
    assert first_block.splitlines()[0].startswith("make demo")
    assert first_block.splitlines()[1].startswith("make test")


def test_the_make_targets_the_docs_name_exist():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([\w-]+):", makefile, flags=re.M))
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"(?:^|`)make ([a-z][\w-]*)", text, flags=re.M):
            assert target in targets, f"{_relative(path)}: `make {target}` is no target"


@pytest.mark.parametrize("path", TEXTS, ids=_relative)
def test_every_tuner_command_shown_is_real(path):
    for args in _tuner_invocations(path.read_text(encoding="utf-8")):
        command, groups, rest = _resolve(args)
        assert not isinstance(command, click.Group), f"tuner {' '.join(args)}: needs a command"
        options = {opt for cmd in [*groups, command] for p in cmd.params
                   for opt in [*p.opts, *p.secondary_opts]}
        for word in rest:
            if word.startswith("--"):
                name = word.split("=", 1)[0]
                assert name in options, f"{_relative(path)}: tuner {' '.join(args)}: {name}?"


def test_the_docs_show_every_command():
    """A command nobody can find is a command nobody uses: each one has its example."""
    shown_names = set()
    for path in TEXTS:
        for args in _tuner_invocations(path.read_text(encoding="utf-8")):
            command, groups, _ = _resolve(args)
            shown_names.add(" ".join([g.name for g in groups[1:]] + [command.name]))
    for name, command in cli.commands.items():
        if isinstance(command, click.Group):
            for sub in command.commands:
                assert f"{name} {sub}" in shown_names, f"tuner {name} {sub}"
        else:
            assert name in shown_names, f"tuner {name}"


@pytest.mark.parametrize("path", TEXTS, ids=_relative)
def test_every_repository_file_named_exists(path):
    text = path.read_text(encoding="utf-8")
    for name in set(REPO_PATH.findall(text)) - ILLUSTRATIVE:
        if "*" in name or re.search(r"\b[A-Z]{3,}\b", name):
            continue  # a glob, or a placeholder such as benchmarks/results/NAME.md
        if name.startswith("docs/") and path.parent != ROOT:
            continue  # a docs/ path written inside docs/ is relative to the page
        assert (ROOT / name).exists(), f"{_relative(path)} names {name}, which does not exist"
    for test_file, test_name in re.findall(r"(tests/[\w/]+\.py)::(\w+)", text):
        source = (ROOT / test_file).read_text(encoding="utf-8")
        assert f"def {test_name}(" in source, f"{_relative(path)}: {test_file}::{test_name}"


@pytest.mark.parametrize("path", TEXTS, ids=_relative)
def test_every_setting_named_is_read_somewhere(path):
    sources = "\n".join(
        p.read_text(encoding="utf-8", errors="replace")
        for folder in ("tuner", "tests", "docker", ".ci")
        for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".pyc")
    for setting in set(SETTING.findall(path.read_text(encoding="utf-8"))):
        assert setting in sources, f"{_relative(path)} names {setting}, which nothing reads"
