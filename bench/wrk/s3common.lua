-- S3 requests for bench/s3.py: a (never verified) SigV4 header naming the s3 service, which is how
-- moto_server and Trainyard both route S3 requests; Trainyard runs with --auth none here.
local M = {}

function M.headers()
  return {
    ["X-Amz-Date"] = "20260101T000000Z",
    ["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD",
    ["Authorization"] = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
      .. "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0000",
  }
end

return M
