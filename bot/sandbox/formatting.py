"""Message text formatting as Telegram applies it: parse_mode → plain text + entities.

The sandbox stores what the user would see, so ``<b>Hi</b>`` becomes ``Hi`` with a bold entity,
and malformed markup fails the way Telegram fails it ("can't parse entities"). Offsets and
lengths are in UTF-16 code units, like the Bot API's. Supported: HTML, MarkdownV2, Markdown.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.errors import (
    CAPTION_TOO_LONG,
    TEXT_EMPTY,
    TEXT_TOO_LONG,
    ApiError,
    bad_request,
)

MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "blockquote": "blockquote",
    "span": "spoiler",
    "tg-emoji": "custom_emoji",
}
_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>|&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"']+))""")
_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the Bot API's unit for offsets and lengths."""
    return len(text.encode("utf-16-le")) // 2


def parse_error(detail: str) -> ApiError:
    """The 400 Telegram answers for malformed formatting."""
    return bad_request(f"Bad Request: can't parse entities: {detail}")


@dataclass
class _Builder:
    """Accumulates plain text and entities while a parser walks the source."""

    parts: list[str] = field(default_factory=list)
    size: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)

    def add(self, text: str) -> None:
        """Append visible text."""
        self.parts.append(text)
        self.size += utf16_len(text)

    def close(self, kind: str, start: int, extra: dict[str, Any] | None = None) -> None:
        """Record an entity of ``kind`` from ``start`` to the current end (if non-empty)."""
        if self.size > start:
            entity = {"type": kind, "offset": start, "length": self.size - start}
            entity.update(extra or {})
            self.entities.append(entity)

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        """The text and its entities ordered by offset (outer entities first)."""
        ordered = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), ordered


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram's HTML subset; raise ApiError for unsupported or unbalanced tags."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, Any]]] = []
    pos = 0
    for match in _TOKEN.finditer(source):
        out.add(_html_text(source, pos, match.start()))
        pos = match.end()
        offset = len(source[: match.start()].encode())
        if match.group(4) is not None:
            out.add(html.unescape(match.group(0)))
            continue
        closing, tag, attrs = match.group(1) == "/", match.group(2).lower(), match.group(3)
        if tag not in _HTML_TAGS:
            raise parse_error(f'Unsupported start tag "{tag}" at byte offset {offset}')
        if not closing:
            stack.append((tag, out.size, _html_extra(tag, attrs)))
            continue
        if not stack or stack[-1][0] != tag:
            raise parse_error(f"Unexpected end tag at byte offset {offset}")
        _, start, extra = stack.pop()
        out.close(_HTML_TAGS[tag], start, extra)
    out.add(_html_text(source, pos, len(source)))
    if stack:
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _html_text(source: str, start: int, end: int) -> str:
    """Unescaped text between tags; a bare ``<`` there is an error, as in Telegram."""
    segment = source[start:end]
    if "<" in segment:
        offset = len(source[: start + segment.index("<")].encode())
        raise parse_error(f'Unsupported start tag "" at byte offset {offset}')
    return html.unescape(segment)


def _html_extra(tag: str, attrs: str) -> dict[str, Any]:
    """Entity fields carried by tag attributes (a link's url, a code block's language)."""
    values = {
        m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) for m in _ATTR.finditer(attrs)
    }
    if tag == "a":
        return {"url": values.get("href", "")}
    if tag == "pre" and "class" in values:
        return {"language": values["class"].removeprefix("language-")}
    return {}


