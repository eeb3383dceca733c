"""An MLflow ChatModel: a chat completion with usage, and chat-completion chunks when streamed."""

import mlflow
from mlflow.pyfunc import ChatModel
from mlflow.types.llm import (
    ChatChoice,
    ChatChoiceDelta,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatMessage,
    TokenUsageStats,
)

ANSWER = ["Echo: ", "hello ", "there"]


class EchoModel(ChatModel):
    def predict(self, context, messages, params):
        return ChatCompletionResponse(
            choices=[ChatChoice(index=0, message=ChatMessage(role="assistant", content="".join(ANSWER)))],
            usage=TokenUsageStats(prompt_tokens=21, completion_tokens=3, total_tokens=24),
        )

    def predict_stream(self, context, messages, params):
        for word in ANSWER:
            yield ChatCompletionChunk(
                choices=[ChatChunkChoice(delta=ChatChoiceDelta(role="assistant", content=word))]
            )


mlflow.models.set_model(EchoModel())
