"""The base of every error a user can fix by changing input or parameters.

Drivers (the CLI, the Prefect flows) show these as one clear message, never a traceback.
"""


class UserError(Exception):
    """A mistake in the user's data, parameters or environment, explained in its message."""


class RemoteStoreError(UserError, ConnectionError):
    """S3 or the MLflow server could not be reached or failed a request: the message names which
    and what was being done. Transient by nature: the flow retries the step."""
