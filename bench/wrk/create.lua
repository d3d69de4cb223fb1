-- CreateTrainingJob with a unique name per request (env BENCH_RUN makes names unique per run).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local counter = 0
local headers = common.headers("CreateTrainingJob")

function request()
  counter = counter + 1
  local name = string.format("c%s-%d-%d", run, tid or 0, counter)
  local body = '{"TrainingJobName": "' .. name .. '", "RoleArn": "arn:aws:iam::123456789012:role/Bench",'
    .. ' "AlgorithmSpecification": {"TrainingImage": "bench:latest", "TrainingInputMode": "File"},'
    .. ' "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},'
    .. ' "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},'
    .. ' "StoppingCondition": {"MaxRuntimeInSeconds": 3600}}'
  return wrk.format("POST", "/", headers, body)
end

done = common.done
