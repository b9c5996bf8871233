"""jitflow: just-in-time S3 write access, requested and approved in pull requests."""

__version__ = "0.1.0"
