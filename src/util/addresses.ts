import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * IP addresses and host names: which are loopback (the dev sign-in, `/metrics` without a token)
 * and which a webhook may reach. Range tables come from ipaddr.js (the library Fastify uses for
 * `trustProxy`), not from hand-written parsing.
 */

/** Host names that always mean this machine (RFC 6761: `localhost` and names below it). */
export function isLocalhostName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/** An IP address without URL brackets or an IPv6 zone (`[fe80::1%eth0]` → `fe80::1`). */
function bare(address: string): string {
  return address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
}

/** The address as IPv4 when it is an IPv4-mapped IPv6 one (`::ffff:127.0.0.1`). */
function unmapped(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const text = bare(address);
  if (isIP(text) === 0) return null;
  const parsed = ipaddr.parse(text);
  return parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
    ? (parsed as ipaddr.IPv6).toIPv4Address()
    : parsed;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms; false for anything that is not an IP address. */
export function isLoopbackAddress(address: string): boolean {
  return unmapped(address)?.range() === 'loopback';
}

/**
 * A host to listen on that only this machine can reach: a loopback address or `localhost`.
 * `0.0.0.0`, `::`, an interface's address or any other name is not.
 */
export function isLoopbackHost(host: string): boolean {
  return isLocalhostName(host) || isLoopbackAddress(host);
}

/**
 * Why an address is not a public one a webhook may reach, or null when it is: the ipaddr.js
 * range (`loopback`, `private`, `linkLocal`, `uniqueLocal`, `carrierGradeNat`, `multicast`,
 * `unspecified`, `reserved`…), IPv4-mapped IPv6 judged as its IPv4 address. IPv6 outside global
 * unicast (2000::/3) is refused too: the IPv4-compatible `::a.b.c.d`, NAT64 and 6to4 forms can
 * carry an internal IPv4 address.
 *
 * @throws Error when `address` is not an IP address.
 */
export function nonPublicRange(address: string): string | null {
  const ip = unmapped(address);
  if (!ip) throw new Error(`${address} is not an IP address`);
  const range = ip.range();
  if (range !== 'unicast') return range;
  if (ip.kind() === 'ipv6' && !ip.match(GLOBAL_UNICAST)) return 'reserved';
  return null;
}

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');

/**
 * Internal targets an operator allows webhooks to reach despite the guard: IP ranges (CIDR, or
 * one address) that resolved addresses may fall in, and host names trusted whatever they
 * resolve to.
 */
export interface AllowList {
  ranges: readonly [ipaddr.IPv4 | ipaddr.IPv6, number][];
  hosts: ReadonlySet<string>;
}

/** A host name as URLs spell it: letters, digits, hyphens and dots. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses an allow-list: entries separated by commas or spaces, each a CIDR (`10.0.0.0/8`,
 * `fd00::/8`), one IP address (`127.0.0.1`, `::1`) or a host name (`hooks.internal`).
 *
 * @returns the list, or the problem with its first bad entry.
 */
export function parseAllowList(
  entries: readonly string[],
): { list: AllowList; problem?: undefined } | { problem: string } {
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  const hosts = new Set<string>();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    const [address = '', bits] = entry.split('/');
    if (bits !== undefined && isIP(address) !== 0) {
      if (!/^\d{1,3}$/.test(bits) || !ipaddr.isValidCIDR(entry))
        return { problem: `"${raw}" is not a CIDR range such as 10.0.0.0/8 or fd00::/8` };
      ranges.push(ipaddr.parseCIDR(entry));
    } else if (isIP(bare(entry)) !== 0) {
      const ip = ipaddr.parse(bare(entry));
      ranges.push([ip, ip.kind() === 'ipv4' ? 32 : 128]);
    } else if (HOST_NAME.test(entry.replace(/\.$/, ''))) {
      hosts.add(entry.replace(/\.$/, ''));
    } else {
      return { problem: `"${raw}" is neither an IP address, a CIDR range nor a host name` };
    }
  }
  return { list: { ranges, hosts } };
}

/** Splits a comma- or space-separated setting into its entries. */
export function splitList(text: string): string[] {
  return text.split(/[\s,]+/).filter((entry) => entry !== '');
}

/** The host name is on the allow-list by name (case and a trailing dot ignored). */
export function allowsHost(list: AllowList, host: string): boolean {
  return list.hosts.has(host.toLowerCase().replace(/\.$/, ''));
}

/** The address falls in one of the allow-list's ranges (IPv4-mapped IPv6 as its IPv4 form). */
export function allowsAddress(list: AllowList, address: string): boolean {
  const ip = unmapped(address);
  if (!ip) return false;
  return list.ranges.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits));
}
