"""The `tuner` command line: a thin skin over the library.

Each command parses its options, makes one library call (`tuner.run`, `tuner.retune`,
`tuner.train`, `tuner.study`, ...) and prints the result. Errors the user can fix are
one line on stderr and exit code 2; anything unexpected is one line and exit code 1 (the
traceback with -v). A password in a URL is never printed.

- `tuner.cli.app`: the root group, per-invocation state, output, logging, shared options.
- `tuner.cli.tuning`: study run, worker, retune, schedule.
- `tuner.cli.reading`: study list/show/best/report/importance, fingerprint, split,
  dashboard.
- `tuner.cli.model`: train, predict.
- `tuner.cli.champion`: promote, champion, history.
"""

from tuner.cli import champion, model, reading, tuning  # noqa: F401 - registers the commands
from tuner.cli.app import cli, main

__all__ = ["cli", "main"]
