import json


def events_of(response) -> list[tuple[str, dict]]:
    """A streamed answer's server-sent events: (event, data) pairs."""
    text = b"".join(response.streaming_content).decode()
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out
