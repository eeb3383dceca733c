# Models for evaluation sets and judge few-shot examples live here (issue 6).
