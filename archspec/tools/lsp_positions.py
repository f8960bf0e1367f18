"""Positions between archspec and LSP: archspec's spans are 1-based lines and columns counted
in code points; LSP's positions are 0-based, with columns in the negotiated position encoding
(UTF-16 units unless the client asks otherwise). No pygls server here, only its PositionCodec."""

from __future__ import annotations

import functools
import os

from lsprotocol import types as lsp
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import PositionCodec

from archspec.core.source import Span

__all__ = ["document_path", "offset_at", "position_of", "range_of", "same_file", "uri_of"]


@functools.lru_cache(maxsize=16)
def lines_of(text: str) -> list[str]:
    """The text's lines with their ends, as PositionCodec wants them (cached: every position of
    a hover or of a screenful of inlay hints asks for the same text's lines)."""
    return text.splitlines(keepends=True) or [""]


def position_of(source, offset: int, codec: PositionCodec) -> lsp.Position:
    """The LSP position of a character offset of a SourceFile."""
    line, column = source.line_col(offset)  # 1-based, in code points
    server = lsp.Position(line=line - 1, character=column - 1)
    return codec.position_to_client_units(lines_of(source.text), server)


def range_of(span: Span, codec: PositionCodec) -> lsp.Range:
    return lsp.Range(
        start=position_of(span.source, span.start, codec),
        end=position_of(span.source, span.end, codec),
    )


def offset_at(text: str, position: lsp.Position, codec: PositionCodec | None = None) -> int:
    """The character offset in `text` of an LSP position (clamped to the text)."""
    codec = codec or PositionCodec()
    lines = lines_of(text)
    server = codec.position_from_client_units(lines, position)
    if server.line >= len(lines):
        return len(text)
    start = sum(len(line) for line in lines[: server.line])
    line = lines[server.line].rstrip("\r\n")
    return start + min(server.character, len(line))


def whole_range(text: str, codec: PositionCodec) -> lsp.Range:
    """The range of a whole document (for a replacing edit)."""
    lines = lines_of(text)
    end = lsp.Position(line=len(lines), character=0)
    if not text.endswith(("\n", "\r")):  # the last line has no end: stop after its text
        end = codec.position_to_client_units(
            lines, lsp.Position(line=len(lines) - 1, character=len(lines[-1]))
        )
    return lsp.Range(start=lsp.Position(line=0, character=0), end=end)


def same_file(span: Span, path: str) -> bool:
    return os.path.normcase(os.path.abspath(span.source.path)) == os.path.normcase(
        os.path.abspath(path)
    )


def uri_of(path: str) -> str:
    return from_fs_path(os.path.abspath(path)) or path


def document_path(uri: str) -> str:
    return to_fs_path(uri) or uri
