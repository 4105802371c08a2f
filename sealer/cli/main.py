"""The ``sealer`` command group; every error becomes one line and an exit code here."""

from __future__ import annotations

from typing import Any

import click

import sealer
from sealer.cli.cluster import cert, reencrypt, validate
from sealer.cli.offline import keygen, unseal
from sealer.cli.seal import seal
from sealer.errors import InputError, SealerError


class SealerGroup(click.Group):
    """Maps our errors to click's: bad input and failures exit 1, misuse exits 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except InputError as exc:
            raise click.ClickException(str(exc)) from None
        except SealerError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            name = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(f"cannot access{name}: {exc.strerror or exc}") from None


@click.group(
    cls=SealerGroup,
    context_settings={"auto_envvar_prefix": "SEALER", "help_option_names": ["-h", "--help"]},
)
@click.version_option(sealer.__version__, prog_name="sealer")
def cli() -> None:
    """Seal Kubernetes Secrets so they are safe to keep in Git.

    Compatible with Bitnami Sealed Secrets. Shell completion:
    eval "$(_SEALER_COMPLETE=bash_source sealer)" (zsh_source, fish_source likewise).
    """


for command in (seal, unseal, keygen, cert, validate, reencrypt):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="sealer")
