"""Development tools shipped with jitflow for its tests and for `jitflow demo`.

Nothing here is used by `jitflow check`, `apply` or `revoke` against real services: these are
test doubles (see `jitflow.devtools.fake_github`). Nothing is imported at package import time.
"""
