"""The pull request: judging its changes (`check`), re-verifying a merge (`merge`), and the
Markdown reviewers and requesters read (`report`, `comments`)."""
