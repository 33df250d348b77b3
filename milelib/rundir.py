"""Former home of the run folder's functions, now in milelib.store; these names stay for callers
not yet moved."""
from .store import (RUN_FACTS, finished_hash, prepare, previous_result, result_problem,  # noqa: F401
                    settings_lacking, write, write_lines)
