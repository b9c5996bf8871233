"""The local sandbox: stand-ins for AWS and GitHub used by `jitflow demo` and the tests.

- `jitflow.sandbox.github`: a fake GitHub REST API server (`FakeGitHub`);
- `jitflow.sandbox.moto`: moto's server on 127.0.0.1 and its IAM enforcement switch;
- `example_repo/` (data, not a module): the access repository the demo seeds, a copy of this
  repository's own files written by tools/sync_demo_repo.py.

It ships in the package; what it needs beyond jitflow's own dependencies (moto's server) comes
with the `demo` extra: `pip install 'jitflow[demo]'`. Nothing in jitflow's core imports this
package, and nothing is imported at package import time.
"""
