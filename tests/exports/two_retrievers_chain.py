"""A RAG chain of someone else's shape, as an MLflow models-from-code file: a keyword and a vector
retriever that share a document, and a reranker over both that keeps duplicates (as a plain
merge-and-sort does). Logged and registered by the test that uses it."""

import mlflow
from mlflow.entities import Document, SpanType
from mlflow.pyfunc import PythonModel

DOCS = {
    "rotate": ("docs://tokens#rotate", "Tokens can be rotated in Settings, under API tokens."),
    "revoke": ("docs://tokens#revoke", "Revoked tokens stop working at once."),
    "expiry": ("docs://tokens#expiry", "Tokens expire after ninety days unless rotated."),
}


def documents(*keys: str) -> list[Document]:
    return [Document(page_content=DOCS[k][1], metadata={"doc_uri": DOCS[k][0]}) for k in keys]


class TwoRetrieversChain(PythonModel):
    @mlflow.trace(name="keyword_search", span_type=SpanType.RETRIEVER)
    def keyword_search(self, query: str) -> list[Document]:
        return documents("rotate", "revoke")

    @mlflow.trace(name="vector_search", span_type=SpanType.RETRIEVER)
    def vector_search(self, query: str) -> list[Document]:
        return documents("rotate", "expiry")

    @mlflow.trace(name="rerank", span_type=SpanType.RERANKER)
    def rerank(self, query: str, found: list[Document]) -> list[Document]:
        order = {"docs://tokens#rotate": 0, "docs://tokens#expiry": 1, "docs://tokens#revoke": 2}
        return sorted(found, key=lambda d: order[d.metadata["doc_uri"]])[:3]

    @mlflow.trace(name="two_retrievers_chain", span_type=SpanType.CHAIN)
    def predict(self, context, model_input, params=None):
        question = model_input["messages"][-1]["content"]
        found = self.rerank(question, self.keyword_search(question) + self.vector_search(question))
        return "From the docs: " + " ".join(d.page_content for d in found)


mlflow.models.set_model(TwoRetrieversChain())
