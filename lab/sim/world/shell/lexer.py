"""Tokens of the shell language, read lazily from the source text so that a command substitution's
parser can continue where the lexer stands (nested `$(...)` and quotes inside it end where sh ends them).

Words come out as syntax.Word with their quoting kept; operators as strings; newlines as "\\n".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .syntax import Arith, CmdSub, Incomplete, Lit, Param, ShellSyntaxError, Word

OPERATORS = ("&&", "||", ";;", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">")
METACHARS = set(" \t\n;&|<>()")
SPECIAL_PARAMS = set("?$#@*!-0123456789")
PARAM_OPS = (":-", ":=", ":+", ":?", "##", "%%", "-", "=", "+", "?", "#", "%")


@dataclass
class Token:
    kind: str  # "word", "op", "newline", "io_number", "eof"
    value: object = None  # Word for words, the operator's text, the fd number
    text: str = ""  # as written: for error messages


def _is_name(text: str) -> bool:
    return bool(text) and (text[0].isalpha() or text[0] == "_") and all(c.isalnum() or c == "_" for c in text)


class Lexer:
    def __init__(self, src: str, pos: int = 0, subparse: Callable | None = None):
        self.src, self.pos = src, pos
        self.subparse = subparse  # (src, pos) -> (node, position after the closing ")"): for $(...)
        self.pending_heredocs: list = []  # Redirs whose bodies start after the next newline

    def _peekc(self, offset: int = 0) -> str:
        i = self.pos + offset
        return self.src[i] if i < len(self.src) else ""

    def next(self) -> Token:
        while True:
            c = self._peekc()
            if c in (" ", "\t"):
                self.pos += 1
            elif c == "\\" and self._peekc(1) == "\n":
                self.pos += 2
            elif c == "#":
                while self._peekc() not in ("", "\n"):
                    self.pos += 1
            else:
                break
        if not c:
            if self.pending_heredocs:
                raise Incomplete(f'syntax error: unexpected end of file (expecting "{self.pending_heredocs[0].delimiter}")')
            return Token("eof", None, "end of file")
        if c == "\n":
            self.pos += 1
            self._read_heredocs()
            return Token("newline", "\n", "newline")
        for op in OPERATORS:
            if self.src.startswith(op, self.pos):
                self.pos += len(op)
                return Token("op", op, op)
        start = self.pos
        word = self.read_word()
        text = self.src[start:self.pos]
        if text.isdigit() and self._peekc() in ("<", ">"):
            return Token("io_number", int(text), text)
        return Token("word", word, text)

    # -- words ----------------------------------------------------------------------------------------
    def read_word(self, stop: str = "") -> Word:
        """An unquoted word up to a metacharacter (or a character of `stop`, as `}` ends ${x:-word})."""
        parts: list = []
        stops = METACHARS if not stop else set(stop)
        while True:
            c = self._peekc()
            if not c or c in stops:
                break
            if c == "\\":
                nxt = self._peekc(1)
                if nxt == "\n":
                    self.pos += 2
                elif nxt:
                    self._lit(parts, nxt, True)
                    self.pos += 2
                else:
                    self._lit(parts, "\\", False)
                    self.pos += 1
            elif c == "'":
                end = self.src.find("'", self.pos + 1)
                if end < 0:
                    raise Incomplete("syntax error: unterminated quoted string")
                self._lit(parts, self.src[self.pos + 1:end], True)
                if end == self.pos + 1:
                    parts.append(Lit("", True))
                self.pos = end + 1
            elif c == '"':
                self.pos += 1
                inner = self.read_double_quoted()
                parts.extend(inner or [Lit("", True)])
            elif c == "$":
                parts.append(self.read_dollar(False))
            elif c == "`":
                parts.append(self.read_backquote(False))
            else:
                self._lit(parts, c, False)
                self.pos += 1
        return Word(parts)

    @staticmethod
    def _lit(parts: list, text: str, quoted: bool) -> None:
        if parts and isinstance(parts[-1], Lit) and parts[-1].quoted == quoted and text:
            parts[-1] = Lit(parts[-1].text + text, quoted)
        elif text:
            parts.append(Lit(text, quoted))

    def read_double_quoted(self, until: str = '"') -> list:
        """Inside "...": `$`, backquote and `\\` before $ ` " \\ newline keep their meaning; the rest is text."""
        parts: list = []
        while True:
            c = self._peekc()
            if not c:
                if until == '"':
                    raise Incomplete("syntax error: unterminated quoted string")
                return parts
            if c == until:
                self.pos += 1
                return parts
            if c == "\\" and self._peekc(1) in ("$", "`", '"', "\\", "\n"):
                if self._peekc(1) != "\n":
                    self._lit(parts, self._peekc(1), True)
                self.pos += 2
            elif c == "$":
                parts.append(self.read_dollar(True))
            elif c == "`":
                parts.append(self.read_backquote(True))
            else:
                self._lit(parts, c, True)
                self.pos += 1

    def read_dollar(self, quoted: bool):
        src, i = self.src, self.pos
        if src.startswith("$((", i):
            end = self._matching_parens(i + 3)
            if end is not None:
                self.pos = end + 2
                return Arith(src[i + 3:end], quoted)
        if src.startswith("$(", i):
            if self.subparse is None:
                raise ShellSyntaxError("syntax error: command substitution is not read here")
            node, self.pos = self.subparse(src, i + 2)
            return CmdSub(node, quoted)
        if src.startswith("${", i):
            return self._read_braced(quoted)
        nxt = self._peekc(1)
        if nxt in SPECIAL_PARAMS and nxt:
            self.pos += 2
            return Param(nxt, quoted=quoted)
        j = i + 1
        while j < len(src) and (src[j].isalnum() or src[j] == "_"):
            j += 1
        if j > i + 1 and not src[i + 1].isdigit():
            self.pos = j
            return Param(src[i + 1:j], quoted=quoted)
        self.pos += 1
        return Lit("$", quoted)

    def _matching_parens(self, start: int) -> int | None:
        """Where the `))` closing `$((` is, counting nested parentheses; None when it is `$( (...) )`."""
        depth, j = 0, start
        while j < len(self.src):
            c = self.src[j]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    return j if self.src.startswith("))", j) else None
                depth -= 1
            j += 1
        raise Incomplete("syntax error: unterminated arithmetic expansion")

    def _read_braced(self, quoted: bool) -> Param:
        self.pos += 2
        src = self.src
        if self._peekc() == "#" and self._peekc(1) not in ("}", ""):
            self.pos += 1
            name = self._param_name()
            if self._peekc() != "}":
                raise ShellSyntaxError("syntax error: bad substitution")
            self.pos += 1
            return Param(name, "len", quoted=quoted)
        name = self._param_name()
        if not name:
            raise ShellSyntaxError("syntax error: bad substitution")
        if self._peekc() == "}":
            self.pos += 1
            return Param(name, quoted=quoted)
        op = next((o for o in PARAM_OPS if src.startswith(o, self.pos)), None)
        if op is None:
            if not self._peekc():
                raise Incomplete("syntax error: missing '}'")
            raise ShellSyntaxError("syntax error: bad substitution")
        self.pos += len(op)
        arg = Word(self.read_double_quoted("}") if quoted else self._read_arg())
        return Param(name, op, arg, quoted)

    def _read_arg(self) -> list:
        word = self.read_word(stop="}")
        if self._peekc() != "}":
            raise Incomplete("syntax error: missing '}'")
        self.pos += 1
        return word.parts

    def _param_name(self) -> str:
        c = self._peekc()
        if c in SPECIAL_PARAMS and c and not c.isdigit():
            self.pos += 1
            return c
        j = self.pos
        while j < len(self.src) and (self.src[j].isalnum() or self.src[j] == "_"):
            j += 1
        name, self.pos = self.src[self.pos:j], j
        return name

    def read_backquote(self, quoted: bool) -> CmdSub:
        j, text = self.pos + 1, []
        while True:
            if j >= len(self.src):
                raise Incomplete("syntax error: unterminated quoted string")
            c = self.src[j]
            if c == "`":
                break
            if c == "\\" and j + 1 < len(self.src) and self.src[j + 1] in "`$\\":
                text.append(self.src[j + 1])
                j += 2
                continue
            text.append(c)
            j += 1
        self.pos = j + 1
        if self.subparse is None:
            raise ShellSyntaxError("syntax error: command substitution is not read here")
        node, _ = self.subparse("".join(text) + ")", 0)
        return CmdSub(node, quoted)

    # -- here-documents ---------------------------------------------------------------------------------
    def _read_heredocs(self) -> None:
        pending, self.pending_heredocs = self.pending_heredocs, []
        for redir in pending:
            lines = []
            while True:
                if self.pos >= len(self.src):
                    raise Incomplete(f'syntax error: unexpected end of file (expecting "{redir.delimiter}")')
                end = self.src.find("\n", self.pos)
                line = self.src[self.pos:] if end < 0 else self.src[self.pos:end]
                self.pos = len(self.src) if end < 0 else end + 1
                if redir.op == "<<-":
                    line = line.lstrip("\t")
                if line == redir.delimiter:
                    break
                lines.append(line + "\n")
            body = "".join(lines)
            if redir.target.has_quotes:
                redir.heredoc = Word([Lit(body, True)])
            else:
                sub = Lexer(body, 0, self.subparse)
                redir.heredoc = Word(sub.read_double_quoted(until="\0"))


def word_text(word: Word) -> str:
    """A word's text after quote removal, without expansions (a here-document's delimiter)."""
    return "".join(p.text for p in word.parts if isinstance(p, Lit))
