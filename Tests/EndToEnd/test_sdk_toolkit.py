"""The SageMaker Python SDK, unchanged, against Trainyard (issue 11 item 7): SDK 2.x script mode
(`upload_data` + `Estimator(entry_point, source_dir, image_uri=<toolkit image>).fit(logs=True)`)
and SDK 3.x (`ModelTrainer(source_code=SourceCode(...)).train(logs=True)`, role validation on),
each reading `model_data` back over S3. The clients get only what the README's recipe gives them:
AWS_ENDPOINT_URL, dummy keys, and an SDK config file naming the default bucket (both SDKs ask STS at
a fixed AWS address for the default bucket's name, which no endpoint variable redirects).

Each SDK runs in its own process (SDK 3.x in its own venv: both are the package `sagemaker`);
the scripts are in sdk_scripts/. The training container downloads the code the SDK uploaded
through its S3 gateway, with its job's own keys.
"""
import json
import os
import pathlib
import subprocess

from toolkit_support import toolkit_image  # noqa: F401 (a fixture)

SCRIPTS = pathlib.Path(__file__).resolve().parent / "sdk_scripts"
SDK3_PYTHON = pathlib.Path(os.environ.get("TRAINYARD_SDK3_VENV", pathlib.Path.home() / ".cache/trainyard/venv-sdk3")) \
    / "bin" / "python"

CONFIG = """\
SchemaVersion: '1.0'
SageMaker:
  PythonSDK:
    Modules:
      Session:
        DefaultS3Bucket: sdk-bucket
      TelemetryOptOut: true
"""


def run_sdk(python, script, server, tmp_path, image):
    source = tmp_path / "src"
    source.mkdir()
    (source / "train.py").write_text((SCRIPTS / "train.py").read_text())
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("1,2\n3,4\n5,6\n")
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text(CONFIG)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "SAGEMAKER_"))}
    env.update({"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config), "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
                "HOME": str(tmp_path)})
    run = subprocess.run([str(python), str(SCRIPTS / script), image, str(source), str(data)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    transcript = run.stdout + run.stderr
    (tmp_path / "transcript.txt").write_text(transcript)
    assert run.returncode == 0, transcript[-6000:]
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])
    return result, transcript


def test_sdk2_script_mode(docker_server, docker_jobs, tmp_path, toolkit_image):
    result, transcript = run_sdk("python3", "sdk2_fit.py", docker_server, tmp_path, toolkit_image)
    docker_jobs.names.append(result["job"])
    assert result["status"] == "Completed"
    assert result["model"] == {"epochs": 3, "lr": 0.05, "rows": 3, "host": "algo-1"}
    assert result["model_data"] == f"s3://sdk-bucket/{result['job']}/output/model.tar.gz"
    # Script mode: the SDK uploaded sourcedir.tar.gz, the toolkit fetched it inside the container.
    assert result["hyperparameters"]["sagemaker_submit_directory"] == \
        f"\"s3://sdk-bucket/{result['job']}/source/sourcedir.tar.gz\""
    # fit(logs=True) printed the container's lines, read over CloudWatch Logs.
    assert "epoch=3 loss=" in transcript and "training done" in transcript
    assert "Completed - Training job completed" in transcript


def test_sdk3_model_trainer_source_code(docker_server, docker_jobs, tmp_path, toolkit_image):
    result, transcript = run_sdk(SDK3_PYTHON, "sdk3_train.py", docker_server, tmp_path, toolkit_image)
    docker_jobs.names.append(result["job"])
    assert result["status"] == "Completed"
    assert result["model"] == {"epochs": 2, "lr": 0.02, "rows": 3, "host": "algo-1"}
    assert result["model_data"].startswith("s3://sdk-bucket/") and result["model_data"].endswith("/output/model.tar.gz")
    # train(logs=True) printed the container's lines (SDK 3.x's driver, then the entry point).
    assert "epoch=2 loss=" in transcript and "training done" in transcript
    # Role validation went through IAM on Trainyard (SimulatePrincipalPolicy), not to AWS.
    assert "Found endpoint for iam via: environment_global" in transcript
