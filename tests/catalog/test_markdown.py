import re

import pytest

from reviewapp.catalog.markdown import image_allowed, render_markdown


def test_it_renders_commonmark_and_tables():
    html = render_markdown("# Rules\n\n**Be kind.**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<h1>Rules</h1>" in html
    assert "<strong>Be kind.</strong>" in html
    assert "<td>1</td>" in html


def test_it_renders_html_in_the_text_inert():
    html = render_markdown('<script>alert("x")</script>\n\n<img src=x onerror="alert(1)">')
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_it_drops_javascript_links_and_marks_others_noopener():
    html = render_markdown("[bad](javascript:alert(1)) [good](https://example.com/guide)")
    assert 'href="javascript' not in html
    assert '<a href="https://example.com/guide" rel="noopener noreferrer">good</a>' in html


def test_it_accepts_empty_text():
    assert render_markdown("") == ""
    assert render_markdown(None) == ""


# Images: only from our own host or MARKDOWN_IMAGE_HOSTS, so instructions carry no tracking pixel.


@pytest.fixture
def image_hosts(settings):
    settings.SITE_URL = "https://reviewapp.example.com"
    settings.MARKDOWN_IMAGE_HOSTS = ["images.example.org", "static.example.org:8443"]


def images_in(html: str) -> list[str]:
    return re.findall(r"<img\b[^>]*>", html)


def test_it_keeps_images_of_our_own_host_and_of_the_allowlist(image_hosts):
    html = render_markdown(
        "![a](/static/a.png) ![b](img/b.png) ![c](https://reviewapp.example.com/c.png) "
        '![d](https://images.example.org/d.png "Dee") ![e](https://static.example.org:8443/e.png) '
        "![f](http://images.example.org:80/f.png)"
    )
    assert images_in(html) == [
        '<img src="/static/a.png" alt="a">',
        '<img src="img/b.png" alt="b">',
        '<img src="https://reviewapp.example.com/c.png" alt="c">',
        '<img src="https://images.example.org/d.png" alt="d" title="Dee">',
        '<img src="https://static.example.org:8443/e.png" alt="e">',
        '<img src="http://images.example.org:80/f.png" alt="f">',
    ]


def test_it_turns_an_image_of_another_host_into_a_link_to_it(image_hosts):
    html = render_markdown("See ![the *pixel*](https://tracker.example.net/p.png?u=1) here.")
    assert images_in(html) == []
    assert '<a href="https://tracker.example.net/p.png?u=1" rel="noopener noreferrer">the pixel</a>' in html


@pytest.mark.parametrize(
    "src",
    [
        "//tracker.example.net/p.png",  # protocol-relative
        "https://images.example.org.tracker.example.net/p.png",  # allowlisted name as a prefix
        "https://tracker.example.net/images.example.org/p.png",
        "https://images.example.org:8443/p.png",  # an allowlisted host on another port
        "https://reviewapp.example.com:8000/p.png",
        "https://static.example.org/p.png",  # allowed on :8443 only
        "http:tracker.example.net/p.png",  # browsers read this as http://tracker.example.net
        "https://user@tracker.example.net/p.png",
    ],
)
def test_it_loads_no_image_from_another_host(image_hosts, src):
    html = render_markdown(f"![x]({src})")
    assert images_in(html) == []
    assert "x" in html


def test_an_image_inside_a_link_becomes_its_alt_text(image_hosts):
    html = render_markdown("[![badge](https://tracker.example.net/b.svg)](https://example.com/ci)")
    assert images_in(html) == []
    assert '<a href="https://example.com/ci" rel="noopener noreferrer">badge</a>' in html


def test_it_shows_data_images_as_their_alt_text(image_hosts):
    # data: images are refused too: they are not a tracking risk, but no reviewer needs a
    # megabyte of base64 in the instructions, and one rule is easier to trust.
    html = render_markdown("![tiny](data:image/png;base64,iVBORw0KGgo=) ![](data:image/gif;base64,R0lGOD)")
    assert images_in(html) == []
    assert "tiny" in html
    assert "data:" not in html


def test_image_html_and_srcset_written_as_text_stay_text(image_hosts):
    html = render_markdown(
        '<img src="https://tracker.example.net/p.png">\n\n'
        '<img srcset="https://tracker.example.net/p.png 2x" src="/a.png">\n\n'
        "<picture><source srcset='https://tracker.example.net/p.png'></picture>"
    )
    assert images_in(html) == []
    assert "<source" not in html
    assert "&lt;img" in html


@pytest.mark.parametrize(
    "src",
    [
        "https://tracker.example.net/p.png",
        "//tracker.example.net/p.png",
        "/\\tracker.example.net/p.png",
        " //tracker.example.net/p.png",
        "/\t/tracker.example.net/p.png",
        "data:image/png;base64,AAAA",
        "javascript:alert(1)",
    ],
)
def test_no_image_of_another_host_survives_whatever_made_the_img(image_hosts, src):
    assert not image_allowed(src)


def test_images_of_the_site_url_host_are_ours(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.MARKDOWN_IMAGE_HOSTS = []
    assert image_allowed("http://127.0.0.1:8000/static/a.png")
    assert image_allowed("/static/a.png")
    assert not image_allowed("http://127.0.0.1:9000/a.png")
    assert not image_allowed("http://localhost:8000/a.png")
