"""A plain pyfunc chat model that takes LOAD_SECONDS to load, as big models do.

Each load appends a line to the file named by $SLOW_TO_LOAD_LOG (when set), so a test can count
loads; with $SLOW_TO_LOAD_FAIL set, the load fails once its time is up.
"""

import os
import time

import mlflow
from mlflow.pyfunc import PythonModel

LOAD_SECONDS = 1.0


class SlowToLoad(PythonModel):
    def load_context(self, context):
        time.sleep(LOAD_SECONDS)
        if os.environ.get("SLOW_TO_LOAD_LOG"):
            with open(os.environ["SLOW_TO_LOAD_LOG"], "a") as log:
                log.write("loaded\n")
        if os.environ.get("SLOW_TO_LOAD_FAIL"):
            raise RuntimeError("the weights are missing")

    def predict(self, context, model_input, params=None):
        return "ready"


mlflow.models.set_model(SlowToLoad())
