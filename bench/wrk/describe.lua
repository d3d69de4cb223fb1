-- DescribeTrainingJob of one existing job (name in env BENCH_JOB).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
wrk.method = "POST"
wrk.path = "/"
wrk.headers = common.headers("DescribeTrainingJob")
wrk.body = '{"TrainingJobName": "' .. (os.getenv("BENCH_JOB") or "bench-seed-0") .. '"}'
done = common.done
