"""The syntax tree of the shell language the simulated pods run (a POSIX `sh` subset), and its errors.

A word keeps its parts as the lexer found them (literal text, quoted or not; parameter, command and
arithmetic expansions), because expansion and field splitting depend on which parts were quoted.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


class ShellSyntaxError(Exception):
    """What `sh` reports as `syntax error: ...` (exit status 2)."""


class Incomplete(ShellSyntaxError):
    """The text ends where more must come (an open quote, a `for` without `done`): an interactive shell
    asks for the next line (PS2), `sh -c` reports it as a syntax error."""


@dataclass
class Lit:
    text: str
    quoted: bool = False


@dataclass
class Param:
    name: str
    op: str = ""  # "", ":-", "-", ":=", "=", ":+", "+", ":?", "?", "#", "##", "%", "%%", or "len" for ${#name}
    arg: "Word | None" = None
    quoted: bool = False


@dataclass
class CmdSub:
    body: "Node"
    quoted: bool = False


@dataclass
class Arith:
    text: str
    quoted: bool = False


Part = Union[Lit, Param, CmdSub, Arith]


@dataclass
class Word:
    parts: list = field(default_factory=list)

    @property
    def literal(self) -> str | None:
        """The word's text when it is one unquoted literal (how reserved words and names are recognized)."""
        if len(self.parts) == 1 and isinstance(self.parts[0], Lit) and not self.parts[0].quoted:
            return self.parts[0].text
        return None

    @property
    def has_quotes(self) -> bool:
        return any(getattr(p, "quoted", False) for p in self.parts)


@dataclass
class Redir:
    fd: int
    op: str  # "<", ">", ">>", ">|", "<>", ">&", "<&", "<<", "<<-"
    target: Word
    heredoc: "Word | None" = None
    delimiter: str = ""  # a here-document's end line


@dataclass
class Simple:
    assigns: list = field(default_factory=list)  # (name, Word)
    words: list = field(default_factory=list)
    redirs: list = field(default_factory=list)


@dataclass
class Pipeline:
    commands: list
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list = field(default_factory=list)  # ("&&" | "||", Pipeline)


@dataclass
class Seq:
    items: list = field(default_factory=list)  # (AndOr, background: bool)


@dataclass
class If:
    branches: list  # (condition Seq, body Seq)
    orelse: Seq | None = None
    redirs: list = field(default_factory=list)


@dataclass
class For:
    var: str
    words: list | None  # None: "$@"
    body: Seq
    redirs: list = field(default_factory=list)


@dataclass
class While:
    cond: Seq
    body: Seq
    until: bool = False
    redirs: list = field(default_factory=list)


@dataclass
class Group:
    body: Seq
    subshell: bool = False
    redirs: list = field(default_factory=list)


@dataclass
class Case:
    word: Word
    items: list  # (patterns: list[Word], body Seq)
    redirs: list = field(default_factory=list)


@dataclass
class FuncDef:
    name: str
    body: object


Node = Union[Simple, Pipeline, AndOr, Seq, If, For, While, Group, Case, FuncDef]
