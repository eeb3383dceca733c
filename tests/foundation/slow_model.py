"""A pyfunc chain that takes SLOW_MODEL_SECONDS (default 3) to load and answers at once (models-from-code)."""

import os
import time

import mlflow
from mlflow.pyfunc import PythonModel


class SlowToLoad(PythonModel):
    def load_context(self, context):
        time.sleep(float(os.environ.get("SLOW_MODEL_SECONDS", "3")))

    def predict(self, context, model_input, params=None):
        return "Loaded once, answered at once."


mlflow.models.set_model(SlowToLoad())
