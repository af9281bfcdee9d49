import { BlockList, isIP } from 'node:net';
import { MAKINI_SOURCE_IPS } from '../config/config';

/**
 * The optional source allowlist: addresses and CIDR ranges (IPv4 or IPv6), and `makini` for the
 * production addresses Makini documents. Node's `BlockList` does the matching, IPv4-mapped IPv6
 * addresses included. Returns `undefined` when no rule is set (every source is allowed).
 *
 * The address checked must be the one API Gateway saw (`requestContext.http.sourceIp`), never a
 * forwarded header, which the sender writes.
 *
 * @example
 * const allowed = sourceAllowlist(['makini', '203.0.113.0/24']);
 * allowed?.('203.0.113.7'); // true
 */
export function sourceAllowlist(rules: readonly string[]): ((sourceIp: string) => boolean) | undefined {
  if (rules.length === 0) return undefined;
  const list = new BlockList();
  for (const rule of rules.flatMap((r) => (r === 'makini' ? MAKINI_SOURCE_IPS : [r]))) {
    const [address, bits] = rule.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (sourceIp) => {
    const family = isIP(sourceIp);
    return family !== 0 && list.check(sourceIp, family === 6 ? 'ipv6' : 'ipv4');
  };
}
