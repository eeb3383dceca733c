"""A logged turn's error in words for reviewers; the details stay for the app's managers."""

# What a reviewer reads about a failed or cut-off turn, by how the chain's error begins (the details,
# errno and URL included, are for the app's managers).
_SUMMARIES = (
    (("Could not reach the chain", "The chain's endpoint", "The app's endpoint URL"),
     "The app could not be reached. Try again in a moment."),
    (("The chain did not answer within", "The chain did not finish within", "The chain did not "),
     "The app took too long to answer. Try again in a moment."),
    (("The answer was abandoned",),
     "The answer was interrupted: the page was closed or reloaded before it was complete."),
    (("The chain's stream broke off", "The chain streamed"),
     "The app's answer broke off part-way. Try again in a moment."),
    (("The chain answered",), "The app answered with an error. Try again in a moment."),
    (("The answer could not be stored",), "The answer could not be saved. Try again in a moment."),
    (("The app has no", "The app's secret", "Could not load", "Unknown adapter", "The chain could not be started"),
     "The app is not set up to answer yet; its managers can see why."),
)  # fmt: skip
DEFAULT_SUMMARY = "The app could not answer this question. Try again in a moment."


def error_summary(error: str) -> str:
    """A chain error in words for reviewers: what happened and what to do, without its details."""
    text = (error or "").strip()
    for beginnings, summary in _SUMMARIES:
        if text.startswith(beginnings):
            return summary
    if " is not in the model registry" in text or "is not a model URI" in text or "not a model URI" in text:
        return "The app is not set up to answer yet; its managers can see why."
    return DEFAULT_SUMMARY
