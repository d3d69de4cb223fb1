"""SDK 2.x script mode against Trainyard, unchanged: run with AWS_ENDPOINT_URL, dummy keys and
SAGEMAKER_USER_CONFIG_OVERRIDE (a config file naming the default bucket) in the environment.
argv: image, source dir, data dir. Prints `RESULT <json>` last."""
import io
import json
import sys
import tarfile

import sagemaker
from sagemaker.estimator import Estimator

image, source_dir, data_dir = sys.argv[1:4]
session = sagemaker.Session()
bucket = session.default_bucket()
train_uri = session.upload_data(data_dir, bucket=bucket, key_prefix="sdk2/train")
estimator = Estimator(
    image_uri=image, role="arn:aws:iam::123456789012:role/Trainer", instance_count=1,
    instance_type="ml.m5.large", entry_point="train.py", source_dir=source_dir,
    hyperparameters={"epochs": 3, "lr": 0.05}, sagemaker_session=session, base_job_name="sdk2",
    max_run=600)
estimator.fit({"train": train_uri}, logs=True)
model_data = estimator.model_data
key = model_data[len(f"s3://{bucket}/"):]
body = session.boto_session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
    model = json.loads(archive.extractfile("model.json").read())
job = session.sagemaker_client.describe_training_job(TrainingJobName=estimator.latest_training_job.name)
print("RESULT " + json.dumps({"bucket": bucket, "train_uri": train_uri, "model_data": model_data, "model": model,
                              "status": job["TrainingJobStatus"], "job": job["TrainingJobName"],
                              "hyperparameters": job["HyperParameters"]}))
