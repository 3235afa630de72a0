"""The one door from a study file to what its trials need: `open_study_file`.

Every command that takes a study file (`tuner study run`, `tuner worker`, `tuner retune`,
`tuner train`, `tuner fingerprint`, the scheduler's check) goes through here, so the file
is read, the command line's overrides applied, the storage URL resolved and the storage
opened in one way. What costs time is done when first asked for and kept: the splits
(which load the data), the fingerprints, the storage; so a command that only looks at a
file loads no data it does not show, and touches no storage it does not read.

`open_reading` is the same door for the commands that read a storage without a study file
(`tuner study list|show|best|report|importance`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import TunerError, first_line
from tuner.spec import StudySpec, load_spec

if TYPE_CHECKING:
    import optuna

    from tuner.data import Splits
    from tuner.storage import TunerStorage

# Optuna and SQLAlchemy are imported where the storage is resolved or opened, not here:
# `tuner fingerprint FILE` goes through this door and never opens a storage.

__all__ = ["StudyFile", "open_reading", "open_study_file"]


class StudyFile:
    """A study file and what its trials need, each made once (see `open_study_file`).

    ``spec`` is read at once; ``url``, ``storage``, ``splits``, ``fingerprints`` and the
    ``pruner`` when first used. ``storage`` is None only for a read-only look at a storage
    that holds nothing yet (a dry run writes nothing, not even empty tables).
    """

    def __init__(self, file: str | Path, spec: StudySpec, storage: str | TunerStorage | None,
                 *, read_only: bool, create: bool,
                 on_url: Callable[[str], None] | None) -> None:
        self.file = file
        self.spec = spec
        self.read_only = read_only
        self._create = create
        self._option = storage if isinstance(storage, str) or storage is None else None
        self._given = None if self._option is not None or storage is None else storage
        self._on_url = on_url

    # --- the storage -------------------------------------------------------------------

    @cached_property
    def url(self) -> str | None:
        """The storage URL: --storage, ``$TUNER_STORAGE``, the file's ``storage``, the
        default (`tuner.storage.resolve_storage_url`); None for a storage passed open."""
        if self._given is not None:
            return None
        from tuner.storage import resolve_storage_url

        url = resolve_storage_url(self._option, self.spec.storage)
        if self._on_url is not None:
            self._on_url(url)  # the CLI masks its password from now on
        return url

    @property
    def where(self) -> str:
        """The storage for people: the URL with its password masked, or the type of a
        storage passed open."""
        if self.url is None:
            return type(self._given).__name__
        from tuner.passwords import mask_url

        return mask_url(self.url)

    @property
    def owns_storage(self) -> bool:
        """Whether this door opened the storage (and its caller should close it)."""
        return self._given is None

    @cached_property
    def storage(self) -> TunerStorage | None:
        """The storage, opened once: for a run, with the trials' heartbeat; without one for
        a command that runs no trial (``create=False``: a SQLite file that does not exist
        is an error, not a new empty database); read-only, None while it holds nothing."""
        if self._given is not None:
            return self._given
        from tuner.storage import open_storage

        assert self.url is not None
        if self.read_only:
            return _open_read_only(self.url)
        if not self._create:
            return open_storage(self.url, heartbeat=False, create=False)
        return open_storage(self.url)

    def close(self) -> None:
        """Give back the connections of a storage this door opened."""
        st = self.__dict__.get("storage")
        if st is not None and self.owns_storage:
            st.remove_session()
            st.engine.dispose()

    # --- the data ----------------------------------------------------------------------

    @cached_property
    def splits(self) -> Splits:
        """The train / validation / test splits the trials train and score on."""
        from tuner.data import spec_splits

        return spec_splits(self.spec)

    @cached_property
    def fingerprints(self) -> dict[str, Any]:
        """`tuner.fingerprint.study_fingerprints`. A built-in dataset's are the hash of its
        splits (loaded, and kept); a table source's are the hash of its rows, which are
        read but not split unless the splits are already loaded."""
        from tuner.fingerprint import study_fingerprints

        splits = self.__dict__.get("splits")
        if splits is None and not self.spec.data.is_table:
            splits = self.splits
        return study_fingerprints(self.spec, splits)

    # --- the search --------------------------------------------------------------------

    @cached_property
    def pruner(self) -> optuna.pruners.BasePruner:
        """The file's pruner, one for the whole run (a `SnapshotPruner` keeps what it has
        seen)."""
        from tuner.pruning import make_pruner

        return self._checked("[pruner]", lambda: make_pruner(self.spec.pruner,
                                                             self.spec.model.epochs))

    def sampler(self, seed: int | None = None) -> optuna.samplers.BaseSampler:
        """The file's sampler, seeded with ``seed`` (default: the file's seed).

        Each run and worker passes its own seed (`tuner.worker.run_seed`, `worker_seed`),
        so the sampler is made for it; the one checked when the door opened is kept and
        given to the first caller that wants the file's own seed.
        """
        from tuner.space import make_sampler

        seed = self.spec.sampler.seed if seed is None else seed
        kept = self.__dict__.pop("_checked_sampler", None)
        if kept is not None and seed == self.spec.sampler.seed:
            return kept
        return self._checked("[sampler]", lambda: make_sampler(self.spec, seed=seed))

    def check_search(self) -> None:
        """Make the sampler and pruner once: a value they refuse (a seed out of range, a
        negative warm-up) is reported, naming the file and section, before anything is
        written. Both are kept for the run."""
        self.__dict__["_checked_sampler"] = self.sampler()
        _ = self.pruner

    def _checked(self, section: str, build: Callable[[], Any]) -> Any:
        try:
            return build()
        except ValueError as e:
            raise TunerError(f"{self.file}: {section}: {first_line(str(e))}") from None


def open_study_file(file: str | Path, storage: str | TunerStorage | None = None, *,
                    read_only: bool = False, create: bool = True,
                    sampler: str | None = None, seed: int | None = None,
                    n_trials: int | None = None,
                    on_url: Callable[[str], None] | None = None) -> StudyFile:
    """Read the study file ``file`` and open the door to its storage and data.

    ``storage`` is a URL (None: ``$TUNER_STORAGE``, the file's ``storage``, the default)
    or a storage already open. ``sampler``, ``seed`` and ``n_trials`` are the command
    line's overrides of the file. ``on_url`` receives the resolved URL.

    A run (neither ``read_only`` nor ``create=False``) resolves the URL and checks the
    sampler and pruner at once, so a bad value fails before anything is written;
    ``read_only`` looks without writing (`StudyFile.storage` is None while the storage
    holds nothing yet); ``create=False`` opens an existing storage without a heartbeat
    (`tuner train`). Nothing else is done until asked for.
    """
    spec = load_spec(file)
    if sampler is not None or seed is not None:
        spec = dataclasses.replace(spec, sampler=dataclasses.replace(
            spec.sampler, **({"name": sampler, "options": ()} if sampler and
                             sampler != spec.sampler.name else {}),
            **({"seed": seed} if seed is not None else {})))
    if n_trials is not None:
        spec = dataclasses.replace(spec, n_trials=n_trials)
    door = StudyFile(file, spec, storage, read_only=read_only, create=create, on_url=on_url)
    if not read_only and create:
        _ = door.url
        door.check_search()
    return door


def open_reading(storage: str | None = None, *,
                 on_url: Callable[[str], None] | None = None) -> TunerStorage:
    """The storage a command that only reads looks at, without a study file: resolved as
    every command does (``on_url`` receives the URL), no heartbeat, and a SQLite file that
    does not exist is an error rather than a new empty database."""
    from tuner.storage import open_storage, resolve_storage_url

    url = resolve_storage_url(storage)
    if on_url is not None:
        on_url(url)
    return open_storage(url, heartbeat=False, create=False)


def _open_read_only(url: str) -> TunerStorage | None:
    """The storage at ``url`` for a dry run, or None when it holds no Optuna tables yet
    (opened read-only: a dry run writes nothing, not even a SQLite file)."""
    from tuner.storage import NoDatabase, open_storage

    try:
        return open_storage(url, read_only=True)
    except NoDatabase:
        return None
