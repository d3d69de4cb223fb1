-- GetObject of the BENCH_KEYS seeded 4 KiB objects bench-0 .. bench-(N-1) in bucket BENCH_BUCKET, round robin.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "?.lua"
local common = require("common")
local s3 = require("s3common")
local bucket = os.getenv("BENCH_BUCKET") or "bench"
local keys = tonumber(os.getenv("BENCH_KEYS") or "100")
local counter = 0
local headers = s3.headers()

request = function()
  counter = counter + 1
  return wrk.format("GET", "/" .. bucket .. "/bench-" .. (counter % keys), headers, nil)
end
done = common.done
