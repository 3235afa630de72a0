"""The few pieces of Optuna's private API that `tuner` relies on, behind one door.

Optuna may move or rename any of these in a minor release. Everything `tuner` needs from
``optuna.storages._rdb`` and from distributions' private methods is reached through this
module, and ``tests/storage/test_optuna_private.py`` fails with a message naming what is missing
when the installed Optuna no longer has it.

- The RDB tables (``optuna.storages._rdb.models``): the budget check counts trials and
  reads a study attribute in one SQL query under a lock (`tuner.storage._budget`), and
  finds RUNNING trials that never wrote a heartbeat by their start time
  (`tuner.storage._storage`); `tuner train`
  writes an artifact's metadata on a finished trial (`tuner.train`).
- Opening an RDB storage that is already at the current schema without Optuna's
  per-open ``create_all`` + alembic version check (`open_rdb`): importing alembic and
  reading its migration scripts is ~0.5 s of every command's start-up. The schema head is
  read from the names in Optuna's migration scripts, and a storage whose
  ``alembic_version`` is not exactly that head goes through Optuna's own path.
- Writing a trial's buffered intermediate values and user attributes in one transaction
  (`write_trial_notes`): Optuna's ``_create_scoped_session`` and the tables of intermediate
  values and user attributes. Optuna's public setters commit one row each, and 15 epochs
  reported one transaction at a time were a third of a small trial's wall time.
- ``BaseDistribution._contains``: Optuna's own check that a value fits a distribution,
  used to keep warm-start values that the new search space can take (`tuner.versions`).
"""

from __future__ import annotations

import re
import threading
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from optuna.distributions import BaseDistribution

__all__ = ["REQUIRED", "distribution_contains", "missing", "open_rdb", "rdb_models",
           "schema_head", "write_trial_notes"]

