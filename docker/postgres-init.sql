-- The MLflow tracking server keeps its runs, models and traces in their own database.
CREATE DATABASE mlflow OWNER reviewapp;
