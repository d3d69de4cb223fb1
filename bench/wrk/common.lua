-- Shared by the benchmark scripts: AWS JSON 1.1 headers and a JSON summary printed at the end.
-- moto_server routes requests by the SigV4 credential scope, so every request carries a
-- (never verified) Authorization header naming the sagemaker service.
local M = {}

function M.headers(target)
  return {
    ["Content-Type"] = "application/x-amz-json-1.1",
    ["X-Amz-Target"] = "SageMaker." .. target,
    ["X-Amz-Date"] = "20260101T000000Z",
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request, "
      .. "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0000",
  }
end

-- Prints one JSON line the harness parses: throughput, latency percentiles (ms), errors.
function M.done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "errors": %d, "non2xx": %d}\n',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    errors, summary.errors.status))
end

return M
