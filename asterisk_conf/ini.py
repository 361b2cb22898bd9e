"""Writing Asterisk's ini dialect so that no setting can turn into syntax.

Asterisk's config parser ends a value at the end of the line and treats an unescaped ``;`` as the
start of a comment (``;--`` even opens a block comment that swallows later lines), so a value with
CR/LF or ``;`` could add sections, options or ``#include``/``#exec`` lines of its own, or lose its
tail. Values with either are refused; free text that only appears in comments (queue titles, the
site name) has line breaks refused and ``;`` escaped. A failure names the settings key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.+-]*$")
_SECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+@-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Text that is substituted into a dialplan application argument: `$` would start a variable or
# function expansion at call time, `,` `(` `)` `"` `\` change how the arguments are split, so only
# plain names and absolute paths made of these characters are let through.
_DIALPLAN_LITERAL = re.compile(r"^[\w./+:@-]+$")

Scalar = str | int | bool


class ConfigError(ValueError):
    """A setting cannot be written into an Asterisk file; the message names the key and the fix."""


def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


def check_value(value: str, *, source: str | None = None) -> str:
    """Return ``value`` if Asterisk will read it back as exactly this text, else raise ConfigError."""
    if "\r" in value or "\n" in value:
        raise ConfigError(f"{_where(source)}line breaks are not allowed in an Asterisk config value")
    if ";" in value:
        raise ConfigError(f"{_where(source)}';' starts a comment in Asterisk config files; remove it")
    if _CONTROL.search(value):
        raise ConfigError(f"{_where(source)}control characters are not allowed")
    if value != value.strip():
        raise ConfigError(f"{_where(source)}Asterisk strips leading and trailing blanks; remove them")
    return value


def check_comment(text: str, *, source: str | None = None) -> str:
    """Return ``text`` ready for one ``;`` comment line, or raise ConfigError.

    Line breaks would end the comment, so they are refused. Once ``; `` has started a line
    comment the parser ignores the rest of the line, but ``;`` is still escaped (``\\;``) so that
    not even a ``;--`` block-comment opener appears in the file.
    """
    if _CONTROL.search(text):
        raise ConfigError(f"{_where(source)}line breaks and control characters are not allowed")
    return text.replace(";", "\\;")


def dialplan_literal(value: str, *, source: str | None = None) -> str:
    """Return ``value`` if it is safe inside a dialplan application argument, else raise."""
    if not _DIALPLAN_LITERAL.fullmatch(value):
        raise ConfigError(
            f"{_where(source)}{value!r} cannot be used in the dialplan; "
            "use only letters, digits and . / _ + : @ -"
        )
    return value


def render_scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@dataclass
class Section:
    """One ``[name]`` block: options in the order they were set, with comments in between."""

    name: str
    preamble: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def set(self, key: str, value: Scalar, *, source: str | None = None, arrow: bool = False) -> Section:
        """Add ``key=value`` (or ``key => value`` for list-like options such as ``member``)."""
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{key!r} is not a valid Asterisk option name")
        text = check_value(render_scalar(value), source=source or key)
        self.lines.append(f"{key} => {text}" if arrow else f"{key}={text}")
        return self

    def set_uri(self, key: str, uri: str, params: tuple[str, ...], *, source: str | None = None) -> Section:
        """Add a SIP URI with ``;param`` parts, written with the ``\\;`` escape Asterisk reads as ``;``."""
        parts = [check_value(part, source=source or key) for part in (uri, *params)]
        if any("\\" in part for part in parts):
            raise ConfigError(f"{_where(source or key)}a backslash would change the escape; remove it")
        text = "\\;".join(parts)
        if not _KEY.fullmatch(key):
            raise ConfigError(f"{key!r} is not a valid Asterisk option name")
        self.lines.append(f"{key}={text}")
        return self

    def set_all(self, options: Iterable[tuple[str, Scalar]]) -> Section:
        for key, value in options:
            self.set(key, value)
        return self

    def comment(self, text: str, *, source: str | None = None) -> Section:
        self.lines.append(f"; {check_comment(text, source=source)}".rstrip())
        return self

    def raw(self, line: str, *, source: str | None = None) -> Section:
        """Add a line built by a generator that checked its parts itself (dialplan ``exten =>``)."""
        self.lines.append(check_value(line, source=source))
        return self

    def blank(self) -> Section:
        self.lines.append("")
        return self


@dataclass
class ConfigFile:
    """A whole config file: a header comment and sections, rendered deterministically."""

    name: str
    header: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def section(self, name: str, *comments: str, source: str | None = None) -> Section:
        """Start ``[name]``; ``comments`` describe it and are written above the header."""
        if not _SECTION.fullmatch(name):
            raise ConfigError(f"{name!r} is not a valid Asterisk section name")
        preamble = [f"; {check_comment(text, source=source)}".rstrip() for text in comments]
        section = Section(name, preamble=preamble)
        self.sections.append(section)
        return section

    def render(self) -> str:
        out = [f"; {check_comment(line)}".rstrip() for line in self.header]
        for section in self.sections:
            if out:
                out.append("")
            out.extend(section.preamble)
            out.append(f"[{section.name}]")
            out.extend(section.lines)
        return "\n".join(out) + "\n"


def generated_header(file_name: str, site_name: str) -> list[str]:
    """The first lines of every generated file (no timestamp: unchanged settings, unchanged file)."""
    # Checked here so the error names the key; the text is escaped when the file is rendered.
    check_comment(site_name, source="site.name")
    return [
        f"{file_name}: generated by hotline (asterisk_conf) from the hotline settings.",
        "Do not edit: the next start or reload overwrites it.",
        f"Site: {site_name}",
    ]
