"""A ChatAgent that calls a tool, reads its result, then answers; it streams the answer in deltas."""

import mlflow
from mlflow.pyfunc import ChatAgent
from mlflow.types.agent import ChatAgentChunk, ChatAgentMessage, ChatAgentResponse

ANSWER = ["The ", "ticket ", "is ", "closed."]


class TicketAgent(ChatAgent):
    def steps(self):
        call = {
            "id": "call_7",
            "type": "function",
            "function": {"name": "ticket_status", "arguments": '{"id": 7}'},
        }
        return [
            ChatAgentMessage(role="assistant", content="", tool_calls=[call], id="m1"),
            ChatAgentMessage(
                role="tool", content="closed", tool_call_id="call_7", name="ticket_status", id="m2"
            ),
        ]

    def predict(self, messages, context=None, custom_inputs=None):
        answer = ChatAgentMessage(role="assistant", content="".join(ANSWER), id="m3")
        return ChatAgentResponse(messages=[*self.steps(), answer])

    def predict_stream(self, messages, context=None, custom_inputs=None):
        for step in self.steps():
            yield ChatAgentChunk(delta=step)
        for word in ANSWER:
            yield ChatAgentChunk(delta=ChatAgentMessage(role="assistant", content=word, id="m3"))


mlflow.models.set_model(TicketAgent())
