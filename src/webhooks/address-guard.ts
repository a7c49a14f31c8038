import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

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

// ipaddr.js (a maintained registry of the IANA special-purpose ranges, RFC
// 6890 and successors) names the range; this maps its names onto our
// classes. Anything special that is not named here (documentation,
// benchmarking, AS112, AMT, ORCHID, Teredo, 6to4, segment routing …) counts as
// `reserved`: refusing it costs nothing and closes odd routes into a network.
const ipv4Classes: Readonly<Record<string, AddressClass>> = {
  unicast: 'public',
  unspecified: 'unspecified',
  private: 'private',
  carrierGradeNat: 'cgnat',
  loopback: 'loopback',
  linkLocal: 'link_local',
  multicast: 'multicast',
};
const ipv6Classes: Readonly<Record<string, AddressClass>> = {
  unicast: 'public',
  unspecified: 'unspecified',
  loopback: 'loopback',
  linkLocal: 'link_local',
  uniqueLocal: 'unique_local',
  // Site-local, deprecated by RFC 3879 but still routed inside some networks.
  deprecatedSiteLocal: 'private',
  multicast: 'multicast',
};

/** Strict parse: dotted-quad IPv4 (no `0x7f.1` shorthands) or IPv6, brackets and zone id dropped. */
function parseIp(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (ipaddr.IPv4.isValidFourPartDecimal(bare)) return ipaddr.IPv4.parse(bare);
  if (ipaddr.IPv6.isValid(bare)) return ipaddr.IPv6.parse(bare);
  return undefined;
}

/**
 * The IPv4 address an IPv6 address reaches as such: IPv4-mapped
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`, RFC 4291) and IPv4-translated
 * (`::ffff:0:7f00:1`, RFC 6145) addresses, which a dual-stack socket or a
 * translator delivers to the embedded IPv4 address.
 */
function embeddedIpv4(ip: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const range = ip.range();
  if (range !== 'ipv4Mapped' && range !== 'rfc6145') return undefined;
  const bytes = ip.toByteArray();
  return new ipaddr.IPv4(bytes.slice(12, 16));
}

/**
 * An IP address in canonical form, IPv4-mapped and IPv4-translated IPv6
 * (`::ffff:127.0.0.1`, `::ffff:7f00:1`, `::ffff:0:7f00:1`) unwrapped to the
 * IPv4 address it reaches; undefined when `address` is not an IP address.
 */
export function normalizeAddress(address: string): { address: string; family: Family } | undefined {
  const ip = parseIp(address);
  if (!ip) return undefined;
  if (ip.kind() === 'ipv4') return { address: ip.toString(), family: 'ipv4' };
  const v4 = embeddedIpv4(ip as ipaddr.IPv6);
  if (v4) return { address: v4.toString(), family: 'ipv4' };
  return { address: ip.toString(), family: 'ipv6' };
}

/** The class of an IP address; anything that is not an IP address is `reserved` (refused). */
export function classifyAddress(address: string): AddressClass {
  const ip = parseIp(address);
  if (!ip) return 'reserved';
  if (ip.kind() === 'ipv4') return ipv4Classes[ip.range()] ?? 'reserved';
  const v6 = ip as ipaddr.IPv6;
  const v4 = embeddedIpv4(v6);
  if (v4) return ipv4Classes[v4.range()] ?? 'reserved';
  const range = v6.range();
  // IPv4-compatible addresses (`::7f00:1`, deprecated by RFC 4291) embed an IPv4 address a
  // gateway may reach; ipaddr.js counts them as unicast.
  if (range === 'unicast' && v6.parts.slice(0, 6).every((part) => part === 0)) return 'reserved';
  return ipv6Classes[range] ?? 'reserved';
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
