"""`ankplan validate FILE...` and `ankplan schema`: check manifests, print the JSON Schema.

Does I/O: reads the manifests (through the loader) and writes to the Env's streams.
"""

from __future__ import annotations

import argparse
import json

import yaml

from ankplan.cli.env import Env, ExitStatus
from ankplan.cli.options import add_manifest_options, add_output_option, manifest_words
from ankplan.cli.views.diagnostics import FORMATS, print_diagnostics, summary_line
from ankplan.manifests.load import API_VERSIONS, check_manifest
from ankplan.schemas import load_schema


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `validate` and `schema` sub-commands."""
    parser = subparsers.add_parser(
        "validate", help="check Ankaios manifests and report every problem",
        description="Check one or more Ankaios manifests (taken together, as `ank apply a b` "
                    "does) and report every problem with file:line:column. Exit 0 when valid.")
    add_manifest_options(parser)
    add_output_option(parser, FORMATS, format_alias=True,
                      help="text, json, or github workflow annotations")
    parser.add_argument("--strict", action="store_true", help="warnings fail validation too")
    parser.add_argument("--agent", metavar="NAME",
                        help="agent for every workload, as `ank apply --agent NAME`")
    parser.add_argument("--each", action="store_true",
                        help="check every file on its own instead of as one manifest "
                             "(for pre-commit, where unrelated manifests come together)")
    parser.set_defaults(func=run)
    schema = subparsers.add_parser(
        "schema", help="print the manifest JSON Schema (for editors)",
        description="Print the JSON Schema ankplan checks manifests against, e.g. for "
                    "yaml-language-server.")
    schema.add_argument("--api-version", choices=API_VERSIONS, default="v1",
                        help="manifest apiVersion (default v1)")
    add_output_option(schema, ("json", "yaml"), help="the schema as")
    schema.set_defaults(func=run_schema)


def run(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Validate the files; exit 0 when valid (warnings count only with --strict)."""
    _, files = manifest_words(args)
    stdin = env.stdin.read() if "-" in files else None
    groups = [[path] for path in files] if args.each else [files]
    results = [(group, *check_manifest(group, agent_override=args.agent, stdin=stdin))
               for group in groups]
    diagnostics = tuple(item for _, _, found in results for item in found)
    errors = any(diagnostic.is_error for diagnostic in diagnostics)
    valid = not errors and not (args.strict and diagnostics)
    print_diagnostics(env, diagnostics, fmt=args.output, valid=valid)
    if args.output != "text":
        return ExitStatus.SUCCESS if valid else ExitStatus.ERROR
    if valid:
        for group, manifest, found in results:
            count = len(manifest.workloads) if manifest is not None else 0
            notes = f"; {summary_line(found)}" if found else ""
            env.stdout.write(f"valid: {', '.join(group)} ({count} workload"
                             f"{'s' * (count != 1)}{notes})\n")
    elif not errors:
        env.err_console().print("invalid: warnings fail with --strict")
    return ExitStatus.SUCCESS if valid else ExitStatus.ERROR


def run_schema(args: argparse.Namespace, env: Env) -> ExitStatus:
    """Print the manifest JSON Schema for --api-version (JSON, or YAML with -o yaml)."""
    schema = load_schema(f"manifest-{args.api_version}")
    env.stdout.write(json.dumps(schema, indent=2) + "\n" if args.output == "json"
                     else yaml.safe_dump(schema, sort_keys=False))
    return ExitStatus.SUCCESS
