"""Errors a user can cause. The CLI prints them in one line and exits with status 2."""


class PaperzooError(Exception):
    """Base class: the message says what was wrong and what to do about it."""


class ConfigError(PaperzooError, ValueError):
    """A config file, key, value or override is wrong."""


class DataError(PaperzooError):
    """A dataset is missing, unreadable or malformed."""


class CheckpointError(PaperzooError):
    """A run directory, checkpoint or export is missing or unusable."""


class InvalidArgumentError(PaperzooError, ValueError):
    """A function argument is out of its domain (e.g. gamma <= 0, targets not in {-1, +1})."""


class TrainingDivergedError(PaperzooError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""
