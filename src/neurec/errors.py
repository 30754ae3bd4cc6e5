"""The errors a person can fix: entry points print them as one line and exit 2, without a traceback."""


class UserError(ValueError):
    """Bad input (data, config, a file that is not what it should be), as opposed to a bug."""


class ConfigError(UserError):
    """A config value or an artifact path that cannot work; reported before any compute is spent."""
