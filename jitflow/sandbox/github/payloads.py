"""GitHub REST payloads: one small function per GitHub object, built from the fake's state.

Each returns the JSON of one OpenAPI schema (named in its docstring), as GitHub sends it. `base`
is the fake's URL: every `*_url` / `href` points back at it, because PyGithub follows them.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from jitflow.clock import iso
from jitflow.sandbox.github.state import (
    PERMISSIONS,
    FakeComment,
    FakeCommit,
    FakeEnvironment,
    FakeFile,
    FakeOrg,
    FakeProtection,
    FakePull,
    FakeRepo,
    FakeReview,
    FakeRuleset,
    FakeTeam,
    FakeUser,
    MembershipState,
    Permission,
    TeamRole,
)

Json = dict[str, Any]

DOCS = "https://docs.github.com/rest"
_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _sha(*parts: object) -> str:
    """A stable, fake 40-hex object id derived from `parts`."""
    return hashlib.sha256("\0".join(map(str, parts)).encode()).hexdigest()[:40]


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_fake{number}"


def _host(base: str) -> str:
    return urlsplit(base).netloc


def simple_user_json(base: str, user: FakeUser | FakeOrg) -> Json:
    """`simple-user`: the user object embedded everywhere."""
    login = quote(user.login, safe="")
    api = f"{base}/users/{login}"
    is_org = isinstance(user, FakeOrg)
    kind = user.type if isinstance(user, FakeUser) else "Organization"
    html = (
        f"{base}/apps/{quote(user.login.removesuffix('[bot]'), safe='')}"
        if kind == "Bot"
        else f"{base}/{login}"
    )
    return {
        "login": user.login,
        "id": user.id,
        "node_id": _node_id("O" if is_org else ("BOT" if kind == "Bot" else "U"), user.id),
        "avatar_url": f"{base}/avatars/u/{user.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": f"{api}/followers",
        "following_url": api + "/following{/other_user}",
        "gists_url": api + "/gists{/gist_id}",
        "starred_url": api + "/starred{/owner}{/repo}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": api + "/events{/privacy}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": user.site_admin if isinstance(user, FakeUser) else False,
    }


def public_user_json(base: str, user: FakeUser | FakeOrg, public_repos: int) -> Json:
    """`public-user`: GET /users/{username} as another account sees it."""
    name = user.name
    email = user.email if isinstance(user, FakeUser) else None
    return {
        **simple_user_json(base, user),
        "name": name,
        "company": None,
        "blog": None,
        "location": None,
        "email": email,
        "hireable": None,
        "bio": user.description if isinstance(user, FakeOrg) else None,
        "twitter_username": None,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
    }


def organization_json(base: str, org: FakeOrg, public_repos: int) -> Json:
    """`organization-full` (also valid as the `team-organization` inside a team)."""
    login = quote(org.login, safe="")
    api = f"{base}/orgs/{login}"
    out: Json = {
        "login": org.login,
        "id": org.id,
        "node_id": _node_id("O", org.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": api + "/members{/member}",
        "public_members_url": api + "/public_members{/member}",
        "avatar_url": f"{base}/avatars/u/{org.id}?v=4",
        "description": org.description,
        "html_url": f"{base}/{login}",
        "has_organization_projects": True,
        "has_repository_projects": True,
        "is_verified": False,
        "public_repos": public_repos,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "type": "Organization",
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "archived_at": None,
    }
    if org.name is not None:
        out["name"] = org.name
    return out


def team_url(base: str, org: FakeOrg, team: FakeTeam) -> str:
    """GitHub's canonical team URL: outside the documented subset, never served here."""
    return f"{base}/organizations/{org.id}/team/{team.id}"


