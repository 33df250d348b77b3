"""Former home of the run folder's lock, now milelib.store.lock; these names stay for callers not
yet moved."""
from .store.lock import HELD_FOR, LOCK_NAME, RunFolderBusy, hold, held_for_this_process, holder  # noqa: F401
