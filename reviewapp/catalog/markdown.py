"""Markdown for reviewer instructions and other user text, rendered inert."""

import re
from urllib.parse import urlsplit

import nh3
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml

# Raw HTML is escaped by the parser ("html": False) and anything that slips through is
# sanitised by nh3, so a manager's instructions cannot run script in a reviewer's browser.
_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "dd", "dl", "dt", "em", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"style"},
    "th": {"style"},
    "code": {"class"},
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Browsers drop tabs and newlines anywhere in a URL, spaces and controls at its ends, and read
# "\" as "/" in http(s) URLs: check the URL the browser will load, not the one written.
_IGNORED_IN_URLS = re.compile(r"[\x00-\x20\x7f]")


def image_allowed(src: str) -> bool:
    """True when the browser may load `src` as an image: our own host or MARKDOWN_IMAGE_HOSTS.

    Anything else (another host, a protocol-relative //host, data: and other schemes) would let
    the author of the text see who reads it and when (a tracking pixel).
    """
    parts = urlsplit(_IGNORED_IN_URLS.sub("", src).replace("\\", "/"))
    if not parts.scheme and not parts.netloc:
        return True
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return False
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return False
    return any(
        parts.hostname == host and (port == allowed_port if allowed_port else port in _DEFAULT_PORTS.values())
        for host, allowed_port in _image_hosts()
    )


def _image_hosts() -> list[tuple[str, int | None]]:
    """(host, port) pairs images may come from; port None → the scheme's default port."""
    site = urlsplit(settings.SITE_URL)
    hosts = [(site.hostname or "", site.port)] if site.hostname else []
    for entry in settings.MARKDOWN_IMAGE_HOSTS:
        parsed = urlsplit(f"//{entry}")
        hosts.append((parsed.hostname or "", parsed.port))
    return hosts


def _render_image(self, tokens, idx, options, env) -> str:
    """An allowed image as usual; any other becomes a link to it, or its alt text inside a link."""
    token = tokens[idx]
    src = token.attrGet("src") or ""
    if image_allowed(src):
        return self.image(tokens, idx, options, env)
    label = escapeHtml(self.renderInlineAsText(token.children or [], options, env) or "image")
    inside_link = sum(t.nesting for t in tokens[:idx] if t.type in ("link_open", "link_close")) > 0
    if inside_link or urlsplit(src).scheme not in _DEFAULT_PORTS:
        return label
    return f'<a href="{escapeHtml(src)}">{label}</a>'


_md.add_render_rule("image", _render_image)


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    # The last word on images, whatever produced the <img>.
    if tag == "img" and attribute == "src" and not image_allowed(value):
        return None
    return value


def render_markdown(text: str | None) -> SafeString:
    """HTML for `text` (CommonMark + tables), safe to put in a page as is."""
    html = _md.render(text or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        filter_style_properties={"text-align"},
    )
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 just above
