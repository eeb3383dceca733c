from django import forms

from .disputes import Case

OWN = "own"
RELEVANCE = [("", "Leave unsettled"), ("relevant", "Relevant"), ("not_relevant", "Not relevant")]


class AdjudicationForm(forms.Form):
    """Take one reviewer's feedback, or write the final label; a note either way.

    Shape only: the service (services.adjudicate) says what breaks a rule.
    """

    choice = forms.ChoiceField(widget=forms.RadioSelect, label="Final label")
    rating = forms.ChoiceField(
        choices=[("positive", "👍 Good"), ("negative", "👎 Not good")],
        widget=forms.RadioSelect,
        required=False,
        label="Rating",
    )
    corrected_response = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, strip=False, label="Corrected response"
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Note")

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.case = case
        self.fields["choice"].choices = [(str(r.number), f"{r.label}'s feedback") for r in case.reviews] + [
            (OWN, "My own label")
        ]
        self.passages = case.request.passages()
        for passage in self.passages:
            self.fields[self.passage_field(passage["position"])] = forms.ChoiceField(
                choices=RELEVANCE, required=False, label=f"Passage {passage['position'] + 1}"
            )

    @staticmethod
    def passage_field(position: int) -> str:
        return f"relevant_{position}"

    def passage_fields(self):
        return [(p, self[self.passage_field(p["position"])]) for p in self.passages]

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        if data["choice"] != OWN:
            return {"pick": int(data["choice"]), "note": data["note"]}
        relevant = {
            p["position"]: data[self.passage_field(p["position"])]
            for p in self.passages
            if data.get(self.passage_field(p["position"]))
        }
        return {
            "rating": data["rating"],
            "relevant": relevant,
            "corrected_response": data["corrected_response"],
            "note": data["note"],
        }

    @classmethod
    def initial_for(cls, case: Case) -> dict:
        """The current adjudication as the form shows it, for a change of mind."""
        adjudication = case.adjudication
        if adjudication is None:
            return {}
        chosen = next((r for r in case.reviews if r.reviewer_id == adjudication.chosen_reviewer_id), None)
        initial = {
            "choice": str(chosen.number) if chosen else OWN,
            "rating": adjudication.rating,
            "corrected_response": adjudication.corrected_response,
            "note": adjudication.note,
        }
        for position, relevant in adjudication.relevance().items():
            initial[cls.passage_field(position)] = "relevant" if relevant else "not_relevant"
        return initial
