"""The shell grammar (POSIX `sh`, the subset the simulated pods run): lists, and-or lists, pipelines,
simple commands with assignments and redirections, `if`, `for`, `while`/`until`, `case`, `{ }`,
`( )` and function definitions. Errors read as busybox ash words them: `syntax error: unexpected "fi"`.
"""
from __future__ import annotations

from .lexer import Lexer, Token, _is_name, word_text
from .syntax import (AndOr, Case, FuncDef, For, Group, If, Incomplete, Pipeline, Redir, Seq, ShellSyntaxError,
                     Simple, While, Word)

RESERVED = {"if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for", "{", "}",
            "!", "in"}
REDIR_OPS = ("<", ">", ">>", ">|", "<>", "<&", ">&", "<<", "<<-")


def parse(src: str) -> Seq:
    """A whole script. Raises Incomplete when it ends inside a construct, ShellSyntaxError otherwise."""
    parser = Parser(src, 0)
    body = parser.seq(())
    tok = parser.peek()
    if tok.kind != "eof":
        parser.unexpected(tok)
    return body


def _subparse(src: str, pos: int):
    """`$(...)` starting at `pos` (after the parenthesis): its body and where the text goes on after `)`."""
    parser = Parser(src, pos)
    body = parser.seq((")",))
    tok = parser.take()
    if tok.kind == "eof":
        raise Incomplete('syntax error: unexpected end of file (expecting ")")')
    if tok.value != ")":
        parser.unexpected(tok)
    return body, parser.lexer.pos


