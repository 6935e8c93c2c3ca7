-- Run once by the postgres image on an empty data volume, as POSTGRES_USER (the owner of both).
CREATE DATABASE mlflow;
CREATE DATABASE prefect;
