#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Demangle Rust v0 symbols (_R...) in text, for perf reports of rbtrfs.

usage: demangle.py FILE...      (rewrites each FILE in place)
       demangle.py < in > out

The kernel builds Rust with -Csymbol-mangling-version=v0, which the perf in
Debian 12 does not demangle. This is a compact v0 demangler (the grammar of
the Rust reference's "Symbol name mangling" chapter): paths, impls, generic
arguments, basic and compound types, backrefs. Crate disambiguators and
consts are left out of the output; generic arguments are kept, but a type
path inside them is shortened to its last component, to keep names short.
Anything it cannot parse is left as it was.
"""
import argparse
import re
import sys

BASIC = {"a": "i8", "b": "bool", "c": "char", "d": "f64", "e": "str", "f": "f32", "h": "u8",
         "i": "isize", "j": "usize", "l": "i32", "m": "u32", "n": "i128", "o": "u128", "s": "i16",
         "t": "u16", "u": "()", "v": "...", "x": "i64", "y": "u64", "z": "!", "p": "_"}


class Bad(Exception):
    pass


class P:
    def __init__(self, s):
        self.s, self.i = s, 2   # after "_R"

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def take(self):
        c = self.peek()
        if not c:
            raise Bad()
        self.i += 1
        return c

    def b62(self):
        if self.peek() == "_":
            self.i += 1
            return 0
        n = 0
        while True:
            c = self.take()
            if c == "_":
                return n + 1
            n = n * 62 + ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".index(c))

    def dis(self):
        if self.peek() == "s":
            self.i += 1
            self.b62()

    def ident(self):
        self.dis()
        if self.peek() == "u":
            self.i += 1
        m = re.match(r"\d+", self.s[self.i:])
        if not m:
            raise Bad()
        n = int(m.group())
        self.i += len(m.group())
        if self.peek() == "_":
            self.i += 1
        name = self.s[self.i:self.i + n]
        self.i += n
        return name

    def backref(self, fn):
        pos = self.b62() + 2    # offsets count from after "_R"
        save, self.i = self.i, pos
        try:
            return fn()
        finally:
            self.i = save

    def path(self, short=False):
        c = self.take()
        if c == "C":
            return self.ident()
        if c == "N":
            ns = self.take()
            inner = self.path(short)
            name = self.ident()
            if ns == "C":
                return f"{inner}::{{closure}}" if not short else "{closure}"
            if ns == "S":
                return f"{inner}::{{shim}}"
            return name if short else f"{inner}::{name}"
        if c == "M":
            self.dis()
            self.path(True)
            return f"<{self.type()}>"
        if c == "X":
            self.dis()
            self.path(True)
            t = self.type()
            return f"<{t} as {self.path(True)}>"
        if c == "Y":
            t = self.type()
            return f"<{t} as {self.path(True)}>"
        if c == "I":
            p = self.path(short)
            args = []
            while self.peek() != "E":
                a = self.generic_arg()
                if a is not None:
                    args.append(a)
            self.i += 1
            return f"{p}::<{', '.join(args)}>" if args else p
        if c == "B":
            return self.backref(lambda: self.path(short))
        raise Bad()

    def generic_arg(self):
        c = self.peek()
        if c == "L":
            self.i += 1
            self.b62()
            return None
        if c == "K":
            self.i += 1
            self.const()
            return "_"
        return self.type()

    def const(self):
        c = self.peek()
        if c == "B":
            self.i += 1
            self.backref(self.const)
            return
        if c == "p":
            self.i += 1
            return
        self.type()
        if self.peek() == "n":
            self.i += 1
        while self.take() != "_":
            pass

    def type(self):
        c = self.peek()
        if c in BASIC:
            self.i += 1
            return BASIC[c]
        self.i += 1
        if c == "A":
            t = self.type()
            self.const()
            return f"[{t}; _]"
        if c == "S":
            return f"[{self.type()}]"
        if c == "T":
            ts = []
            while self.peek() != "E":
                ts.append(self.type())
            self.i += 1
            return f"({', '.join(ts)})"
        if c in "RQ":
            if self.peek() == "L":
                self.i += 1
                self.b62()
            return ("&" if c == "R" else "&mut ") + self.type()
        if c in "PO":
            return ("*const " if c == "P" else "*mut ") + self.type()
        if c == "F":
            if self.peek() == "G":
                self.i += 1
                self.b62()
            if self.peek() == "U":
                self.i += 1
            if self.peek() == "K":
                self.i += 1
                if self.peek() == "C":
                    self.i += 1
                else:
                    self.ident()
            while self.peek() != "E":
                self.type()
            self.i += 1
            self.type()
            return "fn(..)"
        if c == "D":
            if self.peek() == "G":
                self.i += 1
                self.b62()
            names = []
            while self.peek() != "E":
                names.append(self.path(True))
                while self.peek() == "p":
                    self.i += 1
                    self.ident()
                    self.type()
            self.i += 1
            if self.peek() == "L":
                self.i += 1
                self.b62()
            return "dyn " + " + ".join(names)
        if c == "B":
            return self.backref(self.type)
        self.i -= 1
        return self.path(True)


def demangle(sym):
    try:
        p = P(sym)
        if p.peek().isdigit():
            raise Bad()
        return p.path()
    except (Bad, ValueError, IndexError, RecursionError):
        return sym


def fix(text):
    return re.sub(r"_R[0-9A-Za-z_]+", lambda m: demangle(m.group()), text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", metavar="FILE", nargs="*",
                    help="rewritten in place; with none, stdin to stdout")
    args = ap.parse_args()
    if not args.files:
        sys.stdout.write(fix(sys.stdin.read()))
        return
    for f in args.files:
        with open(f) as fh:
            t = fh.read()
        with open(f, "w") as fh:
            fh.write(fix(t))


if __name__ == "__main__":
    main()
