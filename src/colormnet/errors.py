"""User-facing errors. The CLI prints these without a traceback and exits non-zero."""


class ColormnetError(Exception):
    """Base class: something the user can fix (bad input, missing file, ...)."""

    exit_code = 2


class InputError(ColormnetError):
    """An input file or argument is missing, unreadable or unusable. Name the file in the message."""


class OutputError(ColormnetError):
    """An output cannot be written (exists, same as input, directory not writable, ...)."""


class WeightsError(ColormnetError):
    """A checkpoint is missing, corrupt or does not match the network."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP received: unwinds like Ctrl-C (temporary outputs are removed) and the CLI
    exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