def parse_markdown(source: str, *, v2: bool) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 (``v2=True``) or legacy Markdown; raise ApiError when malformed."""
    parser = _MarkdownParser(source, v2)
    return parser.run()


class _MarkdownParser:
    """A small single-pass parser for Telegram's Markdown dialects."""

    def __init__(self, source: str, v2: bool) -> None:
        self.src = source
        self.v2 = v2
        self.i = 0
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # kind, text start, byte offset

    def run(self) -> tuple[str, list[dict[str, Any]]]:
        """Walk the source once, then check every entity was closed."""
        while self.i < len(self.src):
            self._step()
        if self.stack:
            kind, _, byte = self.stack[-1]
            name = _MD_NAMES.get(kind, kind)
            raise parse_error(f"Can't find end of {name} entity at byte offset {byte}")
        return self.out.result()

    def _byte(self) -> int:
        return len(self.src[: self.i].encode())

    def _step(self) -> None:
        src, i = self.src, self.i
        char = src[i]
        if char == "\\" and i + 1 < len(src) and (self.v2 or src[i + 1] in "_*`["):
            self.out.add(src[i + 1])
            self.i += 2
        elif char == "`":
            self._code()
        elif self.v2 and src.startswith("||", i):
            self._toggle("spoiler", 2)
        elif self.v2 and src.startswith("__", i):
            self._toggle("underline", 2)
        elif char == "*":
            self._toggle("bold", 1)
        elif char == "_":
            self._toggle("italic", 1)
        elif self.v2 and char == "~":
            self._toggle("strikethrough", 1)
        elif char == "[":
            self.stack.append(("text_link", self.out.size, self._byte()))
            self.i += 1
        elif char == "]" and self.stack and self.stack[-1][0] == "text_link":
            self._link_end()
        elif self.v2 and char in _MD2_RESERVED:
            raise parse_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        else:
            self.out.add(char)
            self.i += 1

    def _toggle(self, kind: str, width: int) -> None:
        if self.stack and self.stack[-1][0] == kind:
            _, start, _ = self.stack.pop()
            self.out.close(kind, start)
        elif any(entry[0] == kind for entry in self.stack):
            name = _MD_NAMES[kind]
            raise parse_error(f"Can't find end of {name} entity at byte offset {self._byte()}")
        else:
            self.stack.append((kind, self.out.size, self._byte()))
        self.i += width

    def _code(self) -> None:
        src, fence = self.src, "```" if self.src.startswith("```", self.i) else "`"
        byte = self._byte()
        j = self.i + len(fence)
        language = ""
        if fence == "```":
            newline = src.find("\n", j)
            head = src[j:newline] if newline >= 0 else ""
            if newline >= 0 and head and " " not in head:
                language, j = head, newline + 1
        chars: list[str] = []
        while j < len(src) and not src.startswith(fence, j):
            if src[j] == "\\" and j + 1 < len(src) and src[j + 1] in "`\\":
                j += 1
            chars.append(src[j])
            j += 1
        if j >= len(src):
            name = "Pre" if fence == "```" else "Code"
            raise parse_error(f"Can't find end of {name} entity at byte offset {byte}")
        start = self.out.size
        self.out.add("".join(chars))
        extra = {"language": language} if language else None
        self.out.close("pre" if fence == "```" else "code", start, extra)
        self.i = j + len(fence)

    def _link_end(self) -> None:
        _, start, byte = self.stack.pop()
        src, j = self.src, self.i + 1
        if j >= len(src) or src[j] != "(":
            if self.v2:
                raise parse_error(f"Can't find end of TextUrl entity at byte offset {byte}")
            self.out.add("]")
            self.i += 1
            return
        url: list[str] = []
        j += 1
        while j < len(src) and src[j] != ")":
            if src[j] == "\\" and j + 1 < len(src):
                j += 1
            url.append(src[j])
            j += 1
        if j >= len(src):
            raise parse_error(f"Can't find end of a URL at byte offset {byte}")
        self.out.close("text_link", start, {"url": "".join(url)})
        self.i = j + 1


def render_text(
    text: str, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (or explicit ``entities``) and enforce Telegram's length rules."""
    plain, found = _formatted(text, parse_mode, entities)
    if not plain.strip():
        raise bad_request(TEXT_EMPTY)
    if utf16_len(plain) > MAX_TEXT_UTF16:
        raise bad_request(TEXT_TOO_LONG)
    return plain, found


def render_caption(
    caption: str | None, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """A media caption: like :func:`render_text`, but it may be empty ("" then) and is shorter."""
    if caption is None:
        return "", []
    plain, found = _formatted(caption, parse_mode, entities)
    if not plain.strip():
        return "", []
    if utf16_len(plain) > MAX_CAPTION_UTF16:
        raise bad_request(CAPTION_TOO_LONG)
    return plain, found


def _formatted(
    text: str, parse_mode: str | None, entities: list[Any] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities from ``parse_mode`` markup, or ``entities`` checked against it."""
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        return parse_html(text)
    if mode in ("markdownv2", "markdown"):
        return parse_markdown(text, v2=mode == "markdownv2")
    if mode:
        raise bad_request(f"Bad Request: unsupported parse_mode {parse_mode}")
    return text, _checked_entities(entities or [], utf16_len(text))


def _checked_entities(entities: list[Any], size: int) -> list[dict[str, Any]]:
    """Explicit entities must be objects with a type and an in-range offset and length."""
    checked: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, dict) or not isinstance(entity.get("type"), str):
            raise bad_request("Bad Request: can't parse entities JSON object")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request("Bad Request: can't parse entities JSON object")
        if offset < 0 or length <= 0 or offset + length > size:
            continue
        checked.append(dict(entity))
    return checked
