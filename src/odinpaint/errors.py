"""Whose fault it is: errors a user can fix, told apart from bugs.

    >>> from odinpaint.errors import UserError
    >>> raise UserError("photo.jpg: not an image file")

``UserError`` (and its kinds: ``ImageError``, ``DataSetError``, ``CheckpointError``,
``TrainingError``) is a problem with the input, an option, a file or the machine's state that
the user can fix. The command line prints it as one line and exits with status 2; the server
answers it with a 4xx status. Anything else that escapes is a bug in odinpaint: the command
line says so, exits with status 1 and keeps the traceback, and the server answers 500.

It subclasses ``ValueError`` so that code calling odinpaint from Python and catching
``ValueError`` for bad input keeps working; odinpaint itself never catches a bare
``ValueError`` as the user's fault.
"""

from __future__ import annotations


class UserError(ValueError):
    """A problem the user can fix; its message names the file or field and the reason."""
