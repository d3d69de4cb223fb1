-- ListTrainingJobs with MaxResults 100, optionally with NameContains (env BENCH_NAME_CONTAINS).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
wrk.method = "POST"
wrk.path = "/"
wrk.headers = common.headers("ListTrainingJobs")
local contains = os.getenv("BENCH_NAME_CONTAINS")
if contains and contains ~= "" then
  wrk.body = '{"MaxResults": 100, "NameContains": "' .. contains .. '"}'
else
  wrk.body = '{"MaxResults": 100}'
end
done = common.done
