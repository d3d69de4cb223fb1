-- PutObject of 4 KiB bodies to fresh keys (BENCH_RUN makes them unique per run and thread).
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
local s3 = require("s3common")
local bucket = os.getenv("BENCH_BUCKET") or "bench"
local run = os.getenv("BENCH_RUN") or "run"
local body = string.rep("x", 4096)
local counter = 0
local threads = 0
local headers = s3.headers()
headers["Content-Type"] = "application/octet-stream"

setup = function(thread)
  threads = threads + 1
  thread:set("id", threads)
end

request = function()
  counter = counter + 1
  -- `id` is the global setup() gave this thread's Lua state.
  return wrk.format("PUT", "/" .. bucket .. "/put-" .. run .. "-" .. tostring(id or 0) .. "-" .. counter, headers, body)
end
done = common.done
