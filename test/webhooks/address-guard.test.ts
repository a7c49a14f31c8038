import { classifyAddress, WebhookAllowlist, type AddressClass } from '../../src/webhooks';

describe('classifyAddress', () => {
  it.each<[string, AddressClass]>([
    // IPv4
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.15.255.255', 'public'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.0', 'public'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['100.128.0.0', 'public'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    // IPv6
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link_local'],
    ['fe80::1%eth0', 'link_local'],
    ['febf::1', 'link_local'],
    ['fc00::1', 'unique_local'],
    ['fd12:3456::1', 'unique_local'],
    ['ff02::1', 'multicast'],
    ['fec0::1', 'private'],
    ['2001:db8::1', 'reserved'],
    ['64:ff9b::7f00:1', 'reserved'],
    ['::7f00:1', 'reserved'],
    // IPv4-mapped IPv6 takes the class of the IPv4 address it reaches
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::FFFF:10.1.2.3', 'private'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'link_local'],
    ['::ffff:8.8.8.8', 'public'],
    // IPv4-translated IPv6 (RFC 6145) reaches its IPv4 address too (issue 17)
    ['::ffff:0:7f00:1', 'loopback'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::ffff:0:a00:1', 'private'],
    // ranges that embed or tunnel to other addresses, and never-routed ones
    ['2002:7f00:1::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['100::1', 'reserved'],
    ['192.88.99.1', 'reserved'],
    ['0x7f.1', 'reserved'],
    // not addresses
    ['example.com', 'reserved'],
    ['', 'reserved'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe('WebhookAllowlist', () => {
  const list = WebhookAllowlist.parse(' hooks.internal , 10.1.2.3,192.168.0.0/16, fd00::/8,HOST.Example. ');

  it('matches host names exactly, case and trailing dot aside', () => {
    expect(list.allowsHost('hooks.internal')).toBe(true);
    expect(list.allowsHost('HOOKS.internal.')).toBe(true);
    expect(list.allowsHost('host.example')).toBe(true);
    expect(list.allowsHost('evil.hooks.internal')).toBe(false);
  });

  it('matches addresses and CIDR ranges, IPv4-mapped IPv6 included', () => {
    expect(list.allowsAddress('10.1.2.3')).toBe(true);
    expect(list.allowsAddress('10.1.2.4')).toBe(false);
    expect(list.allowsAddress('192.168.44.1')).toBe(true);
    expect(list.allowsAddress('::ffff:192.168.44.1')).toBe(true);
    expect(list.allowsAddress('fd00::5')).toBe(true);
    expect(list.allowsAddress('fe80::5')).toBe(false);
    expect(list.allowsAddress('127.0.0.1')).toBe(false);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', '10.0.0.0/x', 'a b', 'host/8', 'http://x'])(
    'refuses the entry %s',
    (entry) => {
      expect(() => WebhookAllowlist.parse(entry)).toThrow(/webhook allowlist/);
    },
  );
});
