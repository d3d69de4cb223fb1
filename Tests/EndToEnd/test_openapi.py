"""openapi/trainyard.yaml documents exactly what the server serves, in the path form."""
import yaml

from conftest import ROOT

SERVED_SAGEMAKER = {"CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob", "ListTrainingJobs",
                    "UpdateTrainingJob", "DeleteTrainingJob", "AddTags", "ListTags", "DeleteTags"}
SERVED_LOGS = {"DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents"}
SERVED_CLOUDWATCH = {"ListMetrics", "GetMetricStatistics", "GetMetricData"}


def test_every_documented_operation_is_served_and_every_served_one_documented(server):
    document = yaml.safe_load((ROOT / "openapi" / "trainyard.yaml").read_text())
    paths = set(document["paths"])
    expected = ({f"/SageMaker.{name}" for name in SERVED_SAGEMAKER} | {f"/Logs_20140328.{name}" for name in SERVED_LOGS}
                | {f"/GraniteServiceVersion20100801.{name}" for name in SERVED_CLOUDWATCH} | {"/health"})
    assert paths == expected
    for path in sorted(paths - {"/health"}):
        assert "post" in document["paths"][path]
        status, headers, body = server.raw(path, body=b"{}", headers={"Content-Type": "application/x-amz-json-1.1"})
        # Served: an answer of the operation itself (maybe a validation error), never "unknown operation".
        assert status < 500, (path, status, body)
        assert (body or {}).get("__type") != "UnknownOperationException", path
    # And an operation that is not documented is not served.
    status, _, body = server.raw("/SageMaker.CreateModel", headers={"Content-Type": "application/x-amz-json-1.1"})
    assert status == 400 and body["__type"] == "UnknownOperationException"
