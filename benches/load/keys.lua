-- wrk script of benches/load/run: every request carries `Authorization: Token <key>`, the keys
-- taken in turn from the file KEYS_FILE (each thread from its own offset), or made up afresh
-- for each request (40 random hexadecimal digits) when UNKNOWN_KEYS=1.
local keys = {}
local next_key = 1
local unknown = os.getenv("UNKNOWN_KEYS") == "1"

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  if not unknown then
    for line in io.lines(os.getenv("KEYS_FILE")) do
      keys[#keys + 1] = line
    end
    next_key = math.random(1, #keys)
  end
end

local function made_up()
  local parts = {}
  for i = 1, 5 do
    parts[i] = string.format("%08x", math.random(0, 0x7fffffff))
  end
  return table.concat(parts)
end

function request()
  local key
  if unknown then
    key = made_up()
  else
    key = keys[next_key]
    next_key = next_key % #keys + 1
  end
  return wrk.format("GET", nil, { ["Authorization"] = "Token " .. key })
end
