import { BlockList, isIP } from 'node:net';

/** Why an address is (or is not) a place webhooks may go. Only `public` is reachable without the allowlist. */
export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link_local'
  | 'unique_local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'reserved';

type Family = 'ipv4' | 'ipv6';
type Ranges = ReadonlyArray<readonly [AddressClass, string, number]>;

// IANA special-purpose registries (RFC 6890 and successors). Documentation,
// benchmarking and other never-routed ranges count as `reserved`: refusing
// them costs nothing and closes odd routes into a network.
const ipv4Ranges: Ranges = [
  ['unspecified', '0.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['cgnat', '100.64.0.0', 10],
  ['loopback', '127.0.0.0', 8],
  ['link_local', '169.254.0.0', 16],
  ['private', '172.16.0.0', 12],
  ['reserved', '192.0.0.0', 24],
  ['reserved', '192.0.2.0', 24],
  ['reserved', '192.88.99.0', 24],
  ['private', '192.168.0.0', 16],
  ['reserved', '198.18.0.0', 15],
  ['reserved', '198.51.100.0', 24],
  ['reserved', '203.0.113.0', 24],
  ['multicast', '224.0.0.0', 4],
  ['reserved', '240.0.0.0', 4],
];
const ipv6Ranges: Ranges = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  // IPv4-compatible (deprecated) and NAT64 addresses embed an IPv4 address a gateway may reach.
  ['reserved', '::', 96],
  ['reserved', '64:ff9b::', 96],
  ['reserved', '64:ff9b:1::', 48],
  ['reserved', '100::', 64],
  ['reserved', '2001:db8::', 32],
  ['unique_local', 'fc00::', 7],
  ['link_local', 'fe80::', 10],
  // Site-local, deprecated by RFC 3879 but still routed inside some networks.
  ['private', 'fec0::', 10],
  ['multicast', 'ff00::', 8],
];

function blockLists(ranges: Ranges, family: Family): ReadonlyArray<readonly [AddressClass, BlockList]> {
  // Most specific first, so `::1` is loopback rather than the `::/96` it sits in.
  return [...ranges]
    .sort((a, b) => b[2] - a[2])
    .map(([cls, net, prefix]) => {
      const list = new BlockList();
      list.addSubnet(net, prefix, family);
      return [cls, list] as const;
    });
}
const ipv4Lists = blockLists(ipv4Ranges, 'ipv4');
const ipv6Lists = blockLists(ipv6Ranges, 'ipv6');

/**
 * An IP address in canonical form, IPv4-mapped IPv6 (`::ffff:127.0.0.1`,
 * `::ffff:7f00:1`) unwrapped to the IPv4 address it reaches; undefined when
 * `address` is not an IP address.
 */
export function normalizeAddress(address: string): { address: string; family: Family } | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const version = isIP(bare);
  if (version === 4) return { address: bare, family: 'ipv4' };
  if (version !== 6) return undefined;
  // The WHATWG URL parser prints IPv6 in its canonical compressed form.
  const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical);
  if (mapped) {
    const hi = parseInt(mapped[1], 16);
    const lo = parseInt(mapped[2], 16);
    return { address: [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.'), family: 'ipv4' };
  }
  return { address: canonical, family: 'ipv6' };
}

/** The class of an IP address; anything that is not an IP address is `reserved` (refused). */
export function classifyAddress(address: string): AddressClass {
  const ip = normalizeAddress(address);
  if (!ip) return 'reserved';
  const lists = ip.family === 'ipv4' ? ipv4Lists : ipv6Lists;
  for (const [cls, list] of lists) if (list.check(ip.address, ip.family)) return cls;
  return 'public';
}

/**
 * The operator's exceptions (WEBHOOK_ALLOWLIST): host names, IP addresses
 * and CIDR ranges that webhooks may reach although they are not public.
 */
export class WebhookAllowlist {
  readonly #hosts = new Set<string>();
  readonly #addresses = new BlockList();

  /** Parses `a.example, 10.0.0.5, 192.168.0.0/16, fd00::/8`; throws on an entry that is none of these. */
  constructor(entries: readonly string[] = []) {
    for (const raw of entries) {
      const entry = raw.trim().toLowerCase();
      if (entry === '') continue;
      const [net, prefix, extra] = entry.split('/');
      const ip = normalizeAddress(net);
      if (ip && extra === undefined) {
        const written = isIP(net.replace(/^\[(.*)\]$/, '$1')) === 4 ? 32 : 128;
        const bits = prefix === undefined ? written : Number(prefix);
        if (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || bits > written)) {
          throw new Error(`webhook allowlist: "${raw}" has a bad prefix length`);
        }
        // A mapped address was unwrapped to IPv4; its IPv6 prefix counted the 96 mapping bits.
        const effective = ip.family === 'ipv4' && written === 128 ? Math.max(0, bits - 96) : bits;
        this.#addresses.addSubnet(ip.address, effective, ip.family);
      } else if (
        prefix === undefined &&
        /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/.test(entry)
      ) {
        this.#hosts.add(entry.replace(/\.$/, ''));
      } else {
        throw new Error(`webhook allowlist: "${raw}" is not a host name, IP address or CIDR range`);
      }
    }
  }

  /** Parses the comma-separated setting. */
  static parse(setting: string | readonly string[] | undefined): WebhookAllowlist {
    const entries = typeof setting === 'string' ? setting.split(',') : (setting ?? []);
    return new WebhookAllowlist(entries);
  }

  allowsHost(host: string): boolean {
    return this.#hosts.has(host.toLowerCase().replace(/\.$/, ''));
  }

  allowsAddress(address: string): boolean {
    const ip = normalizeAddress(address);
    return ip !== undefined && this.#addresses.check(ip.address, ip.family);
  }
}
