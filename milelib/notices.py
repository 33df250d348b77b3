"""One-line warnings: `warn(message)` shows as "milelib: MilelibWarning: message", without the
source line Python's warnings normally add, and can be filtered or caught like any warning."""
import warnings


class MilelibWarning(UserWarning):
    """Something a user should know that does not stop the run (a resume that will not be exact)."""


def warn(message: str) -> None:
    warnings.warn_explicit(message, MilelibWarning, filename="milelib", lineno=0, module="milelib")
