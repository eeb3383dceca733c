from reviewapp.catalog.markdown import render_markdown


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
