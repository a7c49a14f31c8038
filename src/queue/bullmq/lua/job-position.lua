-- See positionOf. KEYS: wait, prioritized, delayed. ARGV: id.
return positionOf(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
