-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d), as
-- POSTGRES_USER. MLflow keeps its tracking store in a database of its own so that its Alembic
-- migrations and the Django migrations never touch each other's tables.
CREATE DATABASE mlflow;