def team_json(base: str, org: FakeOrg, team: FakeTeam, public_repos: int) -> Json:
    """`team-full`: GET /orgs/{org}/teams/{team_slug}."""
    url = team_url(base, org, team)
    return {
        "id": team.id,
        "node_id": _node_id("T", team.id),
        "url": url,
        "html_url": f"{base}/orgs/{quote(org.login, safe='')}/teams/{quote(team.slug, safe='')}",
        "name": team.name,
        "slug": team.slug,
        "description": team.description,
        "privacy": team.privacy,
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": url + "/members{/member}",
        "repositories_url": f"{url}/repos",
        "type": "organization",
        "organization_id": org.id,
        "parent": None,
        "members_count": sum(1 for s in team.members.values() if s == "active"),
        "repos_count": 0,
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "organization": organization_json(base, org, public_repos),
    }


def team_membership_json(
    base: str, org: FakeOrg, team: FakeTeam, *, login: str, state: MembershipState, role: TeamRole
) -> Json:
    """`team-membership`."""
    return {
        "url": f"{team_url(base, org, team)}/memberships/{quote(login, safe='')}",
        "role": role,
        "state": state,
    }


def _repo_api(base: str, full_name: str) -> str:
    return f"{base}/repos/{full_name}"


def repository_json(base: str, repo: FakeRepo, owner: Json, open_issues: int) -> Json:
    """`repository`: the repository object embedded in pull requests."""
    r = _repo_api(base, repo.full_name)
    html = f"{base}/{repo.full_name}"
    host = _host(base)
    return {
        "id": repo.id,
        "node_id": _node_id("R", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": owner,
        "html_url": html,
        "description": repo.description,
        "fork": False,
        "url": r,
        "archive_url": r + "/{archive_format}{/ref}",
        "assignees_url": r + "/assignees{/user}",
        "blobs_url": r + "/git/blobs{/sha}",
        "branches_url": r + "/branches{/branch}",
        "collaborators_url": r + "/collaborators{/collaborator}",
        "comments_url": r + "/comments{/number}",
        "commits_url": r + "/commits{/sha}",
        "compare_url": r + "/compare/{base}...{head}",
        "contents_url": r + "/contents/{+path}",
        "contributors_url": f"{r}/contributors",
        "deployments_url": f"{r}/deployments",
        "downloads_url": f"{r}/downloads",
        "events_url": f"{r}/events",
        "forks_url": f"{r}/forks",
        "git_commits_url": r + "/git/commits{/sha}",
        "git_refs_url": r + "/git/refs{/sha}",
        "git_tags_url": r + "/git/tags{/sha}",
        "git_url": f"git://{host}/{repo.full_name}.git",
        "hooks_url": f"{r}/hooks",
        "issue_comment_url": r + "/issues/comments{/number}",
        "issue_events_url": r + "/issues/events{/number}",
        "issues_url": r + "/issues{/number}",
        "keys_url": r + "/keys{/key_id}",
        "labels_url": r + "/labels{/name}",
        "languages_url": f"{r}/languages",
        "merges_url": f"{r}/merges",
        "milestones_url": r + "/milestones{/number}",
        "notifications_url": r + "/notifications{?since,all,participating}",
        "pulls_url": r + "/pulls{/number}",
        "releases_url": r + "/releases{/id}",
        "ssh_url": f"git@{urlsplit(base).hostname}:{repo.full_name}.git",  # scp form: no port
        "stargazers_url": f"{r}/stargazers",
        "statuses_url": r + "/statuses/{sha}",
        "subscribers_url": f"{r}/subscribers",
        "subscription_url": f"{r}/subscription",
        "tags_url": f"{r}/tags",
        "teams_url": f"{r}/teams",
        "trees_url": r + "/git/trees{/sha}",
        "clone_url": f"{html}.git",
        "mirror_url": None,
        "svn_url": html,
        "homepage": None,
        "language": None,
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 0,
        "default_branch": repo.default_branch,
        "open_issues_count": open_issues,
        "open_issues": open_issues,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if repo.private else "public",
        "pushed_at": iso(_EPOCH),
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "permissions": {
            "admin": False, "maintain": False, "push": True, "triage": True, "pull": True
        },
        "allow_forking": False,
        "web_commit_signoff_required": False,
        "license": None,
    }


def full_repository_json(
    base: str, repo: FakeRepo, owner: Json, open_issues: int, organization: Json | None
) -> Json:
    """`full-repository`: GET /repos/{owner}/{repo}."""
    out = repository_json(base, repo, owner, open_issues)
    out.update(
        {
            "network_count": 0,
            "subscribers_count": 0,
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
            "allow_auto_merge": False,
            "allow_update_branch": False,
            "delete_branch_on_merge": False,
            "use_squash_pr_title_as_default": False,
            "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
            "squash_merge_commit_message": "COMMIT_MESSAGES",
            "merge_commit_title": "MERGE_MESSAGE",
            "merge_commit_message": "PR_TITLE",
            "custom_properties": {},
        }
    )
    if organization is not None:
        out["organization"] = organization
    return out


def _pull_branch_json(ref: str, sha: str, repo: Json) -> Json:
    return {
        "label": f"{repo['owner']['login']}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": repo["owner"],
        "repo": repo,
    }


def pull_request_simple_json(
    base: str, pull: FakePull, user: Json, repo: Json, author_association: str
) -> Json:
    """`pull-request-simple`: a pull request in a list (e.g. /commits/{sha}/pulls)."""
    full = pull.repo
    api = f"{_repo_api(base, full)}/pulls/{pull.number}"
    issue = f"{_repo_api(base, full)}/issues/{pull.number}"
    html = f"{base}/{full}/pull/{pull.number}"
    statuses = f"{_repo_api(base, full)}/statuses/{pull.head_sha}"
    review_comment = _repo_api(base, full) + "/pulls/comments{/number}"
    updated = max(
        [pull.created_at]
        + [t for t in (pull.merged_at, pull.closed_at) if t is not None]
        + [r.submitted_at for r in pull.reviews]
        + [c.date for c in pull.commits]
    )
    return {
        "url": api,
        "id": pull.id,
        "node_id": _node_id("PR", pull.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": review_comment,
        "comments_url": f"{issue}/comments",
        "statuses_url": statuses,
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "user": user,
        "body": pull.body,
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": iso(pull.created_at),
        "updated_at": iso(updated),
        "closed_at": iso(pull.closed_at) if pull.closed_at else None,
        "merged_at": iso(pull.merged_at) if pull.merged_at else None,
        "merge_commit_sha": pull.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _pull_branch_json(pull.head_ref, pull.head_sha, repo),
        "base": _pull_branch_json(pull.base_ref, pull.base_sha, repo),
        "_links": {
            "self": {"href": api},
            "html": {"href": html},
            "issue": {"href": issue},
            "comments": {"href": f"{issue}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": review_comment},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": author_association,
        "auto_merge": None,
        "draft": pull.draft,
    }


def pull_request_json(
    base: str,
    pull: FakePull,
    user: Json,
    repo: Json,
    author_association: str,
    *,
    merged_by: Json | None,
    comment_count: int,
) -> Json:
    """`pull-request`: GET /repos/{owner}/{repo}/pulls/{pull_number}."""
    out = pull_request_simple_json(base, pull, user, repo, author_association)
    is_open = pull.state == "open"
    out.update(
        {
            "merged": pull.merged,
            "mergeable": True if is_open else None,
            "rebaseable": True if is_open else None,
            "mergeable_state": "clean" if is_open else "unknown",
            "merged_by": merged_by,
            "comments": comment_count,
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": len(pull.commits),
            "additions": sum(f.additions for f in pull.files),
            "deletions": sum(f.deletions for f in pull.files),
            "changed_files": len(pull.files),
        }
    )
    return out


def review_json(
    base: str, pull: FakePull, review: FakeReview, user: Json, author_association: str
) -> Json:
    """`pull-request-review`."""
    html = f"{base}/{pull.repo}/pull/{pull.number}#pullrequestreview-{review.id}"
    pull_api = f"{_repo_api(base, pull.repo)}/pulls/{pull.number}"
    return {
        "id": review.id,
        "node_id": _node_id("PRR", review.id),
        "user": user,
        "body": review.body,
        "state": review.state,
        "html_url": html,
        "pull_request_url": pull_api,
        "author_association": author_association,
        "_links": {"html": {"href": html}, "pull_request": {"href": pull_api}},
        "submitted_at": iso(review.submitted_at),
        "commit_id": review.commit_id,
    }


def commit_json(
    base: str,
    full_name: str,
    commit: FakeCommit,
    *,
    parents: Sequence[str],
    author: Json | None,
    committer: Json | None,
) -> Json:
    """`commit`: an entry of GET /repos/{owner}/{repo}/pulls/{pull_number}/commits."""
    r = _repo_api(base, full_name)
    tree = _sha("tree", commit.sha)
    return {
        "url": f"{r}/commits/{commit.sha}",
        "sha": commit.sha,
        "node_id": f"C_fake{commit.sha[:12]}",
        "html_url": f"{base}/{full_name}/commit/{commit.sha}",
        "comments_url": f"{r}/commits/{commit.sha}/comments",
        "commit": {
            "url": f"{r}/git/commits/{commit.sha}",
            "author": {
                "name": commit.author_name,
                "email": commit.author_email,
                "date": iso(commit.date),
            },
            "committer": {
                "name": commit.committer_name,
                "email": commit.committer_email,
                "date": iso(commit.date),
            },
            "message": commit.message,
            "tree": {"sha": tree, "url": f"{r}/git/trees/{tree}"},
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": author,
        "committer": committer,
        "parents": [
            {"sha": p, "url": f"{r}/commits/{p}", "html_url": f"{base}/{full_name}/commit/{p}"}
            for p in parents
        ],
    }


def diff_entry_json(base: str, full_name: str, head_sha: str, entry: FakeFile) -> Json:
    """`diff-entry`: an entry of GET /repos/{owner}/{repo}/pulls/{pull_number}/files."""
    path = quote(entry.filename)
    out: Json = {
        "sha": _sha("blob", head_sha, entry.filename),
        "filename": entry.filename,
        "status": entry.status,
        "additions": entry.additions,
        "deletions": entry.deletions,
        "changes": entry.additions + entry.deletions,
        "blob_url": f"{base}/{full_name}/blob/{head_sha}/{path}",
        "raw_url": f"{base}/{full_name}/raw/{head_sha}/{path}",
        "contents_url": f"{_repo_api(base, full_name)}/contents/{path}?ref={head_sha}",
    }
    if entry.patch is not None:
        out["patch"] = entry.patch
    if entry.previous_filename is not None:
        out["previous_filename"] = entry.previous_filename
    return out


def issue_comment_json(
    base: str, comment: FakeComment, user: Json, author_association: str
) -> Json:
    """`issue-comment`."""
    r = _repo_api(base, comment.repo)
    url = f"{r}/issues/comments/{comment.id}"
    return {
        "id": comment.id,
        "node_id": _node_id("IC", comment.id),
        "url": url,
        "html_url": f"{base}/{comment.repo}/pull/{comment.number}#issuecomment-{comment.id}",
        "issue_url": f"{r}/issues/{comment.number}",
        "body": comment.body,
        "user": user,
        "created_at": iso(comment.created_at),
        "updated_at": iso(comment.updated_at),
        "author_association": author_association,
        "performed_via_github_app": None,
        "reactions": {
            "url": f"{url}/reactions",
            "total_count": 0,
            "+1": 0,
            "-1": 0,
            "laugh": 0,
            "confused": 0,
            "heart": 0,
            "hooray": 0,
            "eyes": 0,
            "rocket": 0,
        },
    }


# -- repository settings (what `jitflow doctor` reads) -------------------------------------


def blob_sha(data: bytes) -> str:
    """The git blob id of `data`, as GitHub reports a file's `sha`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _content_links(base: str, full_name: str, path: str, ref: str, git: str) -> Json:
    return {
        "url": f"{_repo_api(base, full_name)}/contents/{quote(path)}?ref={quote(ref, safe='')}",
        "git_url": git,
        "html_url": f"{base}/{full_name}/blob/{quote(ref, safe='')}/{quote(path)}",
    }


def content_file_json(base: str, full_name: str, path: str, ref: str, data: bytes) -> Json:
    """`content-file`: GET /repos/{owner}/{repo}/contents/{path} for a file (base64, wrapped
    at 60 characters as GitHub sends it)."""
    sha = blob_sha(data)
    git = f"{_repo_api(base, full_name)}/git/blobs/{sha}"
    links = _content_links(base, full_name, path, ref, git)
    encoded = base64.b64encode(data).decode()
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(data),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
        "sha": sha,
        **links,
        "download_url": f"{base}/raw/{full_name}/{quote(ref, safe='')}/{quote(path)}",
        "_links": {"self": links["url"], "git": links["git_url"], "html": links["html_url"]},
    }


def content_entry_json(base: str, full_name: str, path: str, ref: str, data: bytes | None) -> Json:
    """One entry of `content-directory`: a file (`data`) or a directory (None)."""
    sha = blob_sha(data) if data is not None else _sha("tree", full_name, ref, path)
    kind = "blobs" if data is not None else "trees"
    links = _content_links(base, full_name, path, ref,
                           f"{_repo_api(base, full_name)}/git/{kind}/{sha}")
    return {
        "type": "file" if data is not None else "dir",
        "size": len(data) if data is not None else 0,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        **links,
        "download_url": (f"{base}/raw/{full_name}/{quote(ref, safe='')}/{quote(path)}"
                         if data is not None else None),
        "_links": {"self": links["url"], "git": links["git_url"], "html": links["html_url"]},
    }


def ruleset_rule_json(rule: Json, ruleset: FakeRuleset, full_name: str) -> Json:
    """`repository-rule-detailed`: a rule as GET .../rules/branches/{branch} lists it."""
    return {**rule, "ruleset_source_type": "Repository", "ruleset_source": full_name,
            "ruleset_id": ruleset.id}


def ruleset_json(base: str, full_name: str, ruleset: FakeRuleset) -> Json:
    """`repository-ruleset`: GET /repos/{owner}/{repo}/rulesets/{ruleset_id} (as an admin
    sees it: with its bypass actors)."""
    return {
        "id": ruleset.id,
        "name": ruleset.name,
        "target": "branch",
        "source_type": "Repository",
        "source": full_name,
        "enforcement": ruleset.enforcement,
        "bypass_actors": [dict(actor) for actor in ruleset.bypass_actors],
        "current_user_can_bypass": "always" if ruleset.bypass_actors else "never",
        "node_id": _node_id("RRS", ruleset.id),
        "_links": {
            "self": {"href": f"{_repo_api(base, full_name)}/rulesets/{ruleset.id}"},
            "html": {"href": f"{base}/{full_name}/rules/{ruleset.id}"},
        },
        "conditions": {"ref_name": {"include": list(ruleset.include),
                                    "exclude": list(ruleset.exclude)}},
        "rules": [dict(rule) for rule in ruleset.rules],
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
    }


def branch_protection_json(base: str, full_name: str, branch: str, protection: FakeProtection,
                           bypass_users: Sequence[Json]) -> Json:
    """`branch-protection`: GET /repos/{owner}/{repo}/branches/{branch}/protection."""
    url = f"{_repo_api(base, full_name)}/branches/{quote(branch, safe='')}/protection"
    checks = url + "/required_status_checks"
    out: Json = {
        "url": url,
        "required_status_checks": {
            "url": checks,
            "strict": False,
            "contexts": [context for context, _app in protection.required_checks],
            "contexts_url": f"{checks}/contexts",
            "checks": [{"context": context, "app_id": app}
                       for context, app in protection.required_checks],
        },
        "enforce_admins": {"url": f"{url}/enforce_admins", "enabled": protection.enforce_admins},
        "required_linear_history": {"enabled": False},
        "allow_force_pushes": {"enabled": protection.allow_force_pushes},
        "allow_deletions": {"enabled": protection.allow_deletions},
        "block_creations": {"enabled": False},
        "required_conversation_resolution": {"enabled": False},
        "lock_branch": {"enabled": False},
        "allow_fork_syncing": {"enabled": False},
        "required_signatures": {"url": f"{url}/required_signatures", "enabled": False},
    }
    if protection.pull_request_reviews:
        out["required_pull_request_reviews"] = {
            "url": f"{url}/required_pull_request_reviews",
            "dismiss_stale_reviews": protection.dismiss_stale_reviews,
            "require_code_owner_reviews": protection.require_code_owner_reviews,
            "required_approving_review_count": 1,
            "require_last_push_approval": protection.require_last_push_approval,
            "bypass_pull_request_allowances": {"users": list(bypass_users), "teams": [],
                                               "apps": []},
        }
    return out


def environment_json(base: str, full_name: str, environment: FakeEnvironment) -> Json:
    """`environment`: GET /repos/{owner}/{repo}/environments/{environment_name}."""
    policy: Json | None = None
    rules: list[Json] = []
    if environment.branch_policy != "all":
        custom = environment.branch_policy == "custom"
        policy = {"protected_branches": not custom, "custom_branch_policies": custom}
        rule_id = environment.id + 1
        rules.append({"id": rule_id, "node_id": _node_id("GA", rule_id), "type": "branch_policy"})
    name = quote(environment.name, safe="")
    return {
        "id": environment.id,
        "node_id": _node_id("EN", environment.id),
        "name": environment.name,
        "url": f"{_repo_api(base, full_name)}/environments/{name}",
        "html_url": f"{base}/{full_name}/deployments/activity_log?environments_filter={name}",
        "created_at": iso(_EPOCH),
        "updated_at": iso(_EPOCH),
        "protection_rules": rules,
        "deployment_branch_policy": policy,
    }


def deployment_branch_policy_json(environment: FakeEnvironment, index: int) -> Json:
    """`deployment-branch-policy`."""
    name, kind = environment.branch_policies[index]
    policy_id = environment.id * 100 + index
    return {"id": policy_id, "node_id": _node_id("DBP", policy_id), "name": name, "type": kind}


def actions_variable_json(name: str, value: str) -> Json:
    """`actions-variable`."""
    return {"name": name, "value": value, "created_at": iso(_EPOCH), "updated_at": iso(_EPOCH)}


def actions_secret_json(name: str) -> Json:
    """`actions-secret`: names and dates only; GitHub never shows a secret's value."""
    return {"name": name, "created_at": iso(_EPOCH), "updated_at": iso(_EPOCH)}


def team_repository_json(base: str, repo: FakeRepo, owner: Json, open_issues: int,
                         permission: Permission) -> Json:
    """`team-repository`: GET /orgs/{org}/teams/{team_slug}/repos/{owner}/{repo} asked for
    `application/vnd.github.v3.repository+json`: the repository with the team's permissions."""
    out = repository_json(base, repo, owner, open_issues)
    del out["has_discussions"]  # not in GitHub's team-repository schema
    rank = PERMISSIONS.index(permission)
    out["permissions"] = {level: rank >= PERMISSIONS.index(level) for level in PERMISSIONS}
    out["role_name"] = {"pull": "read", "push": "write"}.get(permission, permission)
    return out


def error_json(status: int, message: str, documentation_url: str = DOCS) -> Json:
    """`basic-error`: GitHub's error body for 401/403/404/..."""
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def validation_error_json(message: str, errors: Sequence[Json] = ()) -> Json:
    """`validation-error`: GitHub's 422 body."""
    out: Json = {"message": message, "documentation_url": DOCS}
    if errors:
        out["errors"] = list(errors)
    return out
