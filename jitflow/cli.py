"""Command line: parse arguments, call the command, print, return an exit code.

Each subcommand lives in `jitflow.commands.<module>` with `add_arguments(parser)` and
`run(args) -> int`. Command modules import heavy adapters (boto3, PyGithub) only inside
`run`, so `jitflow validate` stays fast and never loads them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from jitflow import __version__
from jitflow.errors import ExternalError, InvalidInput, JitflowError, UsageError
from jitflow.problems import render

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("jitflow.commands.validate", "validate request files against the policies"),
    "plan": ("jitflow.commands.plan", "show the exact policy a request would be granted"),
    "apply": ("jitflow.commands.apply", "grant approved requests in AWS and record them"),
    "revoke": ("jitflow.commands.revoke", "end expired and orphaned grants, or one early"),
    "status": ("jitflow.commands.status", "show live grants in AWS and anything wrong"),
    "check": ("jitflow.commands.check", "check a pull request: its requests, scope and approvals"),
    "audit": ("jitflow.commands.audit", "verify, show or repair the audit log"),
    "codeowners": ("jitflow.commands.codeowners", "generate CODEOWNERS from the policies"),
    "demo": ("jitflow.commands.demo", "run the whole flow locally (moto, fake GitHub, git)"),
    "doctor": ("jitflow.commands.doctor", "check a live setup on GitHub and in AWS"),
    "init": ("jitflow.commands.init", "scaffold a new access repository"),
    "new": ("jitflow.commands.new", "write a new request file, drafted from its policy"),
    "policies": ("jitflow.commands.policies", "list the policies, or those covering a bucket"),
}

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_EXTERNAL, EXIT_INTERNAL = 0, 1, 2, 3, 70


def exit_code_for(error: BaseException) -> int:
    """The one place errors become exit codes."""
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if isinstance(error, ExternalError):
        return EXIT_EXTERNAL
    if isinstance(error, JitflowError):
        return EXIT_INVALID
    return EXIT_INTERNAL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name][0])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's (so a run imports one command module)."""
    parser = _Parser(prog="jitflow", description="Just-in-time S3 write access via pull requests.")
    parser.add_argument("--version", action="version", version=f"jitflow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_module, help_text) in COMMANDS.items():
        if only is not None and name != only:
            continue
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        _command_module(name).add_arguments(sub)
    return parser


def _report(error: JitflowError) -> None:
    if isinstance(error, InvalidInput) and error.problems:
        print(render(error.problems, "text"), file=sys.stderr)
    print(f"jitflow: error: {error.message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(args_list[0] if args_list and args_list[0] in COMMANDS else None)
        if not args_list:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        args = parser.parse_args(args_list)
        if args.command is None:
            raise UsageError("no command given; see jitflow --help")
        result: int = _command_module(args.command).run(args)
        return result
    except JitflowError as error:
        _report(error)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `jitflow status | head`: the reader left; nothing went wrong here
        sys.stderr.close()  # no second "Broken pipe" message at interpreter exit
        return 141
    except Exception as error:  # a bug: say so plainly, keep the traceback one flag away
        if os.environ.get("JITFLOW_DEBUG"):
            import traceback  # noqa: PLC0415  (only on this path: it costs startup time)

            traceback.print_exc()
        print(
            f"jitflow: internal error: {type(error).__name__}: {error} "
            "(set JITFLOW_DEBUG=1 for a traceback; please report it)",
            file=sys.stderr,
        )
        return exit_code_for(error)
