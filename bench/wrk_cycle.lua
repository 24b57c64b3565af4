-- wrk script of bench/wrk.py: each wrk thread sends its own pre-signed, distinct requests
-- (requests-<thread>.bin in the folder given after `--`), in order, never one twice unless
-- it runs out (counted in `wrapped`, which bench/wrk.py reports).
--
-- With BENCH_WRK_RATE set (requests per second, all threads together), each thread keeps
-- a fixed schedule through delay(): the n-th request of a thread is due at
-- start + n * interval whatever the answers took, so slow answers do not slow the offered
-- rate (wrk's own latencies are then service times, measured from the write). A request
-- that found no free connection at its due time is counted in `late`.
-- Debian has no wrk2; this is the schedule wrk2 keeps, with LuaJIT's ffi for the clock.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("bench_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

-- Globals, read back by done() through thread:get().
wrapped = 0
late = 0

local threads = {}
local next_id = 0
local rate = tonumber(os.getenv("BENCH_WRK_RATE") or "0")
local thread_count = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local pool = {}
local index = 0
local interval = nil
local due = nil

function init(args)
  local file = assert(io.open(args[1] .. "/requests-" .. id .. ".bin", "rb"))
  while true do
    local size = file:read("*l")
    if size == nil then break end
    pool[#pool + 1] = file:read(tonumber(size))
  end
  file:close()
  if rate > 0 then interval = 1000 * thread_count / rate end
end

function request()
  index = index + 1
  if index > #pool then
    index = 1
    wrapped = wrapped + 1
  end
  return pool[index]
end

if rate > 0 then
  -- wrk asks before each request on a free connection; delay() claims the next slot.
  function delay()
    local now = now_ms()
    if due == nil then due = now end
    local wait = due - now
    due = due + interval
    if wait < -5 then late = late + 1 end
    if wait < 0 then return 0 end
    return wait
  end
end

function done(summary, latency, requests)
  local reused, behind = 0, 0
  for _, thread in ipairs(threads) do
    reused = reused + thread:get("wrapped")
    behind = behind + thread:get("late")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "mean_us": %.1f, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"status_errors": %d, "timeouts": %d, "wrapped": %d, "late": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status,
    e.timeout, reused, behind))
end
