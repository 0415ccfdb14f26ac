"""The one exception type for mistakes a user can fix (bad files, bad flags, missing corpora).

The command line prints such an error as one line and exits with status 2; anything else is a
bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input: the message says what was wrong and, where it can, the fix."""


class WorkerDied(UserError):
    """A local engine lost a worker process (killed from outside, out of memory): the pool is gone."""
