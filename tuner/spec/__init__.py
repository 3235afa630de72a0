"""A study file, read with tomllib and validated into frozen objects before any work starts.

Every error names the file, the section and the key, and says what would be valid, so a
user can fix a study file from the one line `tuner` prints.

- schema: the frozen objects (`StudySpec`, `DataSpec`, ...) and the names a file accepts.
- parse: `load_spec` / `parse_spec`, section by section; data_section: the [data] sources;
  deploy_section: [deploy], where the champion goes; retune_section: [retune], when a
  change of the data re-tunes.
- limits: what the machine and the databases can hold, checked before anything is written.
- reader: the validation helpers that name the file, section and key.
"""

from tuner.spec.parse import load_spec, parse_spec
from tuner.spec.schema import (
    METRICS,
    PRIORS,
    PRUNERS,
    SAMPLERS,
    DataSpec,
    DeploySpec,
    ModelSpec,
    ParamSpec,
    PrunerSpec,
    RetuneSpec,
    SamplerSpec,
    SpecError,
    StudySpec,
)

__all__ = [
    "METRICS", "PRIORS", "PRUNERS", "SAMPLERS", "DataSpec", "DeploySpec", "ModelSpec", "ParamSpec",
    "PrunerSpec", "RetuneSpec", "SamplerSpec", "SpecError", "StudySpec", "load_spec", "parse_spec",
]
