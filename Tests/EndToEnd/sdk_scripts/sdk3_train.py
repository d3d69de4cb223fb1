"""SDK 3.x ModelTrainer with SourceCode against Trainyard, unchanged (role validation on): run with
AWS_ENDPOINT_URL, dummy keys and SAGEMAKER_USER_CONFIG_OVERRIDE (the default bucket) in the
environment. argv: image, source dir, data dir. Prints `RESULT <json>` last."""
import io
import json
import logging
import sys
import tarfile

import boto3
from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, SourceCode, StoppingCondition

# SDK 3.x prints the container's log lines through the `logging` module (rich output is opt-in).
logging.basicConfig(level=logging.INFO, format="%(message)s")
image, source_dir, data_dir = sys.argv[1:4]
session = Session()
bucket = session.default_bucket()
train_uri = session.upload_data(data_dir, bucket=bucket, key_prefix="sdk3/train")
trainer = ModelTrainer(
    training_image=image, role="arn:aws:iam::123456789012:role/Trainer",
    source_code=SourceCode(source_dir=source_dir, entry_script="train.py"),
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    stopping_condition=StoppingCondition(max_runtime_in_seconds=600),
    hyperparameters={"epochs": 2, "lr": 0.02}, base_job_name="sdk3", sagemaker_session=session)
trainer.train(input_data_config=[InputData(channel_name="train", data_source=train_uri)], logs=True)
job = trainer._latest_training_job
model_data = job.model_artifacts.s3_model_artifacts
key = model_data[len(f"s3://{bucket}/"):]
body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
    model = json.loads(archive.extractfile("model.json").read())
print("RESULT " + json.dumps({"bucket": bucket, "model_data": model_data, "model": model,
                              "status": job.training_job_status, "job": job.training_job_name}))
