"""The local sandbox: stand-ins for AWS and GitHub used by `jitflow demo` and the tests.

Installed with the `demo` extra. Nothing in jitflow's core imports this package.
"""