class Parser:
    def __init__(self, src: str, pos: int):
        self.lexer = Lexer(src, pos, _subparse)
        self._peeked: Token | None = None

    # -- tokens -------------------------------------------------------------------------------------------
    def peek(self) -> Token:
        if self._peeked is None:
            self._peeked = self.lexer.next()
        return self._peeked

    def take(self) -> Token:
        tok = self.peek()
        self._peeked = None
        return tok

    def unexpected(self, tok: Token, expecting: str = ""):
        if tok.kind == "eof":
            raise Incomplete("syntax error: unexpected end of file" + (f' (expecting "{expecting}")' if expecting else ""))
        raise ShellSyntaxError(f'syntax error: unexpected {"newline" if tok.kind == "newline" else repr_token(tok)}')

    def reserved(self, tok: Token | None = None) -> str | None:
        tok = tok or self.peek()
        if tok.kind == "word":
            text = tok.value.literal
            if text in RESERVED:
                return text
        return None

    def linebreak(self) -> None:
        while self.peek().kind == "newline":
            self.take()

    def body(self, ends: tuple) -> Seq:
        """A compound command's list: it may not be empty (`if then` is a syntax error)."""
        seq = self.seq(ends)
        if not seq.items:
            self.unexpected(self.peek(), ends[-1])
        return seq

    def expect_word(self, word: str) -> None:
        self.linebreak()
        tok = self.take()
        if self.reserved(tok) != word:
            self.unexpected(tok, word)

    # -- lists ----------------------------------------------------------------------------------------------
    def seq(self, ends: tuple) -> Seq:
        """Commands separated by ; & or newlines, up to a reserved word or operator of `ends` (not taken)."""
        seq = Seq()
        while True:
            self.linebreak()
            tok = self.peek()
            if tok.kind == "eof" or self.reserved(tok) in ends or (tok.kind == "op" and tok.value in ends):
                return seq
            if tok.kind == "op" and tok.value in (")", ";;") and ")" not in ends and ";;" not in ends:
                self.unexpected(tok)
            item = self.and_or()
            background = False
            tok = self.peek()
            if tok.kind == "op" and tok.value in (";", "&"):
                self.take()
                background = tok.value == "&"
            elif tok.kind not in ("newline", "eof") and not (tok.kind == "op" and tok.value in ends) \
                    and self.reserved(tok) not in ends:
                self.unexpected(tok)
            seq.items.append((item, background))

    def and_or(self) -> AndOr:
        node = AndOr(self.pipeline())
        while self.peek().kind == "op" and self.peek().value in ("&&", "||"):
            op = self.take().value
            self.linebreak()
            node.rest.append((op, self.pipeline()))
        return node

    def pipeline(self) -> Pipeline:
        negate = False
        if self.reserved() == "!":
            self.take()
            negate = True
        commands = [self.command()]
        while self.peek().kind == "op" and self.peek().value == "|":
            self.take()
            self.linebreak()
            commands.append(self.command())
        return Pipeline(commands, negate)

    # -- commands ------------------------------------------------------------------------------------------
    def command(self):
        tok = self.peek()
        word = self.reserved(tok)
        compound = {"if": self._if, "for": self._for, "while": self._while, "until": self._while,
                    "case": self._case, "{": self._brace}.get(word or "")
        if compound is not None:
            node = compound()
            node.redirs = self.redirections()
            return node
        if word is not None and word != "in":
            self.unexpected(tok)
        if tok.kind == "op" and tok.value == "(":
            self.take()
            body = self.seq((")",))
            self.close_paren()
            return Group(body, True, self.redirections())
        return self.simple()

    def close_paren(self) -> None:
        tok = self.take()
        if not (tok.kind == "op" and tok.value == ")"):
            self.unexpected(tok, ")")

    def redirections(self) -> list:
        found = []
        while True:
            redir = self.redirection()
            if redir is None:
                return found
            found.append(redir)

    def redirection(self) -> Redir | None:
        tok = self.peek()
        fd = None
        if tok.kind == "io_number":
            self.take()
            fd = tok.value
            tok = self.peek()
        if not (tok.kind == "op" and tok.value in REDIR_OPS):
            if fd is not None:
                raise ShellSyntaxError("syntax error: bad redirection")
            return None
        op = self.take().value
        target = self.take()
        if target.kind != "word":
            self.unexpected(target)
        if fd is None:
            fd = 0 if op[0] == "<" and op not in ("<>",) else 1
            fd = 0 if op == "<>" else fd
        redir = Redir(fd, op, target.value)
        if op in ("<<", "<<-"):
            redir.delimiter = word_text(target.value)
            self.lexer.pending_heredocs.append(redir)
        return redir

    def simple(self) -> Simple:
        node = Simple()
        while True:
            redir = self.redirection()
            if redir is not None:
                node.redirs.append(redir)
                continue
            tok = self.peek()
            if tok.kind != "word":
                break
            if not node.words:
                assign = _assignment(tok.value)
                if assign is not None:
                    self.take()
                    node.assigns.append(assign)
                    continue
            self.take()
            node.words.append(tok.value)
            if len(node.words) == 1 and not node.assigns and self.peek().kind == "op" and self.peek().value == "(":
                return self._function(tok)
        if not node.words and not node.assigns and not node.redirs:
            self.unexpected(self.peek())
        return node

    def _function(self, name_tok: Token) -> FuncDef:
        name = name_tok.value.literal
        self.take()
        self.close_paren()
        if not name or not _is_name(name):
            raise ShellSyntaxError(f'syntax error: bad function name')
        self.linebreak()
        body = self.command()
        return FuncDef(name, body)

    def _if(self) -> If:
        self.take()
        branches, orelse = [], None
        while True:
            cond = self.body(("then",))
            self.expect_word("then")
            body = self.body(("elif", "else", "fi"))
            branches.append((cond, body))
            tok = self.take()
            word = self.reserved(tok)
            if word == "elif":
                continue
            if word == "else":
                orelse = self.body(("fi",))
                self.expect_word("fi")
            elif word != "fi":
                self.unexpected(tok, "fi")
            return If(branches, orelse)

    def _for(self) -> For:
        self.take()
        tok = self.take()
        name = tok.value.literal if tok.kind == "word" else None
        if not name or not _is_name(name):
            if tok.kind == "eof":
                self.unexpected(tok)
            raise ShellSyntaxError(f"syntax error: bad for loop variable")
        words = None
        while self.peek().kind == "newline":
            self.take()
        if self.reserved() == "in":
            self.take()
            words = []
            while self.peek().kind == "word":
                words.append(self.take().value)
            tok = self.peek()
            if tok.kind == "op" and tok.value == ";":
                self.take()
            elif tok.kind != "newline":
                self.unexpected(tok, "do")
        elif self.peek().kind == "op" and self.peek().value == ";":
            self.take()
        body = self._do_group()
        return For(name, words, body)

    def _do_group(self) -> Seq:
        self.expect_word("do")
        body = self.body(("done",))
        self.expect_word("done")
        return body

    def _while(self) -> While:
        until = self.take().value.literal == "until"
        cond = self.body(("do",))
        return While(cond, self._do_group(), until)

    def _brace(self) -> Group:
        self.take()
        body = self.body(("}",))
        self.expect_word("}")
        return Group(body, False)

    def _case(self) -> Case:
        self.take()
        tok = self.take()
        if tok.kind != "word":
            self.unexpected(tok)
        word = tok.value
        self.linebreak()
        self.expect_word("in")
        items = []
        while True:
            self.linebreak()
            if self.reserved() == "esac":
                self.take()
                return Case(word, items)
            if self.peek().kind == "op" and self.peek().value == "(":
                self.take()
            patterns = []
            while True:
                tok = self.take()
                if tok.kind != "word":
                    self.unexpected(tok, ")")
                patterns.append(tok.value)
                tok = self.take()
                if tok.kind == "op" and tok.value == ")":
                    break
                if not (tok.kind == "op" and tok.value == "|"):
                    self.unexpected(tok, ")")
            body = self.seq(("esac", ";;"))
            items.append((patterns, body))
            tok = self.peek()
            if tok.kind == "op" and tok.value == ";;":
                self.take()
            elif self.reserved(tok) != "esac":
                self.unexpected(tok, "esac")


def _assignment(word: Word):
    """NAME=value at the start of a simple command: (name, the value's word), else None."""
    first = word.parts[0] if word.parts else None
    text = getattr(first, "text", None)
    if text is None or getattr(first, "quoted", True) or "=" not in text:
        return None
    name, _, rest = text.partition("=")
    if not _is_name(name):
        return None
    value = Word(([type(first)(rest, False)] if rest else []) + word.parts[1:])
    return name, value


def repr_token(tok: Token) -> str:
    return f'"{tok.text}"'
