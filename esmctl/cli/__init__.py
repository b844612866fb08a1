"""The command line: a thin Typer layer. Each command parses options, calls `esmctl.api`, renders.

No boto3 here. One error policy lives in `run()`: an EsmctlError prints its cause and next step and
exits with its code (1, or 130 after Ctrl-C); usage errors exit 2; `-v` adds details. Typer's
pretty exceptions (which print local variables, and so could print credentials) stay off.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

import typer

from esmctl import __version__
from esmctl.errors import ConfigError, EsmctlError

if TYPE_CHECKING:  # rich (through esmctl.ui) is imported on first use: `--help` stays fast
    from esmctl.api import Workspace
    from esmctl.ui import UI

app = typer.Typer(
    name="esmctl",
    help="Deploy EvolutionaryScale's ESM models to SageMaker endpoints in your own AWS account.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class Globals:
    config: str | None
    profile: str | None
    region: str | None
    endpoint_url: str | None
    verbose: bool
    color: bool
    state: str | None = None

    def ui(self) -> UI:
        from esmctl.ui import UI as _UI
        return _UI(verbose=self.verbose, color=self.color)

    def workspace(self, ui: UI | None = None) -> Workspace:
        from esmctl.api import Workspace
        return Workspace(self.config, profile=self.profile, region=self.region,
                         endpoint_url=self.endpoint_url, reporter=ui or self.ui(), state=self.state)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"esmctl {__version__}")
        raise typer.Exit()


@app.callback()
def _globals(
    ctx: typer.Context,
    config: str = typer.Option(None, "-c", "--config", envvar="ESMCTL_CONFIG",
                               help="Path to esmctl.yaml (default ./esmctl.yaml)."),
    profile: str = typer.Option(None, "--profile", help="AWS profile to use."),
    region: str = typer.Option(None, "--region", help="AWS region (overrides `region:` in esmctl.yaml)."),
    endpoint_url: str = typer.Option(None, "--endpoint-url",
                                     help="Send every AWS call to this URL (as the AWS CLI does)."),
    state: str = typer.Option(None, "--state", envvar="ESMCTL_STATE", metavar="PATH|s3://BUCKET/PREFIX/",
                              help="Where the state lives (overrides `state:` in esmctl.yaml)."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Show details (AWS error codes, steps)."),
    no_color: bool = typer.Option(False, "--no-color", help="No colours (also NO_COLOR)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    ctx.obj = Globals(config, profile, region, endpoint_url, verbose, not no_color, state)


def g(ctx: typer.Context) -> Globals:
    obj = ctx.find_root().obj
    assert isinstance(obj, Globals)
    return obj


def _register() -> None:
    from esmctl.cli import commands, creds, doctor, embed, permissions, sandbox, state  # noqa: F401  (commands register themselves on `app`)


_register()


GLOBAL_WITH_VALUE = ("-c", "--config", "--profile", "--region", "--endpoint-url", "--state")
GLOBAL_OPTIONS = (*GLOBAL_WITH_VALUE, "-v", "--verbose", "--no-color", "--version")


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code; every expected failure is handled here."""
    args = sys.argv[1:] if argv is None else argv
    verbose = any(a in ("-v", "--verbose") for a in args)
    command = typer.main.get_command(app)

    def ui() -> UI:
        from esmctl.ui import UI as _UI
        return _UI(verbose=verbose, color="--no-color" not in args)
    try:
        rv = command.main(args=args, prog_name="esmctl", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except ConfigError as e:
        from esmctl.ui import escape
        u = ui()
        u.error(e.message, e.hint)
        for p in e.problems:
            u.err.print(f"  [red]✗[/] {escape(p.render())}")
        return 1
    except EsmctlError as e:
        ui().error(e.message, e.hint, e.details)
        return e.exit_code
    except typer.Exit as e:
        return int(e.exit_code)
    except typer.Abort as e:
        if isinstance(e.__cause__, KeyboardInterrupt | EOFError):
            ui().error("Interrupted.")
            return 130
        ui().error("Aborted.")
        return 1
    except typer.TyperException as e:  # usage errors: bad option, missing argument (exit 2)
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            ui().error(str(e))
        option, ctx = getattr(e, "option_name", None), getattr(e, "ctx", None)
        if option in GLOBAL_OPTIONS and ctx is not None and ctx.parent is not None:
            given = f"{option} …" if option in GLOBAL_WITH_VALUE else option
            where = " ".join(ctx.command_path.split()[1:])
            ui().info(f"{option} is a global option: it goes before the command name (esmctl {given} {where} …).")
        return int(getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        ui().error("Interrupted.")
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # a bug: say so plainly, details with -v
        u = ui()
        u.error(f"Internal error: {type(e).__name__}: {e}",
                "Run again with -v for the traceback and report it to the esmctl maintainers.")
        if verbose:
            u.err.print(traceback.format_exc(), markup=False)
        return 1


def main() -> None:
    sys.exit(run())
