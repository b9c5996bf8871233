"""`jitflow doctor`: check a live setup, one ✔/✘ line per item (pure; facts come in).

- `facts`: what the adapters gather (`jitflow.gh`, `jitflow.aws`), as plain values;
- `gather`: asks the adapters, through the ports it declares, for those facts;
- `expected`: the names a sound setup uses (variables, check, environment, paths);
- `workflows`: the subject each role must trust, from its caller workflow;
- `repo_checks`, `aws_checks`: the checks, facts in, `Finding`s out;
- `findings`: the result lines, their setup-guide links, text and JSON.
"""
