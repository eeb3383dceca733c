"""A ResponsesAgent that looks the weather up with a tool, then answers in streamed deltas.

The last user message steers it: "fail" raises before any text, "fail midway" after two deltas,
"slow" pauses a second between deltas,
"slow to start" pauses SLOW_START seconds before its first. Between its first and second delta it waits GAP seconds, so a
caller can tell deltas that arrive as they are made from deltas handed over at the end.
"""

import time

import mlflow
from mlflow.entities import Document, SpanType
from mlflow.pyfunc import ResponsesAgent
from mlflow.types.responses import ResponsesAgentResponse, ResponsesAgentStreamEvent

GAP = 0.4
SLOW_START = 1.5
WORDS = ["It ", "is ", "sunny ", "in ", "Lisbon."]
USAGE = {
    "input_tokens": 11,
    "output_tokens": 5,
    "total_tokens": 16,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens_details": {"reasoning_tokens": 0},
}


class WeatherAgent(ResponsesAgent):
    @mlflow.trace(name="forecast", span_type=SpanType.TOOL)
    def forecast(self, city: str) -> str:
        return f"{city}: sunny, 24 C"

    @mlflow.trace(name="search_notes", span_type=SpanType.RETRIEVER)
    def search(self, query: str) -> list[Document]:
        return [Document(page_content="Lisbon is sunny in summer.", metadata={"doc_uri": "notes://lisbon"})]

    def steps(self, request):
        question = request.input[-1].content
        if question == "fail":
            raise RuntimeError("the weather service is down")
        self.search(question)
        call = self.create_function_call_item("fc_1", "call_1", "forecast", '{"city": "Lisbon"}')
        yield ResponsesAgentStreamEvent(type="response.output_item.done", item=call)
        result = self.create_function_call_output_item("call_1", self.forecast("Lisbon"))
        yield ResponsesAgentStreamEvent(type="response.output_item.done", item=result)
        for n, word in enumerate(WORDS):
            if question == "slow to start" and n == 0:
                time.sleep(SLOW_START)
            if n == 1:
                time.sleep(GAP)
            if question == "slow" and n:
                time.sleep(1)
            if question == "fail midway" and n == 2:
                raise RuntimeError("the connection to the model dropped")
            yield ResponsesAgentStreamEvent(**self.create_text_delta(word, "msg_1"))
        answer = self.create_text_output_item("".join(WORDS), "msg_1")
        yield ResponsesAgentStreamEvent(type="response.output_item.done", item=answer)

    def predict(self, request):
        items = [e.item for e in self.steps(request) if e.type == "response.output_item.done"]
        return ResponsesAgentResponse(output=items, usage=USAGE)

    def predict_stream(self, request):
        items = []
        for event in self.steps(request):
            if event.type == "response.output_item.done":
                items.append(event.item)
            yield event
        # The stream's last event reports the usage, as the Responses API does.
        completed = ResponsesAgentResponse(output=items, usage=USAGE).model_dump(exclude_none=True)
        yield ResponsesAgentStreamEvent(type="response.completed", response=completed)


mlflow.models.set_model(WeatherAgent())
