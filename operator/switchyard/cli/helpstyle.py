"""Help in a kubectl user's words: `WORKFLOW`, `--timeout SECONDS`, `[default: 120]`, no Python type names.

typer (pinned in pyproject) labels each parameter with its Python type (`<str>`, `<bool>`, `<list[Path]>`) and
writes a required argument as `{name}`. `kubectl_style` walks the built click command and gives every argument
and option a metavar (named below, else the parameter's name in capitals), no type for flags, the choices of an
enum (`json|yaml`), and a whole-number float default without its `.0`. tests/unit/test_cli_help.py runs every
command's --help and fails on any Python type name.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Option metavars by parameter name where the name alone would not say what to give.
OPTION_METAVARS = {
    "kubeconfig": "FILE",
    "context": "NAME",
    "namespace": "NAME",
    "timeout": "SECONDS",
    "dir": "DIR",
    "directory": "DIR",
    "examples": "DIR",
    "ingest_port": "PORT",
    "content_type": "TYPE",
    "rules": "FILE|DIR",
    "components": "FILE|DIR",
    "output": "FILE",
}
ARGUMENT_METAVARS = {"files": "FILE|DIR"}


class KubectlArgument(TyperArgument):
    """An argument shown by its metavar only; optional ones in brackets (`WORKFLOW [NODE]`)."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"


class KubectlOption(TyperOption):
    """An option shown by its metavar; a flag by its name only."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None if self.is_flag else self.metavar


def _style_argument(param: TyperArgument) -> None:
    if param.metavar is None:
        name = ARGUMENT_METAVARS.get(str(param.name), str(param.name).upper())
        param.metavar = f"{name}..." if param.nargs != 1 else name
    param.__class__ = KubectlArgument


def _style_option(param: TyperOption) -> None:
    descriptor = param.type_descriptor
    if param.metavar is None and not param.is_flag:
        if descriptor.is_choice:
            param.metavar = "|".join(str(getattr(choice, "value", choice)) for choice in descriptor.choices or ())
        else:
            param.metavar = OPTION_METAVARS.get(str(param.name), str(param.name).upper().replace("_", "-"))
    if isinstance(param.default, float) and param.default.is_integer():
        param.default = int(param.default)  # shown as `120`, not `120.0`; the option's type still makes it a float
    param.__class__ = KubectlOption


def _styled_help(option: Any) -> Any:
    if isinstance(option, TyperOption) and not isinstance(option, KubectlOption):
        _style_option(option)
    return option


class KubectlCommand(TyperCommand):
    """A command whose `-h/--help` option (made on first use) is styled too."""

    def get_help_option(self, ctx: Any) -> Any:
        return _styled_help(super().get_help_option(ctx))


class KubectlGroup(TyperGroup):
    def get_help_option(self, ctx: Any) -> Any:
        return _styled_help(super().get_help_option(ctx))


def kubectl_style(command: Any) -> Any:
    """Restyle the help of `command` (a click command or group, as `typer.main.get_command` builds it) and of
    every command below it; returns it."""
    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument) and not isinstance(param, KubectlArgument):
            _style_argument(param)
        elif isinstance(param, TyperOption) and not isinstance(param, KubectlOption):
            _style_option(param)
    if type(command) is TyperGroup:
        command.__class__ = KubectlGroup
    elif type(command) is TyperCommand:
        command.__class__ = KubectlCommand
    for sub in getattr(command, "commands", {}).values():
        kubectl_style(sub)
    return command