# (module, attribute) pairs this module reaches into; checked by `missing`.
REQUIRED = (
    ("optuna.storages._rdb.models", "StudyUserAttributeModel"),
    ("optuna.storages._rdb.models", "TrialModel"),
    ("optuna.storages._rdb.models", "TrialSystemAttributeModel"),
    ("optuna.storages._rdb.models", "StudyModel"),
    ("optuna.storages._rdb.models", "TrialHeartbeatModel"),
    ("optuna.storages._rdb.models", "TrialModel._datetime_start_utc"),
    ("optuna.storages._rdb.models", "TrialModel._datetime_complete_utc"),
    ("optuna.distributions", "BaseDistribution._contains"),
    ("optuna.storages._rdb.storage", "_VersionManager"),
    ("optuna.storages._rdb.models", "BaseModel"),
    ("optuna.storages._rdb.models", "VersionInfoModel"),
    ("optuna.storages._rdb.models", "SCHEMA_VERSION"),
    # Hooks `tuner.storage.TunerStorage` overrides (the budget check runs inside
    # `_get_prepared_new_trial`, on the transaction that has locked the study's row).
    ("optuna.storages._rdb.storage", "RDBStorage._create_new_trial"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_prepared_new_trial"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_stale_trial_ids"),
    # ... and retries through an outage, as Optuna's _CachedStorage calls them directly.
    ("optuna.storages._rdb.storage", "RDBStorage._set_trial_param"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_best_trial_id"),
    ("optuna.storages._rdb.storage", "RDBStorage._get_trials"),
    # Several rows of one trial in one transaction (`write_trial_notes`).
    ("optuna.storages._rdb.storage", "_create_scoped_session"),
    ("optuna.storages._rdb.models", "TrialIntermediateValueModel"),
    ("optuna.storages._rdb.models",
     "TrialIntermediateValueModel.intermediate_value_to_stored_repr"),
    ("optuna.storages._rdb.models", "TrialUserAttributeModel"),
)


def rdb_models() -> ModuleType:
    """``optuna.storages._rdb.models``: the SQLAlchemy models of Optuna's tables."""
    from optuna.storages._rdb import models

    return models


def write_trial_notes(storage: Any, trial_id: int, values: dict[int, float],
                      user_attrs: dict[str, Any]) -> None:
    """Write ``values`` (step -> intermediate value) and ``user_attrs`` of one trial in a
    single transaction of the RDB ``storage``: the trial's state checked as Optuna's
    setters check it (``UpdateFinishedTrialError`` if finished), the rows already there
    (a write retried after its commit was lost) updated, the others inserted in bulk."""
    import json

    from optuna.storages._rdb.storage import _create_scoped_session

    models = rdb_models()
    Values, Attrs = models.TrialIntermediateValueModel, models.TrialUserAttributeModel
    with _create_scoped_session(storage.scoped_session) as session:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        storage.check_trial_is_updatable(trial_id, trial.state)
        rows = {}
        for step, value in values.items():
            stored, kind = Values.intermediate_value_to_stored_repr(value)
            rows[step] = {"intermediate_value": stored, "intermediate_value_type": kind}
        _upsert(session, Values, Values.step, trial_id, rows)
        _upsert(session, Attrs, Attrs.key, trial_id,
                {key: {"value_json": json.dumps(value)} for key, value in user_attrs.items()})


def _upsert(session: Any, model: Any, column: Any, trial_id: int,
            rows: dict[Any, dict[str, Any]]) -> None:
    """One trial's ``rows`` (the ``column`` value -> the other columns) into ``model``'s
    table: the keys already there updated, the others inserted in one statement."""
    import sqlalchemy

    if not rows:
        return
    have = set(session.scalars(sqlalchemy.select(column).where(
        model.trial_id == trial_id, column.in_(list(rows)))))
    for key in have:
        session.execute(sqlalchemy.update(model).where(
            model.trial_id == trial_id, column == key).values(**rows[key]))
    new = [{"trial_id": trial_id, column.key: key, **row}
           for key, row in rows.items() if key not in have]
    if new:
        session.execute(sqlalchemy.insert(model), new)


def distribution_contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` (external representation) is one ``dist`` can take, as Optuna
    checks an enqueued value (``Trial._is_fixed_param``)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


_REVISION = re.compile(r"""^(down_)?revision\s*=\s*["']([^"']+)["']""", re.MULTILINE)


@cache
def schema_head() -> str | None:
    """The head revision of Optuna's RDB schema (what ``alembic_version`` holds in an
    up-to-date storage), read from the migration scripts without importing alembic;
    None when it cannot be told (then every open takes Optuna's own path)."""
    import optuna.storages._rdb as rdb

    folder = Path(rdb.__file__).parent / "alembic" / "versions"
    revisions, downs = set(), set()
    for script in folder.glob("*.py"):
        for down, name in _REVISION.findall(script.read_text(encoding="utf-8")):
            (downs if down else revisions).add(name)
    heads = revisions - downs
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Any) -> bool:
    import sqlalchemy

    head = schema_head()
    if head is None:
        return False
    models = rdb_models()
    try:
        with engine.connect() as connection:
            current = connection.execute(
                sqlalchemy.text("SELECT version_num FROM alembic_version")).scalars().all()
            info = connection.execute(sqlalchemy.select(
                models.VersionInfoModel.schema_version)).scalars().all()
    except sqlalchemy.exc.SQLAlchemyError:
        return False  # no tables yet, or not Optuna's: Optuna's own path decides
    return current == [head] and info == [models.SCHEMA_VERSION]


def _stamp_empty(engine: Any) -> bool:
    """On a database without any table (a new SQLite file, an empty PostgreSQL database):
    create Optuna's tables and write what Optuna's first open writes (the version_info
    row and alembic's ``alembic_version`` at the head), in one transaction and without
    importing alembic. False, having done nothing, for anything else (and for MySQL,
    whose DDL cannot be rolled back); a concurrent creator makes this transaction fail
    with "already exists"/"duplicate", which `tuner.storage.open_storage` retries."""
    import optuna
    import sqlalchemy

    head = schema_head()
    if head is None or engine.dialect.name not in ("sqlite", "postgresql"):
        return False
    if sqlalchemy.inspect(engine).get_table_names():
        return False
    models = rdb_models()
    # The table alembic itself creates (alembic.runtime.migration, version_table).
    alembic_version = sqlalchemy.Table(
        "alembic_version", sqlalchemy.MetaData(),
        sqlalchemy.Column("version_num", sqlalchemy.String(32), nullable=False),
        sqlalchemy.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))
    with engine.begin() as connection:
        models.BaseModel.metadata.create_all(connection)
        alembic_version.create(connection)
        connection.execute(alembic_version.insert().values(version_num=head))
        connection.execute(sqlalchemy.insert(models.VersionInfoModel).values(
            version_info_id=1, schema_version=models.SCHEMA_VERSION,
            library_version=optuna.__version__))
    return True


class _LazyVersionManager:
    """Stands in for Optuna's ``_VersionManager`` (only `optuna storage upgrade` and the
    compatibility check use it) and builds the real one on first use."""

    def __init__(self, url: str, engine: Any, scoped_session: Any) -> None:
        self._args = (url, engine, scoped_session)
        self._real: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_args", "_real"):
            raise AttributeError(name)
        if self._real is None:
            from optuna.storages._rdb.storage import _VersionManager

            self._real = _VersionManager(*self._args)
        return getattr(self._real, name)


_PATCH_LOCK = threading.Lock()
S = TypeVar("S")


def open_rdb(cls: type[S], url: str, *, create: bool = True, **kwargs: Any) -> S | None:
    """``cls(url, **kwargs)`` for an `RDBStorage` subclass, skipping the table creation
    and the schema check (and the alembic import) when the database is already at the
    current schema, and creating and stamping a database that has no table at all in one
    transaction; any other database (old schema, foreign tables) takes Optuna's path.
    With ``create=False`` a database without Optuna's tables is left as it is: None."""
    from optuna.storages._rdb import storage as rdb_storage

    with _PATCH_LOCK:  # the class Optuna's __init__ builds, swapped for this one call
        real = rdb_storage._VersionManager
        rdb_storage._VersionManager = _LazyVersionManager
        try:
            storage: Any = cls(url, skip_table_creation=True, skip_compatibility_check=True,
                               **kwargs)
        finally:
            rdb_storage._VersionManager = real
    storage.skip_compatibility_check = False
    if _at_head(storage.engine):
        return storage
    if not create:
        import sqlalchemy

        if not sqlalchemy.inspect(storage.engine).has_table("studies"):
            storage.engine.dispose()
            return None
    elif _stamp_empty(storage.engine):
        return storage
    rdb_models().BaseModel.metadata.create_all(storage.engine)
    storage._version_manager = real(storage.url, storage.engine, storage.scoped_session)
    storage._version_manager.check_table_schema_compatibility()
    return storage


def missing() -> list[str]:
    """The names in `REQUIRED` that the installed Optuna does not have (empty: all there)."""
    import importlib

    gone = []
    for module_name, path in REQUIRED:
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError:
            gone.append(f"{module_name}.{path}")
            continue
        for part in path.split("."):
            if not hasattr(obj, part):
                gone.append(f"{module_name}.{path}")
                break
            obj = getattr(obj, part)
    return gone
